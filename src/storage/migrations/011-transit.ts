import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * Transit engine: named keys and their versions. Key material is only ever stored as barrier
 * ciphertext (`sealed_material`), bound by AAD to the key's id, name and version. Public keys
 * of signing keys are public and kept in the clear for `read`.
 */
export function transit(dialect: Dialect) {
  const blob = dialect === 'postgres' ? 'bytea' : 'blob';
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.createTable('transit_keys')
        .addColumn('name', 'text', (c) => c.primaryKey())
        // Random per creation: a key deleted and created again under the same name never accepts the old rows.
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('derived', 'integer', (c) => c.notNull())
        .addColumn('exportable', 'integer', (c) => c.notNull())
        .addColumn('deletion_allowed', 'integer', (c) => c.notNull())
        .addColumn('latest_version', 'integer', (c) => c.notNull())
        .addColumn('min_decryption_version', 'integer', (c) => c.notNull())
        .addColumn('min_encryption_version', 'integer', (c) => c.notNull())
        .addColumn('min_available_version', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createTable('transit_key_versions')
        .addColumn('key_name', 'text', (c) => c.notNull().references('transit_keys.name').onDelete('cascade'))
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('sealed_material', sql.raw(blob), (c) => c.notNull())
        .addColumn('public_key', 'text')
        // Encryptions reserved so far under this version (in blocks), against the nonce usage bound.
        .addColumn('encryptions_reserved', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('transit_key_versions_pk', ['key_name', 'version'])
        .execute();
    },
  };
}

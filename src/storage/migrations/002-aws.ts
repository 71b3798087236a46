import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/** AWS-compatible API: SigV4 access keys bound to an identity (policies + env binding). */
export function aws(dialect: Dialect) {
  const blob = dialect === 'postgres' ? 'bytea' : 'blob';
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.createTable('aws_access_keys')
        .addColumn('access_key_id', 'text', (c) => c.primaryKey())
        // The secret access key, sealed by the barrier (SigV4 needs the key itself to recompute signatures).
        .addColumn('secret_ciphertext', sql.raw(blob), (c) => c.notNull())
        .addColumn('display_name', 'text', (c) => c.notNull())
        .addColumn('policies', 'text', (c) => c.notNull())
        .addColumn('env', 'text')
        .addColumn('is_root', 'integer', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .execute();
      await db.schema.createIndex('secrets_by_name').on('secrets').columns(['name', 'primary_region']).execute();
    },
  };
}

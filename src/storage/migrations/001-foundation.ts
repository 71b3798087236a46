import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/** Foundation schema: keyring, secrets with versions and labels, tokens, policies, audit chain. */
export function foundation(dialect: Dialect) {
  const blob = dialect === 'postgres' ? 'bytea' : 'blob';
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.createTable('system_state')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createTable('keyring')
        .addColumn('key_id', 'text', (c) => c.primaryKey())
        .addColumn('purpose', 'text', (c) => c.notNull())
        .addColumn('term', 'integer', (c) => c.notNull())
        .addColumn('sealed_key', sql.raw(blob), (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createTable('secrets')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('arn_suffix', 'text', (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('owner', 'text')
        .addColumn('kms_key_id', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('last_accessed_at', 'bigint')
        .addColumn('last_rotated_at', 'bigint')
        .addColumn('deleted_at', 'bigint')
        .addColumn('delete_after', 'bigint')
        .addColumn('rotation', 'text')
        .addColumn('primary_region', 'text')
        .addUniqueConstraint('secrets_region_name_unique', ['region', 'name'])
        .execute();
      await db.schema.createTable('secret_tags')
        .addColumn('secret_id', 'text', (c) => c.notNull().references('secrets.id').onDelete('cascade'))
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('secret_tags_pk', ['secret_id', 'key'])
        .execute();
      await db.schema.createTable('secret_versions')
        .addColumn('secret_id', 'text', (c) => c.notNull().references('secrets.id').onDelete('cascade'))
        .addColumn('version_id', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('value_kind', 'text', (c) => c.notNull())
        .addColumn('key_term', 'integer', (c) => c.notNull())
        .addColumn('wrapped_key', sql.raw(blob), (c) => c.notNull())
        .addColumn('ciphertext', sql.raw(blob), (c) => c.notNull())
        .addColumn('last_accessed_at', 'bigint')
        .addPrimaryKeyConstraint('secret_versions_pk', ['secret_id', 'version_id'])
        .execute();
      await db.schema.createIndex('secret_versions_by_age').on('secret_versions').columns(['secret_id', 'created_at']).execute();
      await db.schema.createTable('version_labels')
        .addColumn('secret_id', 'text', (c) => c.notNull().references('secrets.id').onDelete('cascade'))
        .addColumn('label', 'text', (c) => c.notNull())
        .addColumn('version_id', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('version_labels_pk', ['secret_id', 'label'])
        .execute();
      await db.schema.createIndex('version_labels_by_version').on('version_labels').columns(['secret_id', 'version_id']).execute();
      await db.schema.createTable('policies')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('document', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createTable('tokens')
        .addColumn('accessor', 'text', (c) => c.primaryKey())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('parent_accessor', 'text')
        .addColumn('display_name', 'text', (c) => c.notNull())
        .addColumn('policies', 'text', (c) => c.notNull())
        .addColumn('env', 'text')
        .addColumn('is_root', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('ttl_seconds', 'bigint')
        .addColumn('expires_at', 'bigint')
        .addColumn('max_expires_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .execute();
      await db.schema.createIndex('tokens_by_parent').on('tokens').column('parent_accessor').execute();
      await db.schema.createTable('audit_events')
        .addColumn('seq', 'bigint', (c) => c.primaryKey())
        .addColumn('time', 'bigint', (c) => c.notNull())
        .addColumn('request_id', 'text', (c) => c.notNull())
        .addColumn('accessor', 'text')
        .addColumn('source', 'text')
        .addColumn('operation', 'text', (c) => c.notNull())
        .addColumn('secret_name', 'text')
        .addColumn('version_id', 'text')
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('error_code', 'text')
        .addColumn('status', 'integer', (c) => c.notNull())
        .addColumn('latency_us', 'bigint', (c) => c.notNull())
        .addColumn('detail', 'text')
        .addColumn('prev_hash', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('audit_by_time').on('audit_events').column('time').execute();
      await db.schema.createIndex('audit_by_secret').on('audit_events').columns(['secret_name', 'seq']).execute();
      await db.schema.createIndex('audit_by_accessor').on('audit_events').columns(['accessor', 'seq']).execute();
      await db.schema.createTable('audit_anchor')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('seq', 'bigint', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('pruned_before', 'bigint', (c) => c.notNull())
        .execute();
    },
  };
}

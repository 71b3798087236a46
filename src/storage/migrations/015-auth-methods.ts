import type { Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * Auth methods mounted by name (AppRole, JWT/OIDC), their roles, AppRole secret ids (only as a
 * keyed hash), and on tokens: which mount and role issued them and the CIDRs they may be used from.
 */
export function authMethods(_dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.createTable('auth_mounts')
        .addColumn('path', 'text', (c) => c.primaryKey())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('config', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createTable('auth_roles')
        .addColumn('mount', 'text', (c) => c.notNull().references('auth_mounts.path').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        // AppRole: the stable, non-secret half of the credential; null for other methods.
        .addColumn('role_id', 'text', (c) => c.unique())
        .addColumn('config', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('auth_roles_pk', ['mount', 'name'])
        .execute();
      await db.schema.createTable('approle_secret_ids')
        .addColumn('accessor', 'text', (c) => c.primaryKey())
        .addColumn('mount', 'text', (c) => c.notNull())
        .addColumn('role_name', 'text', (c) => c.notNull())
        // HMAC of the secret id under the barrier's token key; the secret id itself is never stored.
        .addColumn('secret_hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint')
        // Null: unlimited. Decremented in the login's transaction.
        .addColumn('uses_remaining', 'integer')
        .addColumn('cidrs', 'text')
        .addColumn('revoked_at', 'bigint')
        .addForeignKeyConstraint('approle_secret_ids_role', ['mount', 'role_name'], 'auth_roles', ['mount', 'name'], (fk) => fk.onDelete('cascade'))
        .execute();
      await db.schema.createIndex('approle_secret_ids_by_role').on('approle_secret_ids').columns(['mount', 'role_name']).execute();
      await db.schema.alterTable('tokens').addColumn('auth_mount', 'text').execute();
      await db.schema.alterTable('tokens').addColumn('auth_role', 'text').execute();
      await db.schema.alterTable('tokens').addColumn('bound_cidrs', 'text').execute();
      await db.schema.createIndex('tokens_by_auth_mount').on('tokens').column('auth_mount').execute();
    },
  };
}

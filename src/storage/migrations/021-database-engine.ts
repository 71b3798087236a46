import type { Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * Database secrets engine: connections (the admin credential stays in a Custos secret, named
 * here, never copied) and roles (statement templates, TTLs, environment binding).
 */
export function databaseEngine(_dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.createTable('database_connections')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('plugin', 'text', (c) => c.notNull())
        .addColumn('admin_secret', 'text', (c) => c.notNull())
        .addColumn('allowed_roles', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('root_rotated_at', 'bigint')
        // The `command` plugin's program: JSON {path, args, timeout_seconds}.
        .addColumn('command', 'text')
        .execute();
      await db.schema.createTable('database_roles')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('connection', 'text', (c) => c.notNull())
        .addColumn('env', 'text')
        // JSON arrays of statement templates; empty means the plugin's default.
        .addColumn('creation_statements', 'text', (c) => c.notNull())
        .addColumn('revocation_statements', 'text', (c) => c.notNull())
        .addColumn('renew_statements', 'text', (c) => c.notNull())
        .addColumn('rollback_statements', 'text', (c) => c.notNull())
        .addColumn('username_template', 'text')
        .addColumn('password_length', 'integer', (c) => c.notNull())
        .addColumn('default_ttl', 'integer', (c) => c.notNull())
        .addColumn('max_ttl', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  };
}

import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * userpass lockout counters, response wrapping (a credential handed over once, behind a single-use token; the payload
 * sealed by the barrier and dropped when opened) and groups (named sets of policies whose
 * members are auth roles or token accessors).
 */
export function wrappingGroups(dialect: Dialect) {
  const blob = dialect === 'postgres' ? 'bytea' : 'blob';
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.createTable('wrapped_responses')
        .addColumn('accessor', 'text', (c) => c.primaryKey())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('creation_path', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        // Null once unwrapped or expired: nothing of the credential outlives its one opening.
        .addColumn('ciphertext', sql.raw(blob))
        .addColumn('unwrapped_at', 'bigint')
        .execute();
      await db.schema.createTable('identity_groups')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('policies', 'text', (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createTable('identity_group_members')
        .addColumn('group_name', 'text', (c) => c.notNull().references('identity_groups.name').onDelete('cascade'))
        // 'role' (value `<mount>/<role>`: every token that role's logins issue), 'accessor' (one token) or 'aws_key' (an access key id).
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('added_by', 'text', (c) => c.notNull())
        .addColumn('added_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('identity_group_members_pk', ['group_name', 'kind', 'value'])
        .execute();
      // userpass lockout: consecutive failures per user, and until when the user is locked out.
      await db.schema.createTable('auth_login_failures')
        .addColumn('mount', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('failures', 'integer', (c) => c.notNull())
        .addColumn('locked_until', 'bigint')
        .addColumn('last_failure_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('auth_login_failures_pk', ['mount', 'name'])
        .execute();
      await db.schema.createIndex('identity_group_members_by_value').on('identity_group_members').columns(['kind', 'value']).execute();
    },
  };
}

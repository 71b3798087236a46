import type { Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * `tokens.owns_parent`: 1 on a web UI session token whose parent is a login token issued for
 * that session alone (userpass, OIDC), so ending the session revokes the login too. Null for
 * every other token: a token typed at the login form belongs to its owner and outlives the session.
 */
export function sessionOwnedLogins(_dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('tokens').addColumn('owns_parent', 'integer').execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('tokens').dropColumn('owns_parent').execute();
    },
  };
}

import type { Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * OIDC authorization-code logins in flight: one row per `state` handed to a browser, keyed by
 * its hash, spent (deleted) by the callback that presents it. Nothing secret is stored: the
 * PKCE verifier and the nonce are derived from the state with the barrier's token key.
 */
export function oidcStates(_dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.createTable('oidc_states')
        .addColumn('state_hash', 'text', (c) => c.primaryKey())
        .addColumn('mount', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('redirect_uri', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('oidc_states_expires').on('oidc_states').column('expires_at').execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      await db.schema.dropTable('oidc_states').execute();
    },
  };
}

import type { Insertable, Selectable } from 'kysely';
import type { Database, Queryable } from './schema.js';

export type OidcStateRow = Selectable<Database['oidc_states']>;

/** OIDC login states: written when a login starts, spent exactly once by its callback. */
export function createOidcStateStore() {
  return {
    async insert(q: Queryable, row: Insertable<Database['oidc_states']>): Promise<void> {
      await q.insertInto('oidc_states').values(row).execute();
    },
    /** Deletes and returns the state in one statement, so two callbacks racing with it cannot both spend it. */
    async spend(q: Queryable, stateHash: string): Promise<OidcStateRow | undefined> {
      return q.deleteFrom('oidc_states').where('state_hash', '=', stateHash).returningAll().executeTakeFirst();
    },
    async deleteExpired(q: Queryable, now: number): Promise<number> {
      const result = await q.deleteFrom('oidc_states').where('expires_at', '<=', now).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}

export type OidcStateStore = ReturnType<typeof createOidcStateStore>;

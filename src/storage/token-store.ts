import type { Insertable, Selectable } from 'kysely';
import type { Database, Queryable } from './schema.js';
import { preparedQuery } from './prepared.js';

export type TokenRow = Selectable<Database['tokens']>;

const TOKEN_COLUMNS = ['accessor', 'token_hash', 'parent_accessor', 'display_name', 'policies', 'env', 'is_root', 'created_at', 'ttl_seconds',
  'expires_at', 'max_expires_at', 'revoked_at', 'auth_mount', 'auth_role', 'bound_cidrs', 'owns_parent'] as const satisfies readonly (keyof Database['tokens'])[];

export function createTokenStore() {
  const byHash = preparedQuery<TokenRow, { hash: string }>((q, p) => q.selectFrom('tokens').selectAll().where('token_hash', '=', p('hash')));
  // Every login and token creation inserts one row: compiled once (unset optional columns are null).
  const insertRow = preparedQuery<never, Record<string, unknown>>((q, p) =>
    q.insertInto('tokens').values(Object.fromEntries(TOKEN_COLUMNS.map((c) => [c, p(c)])) as Insertable<Database['tokens']>));
  return {
    async insert(q: Queryable, row: Insertable<Database['tokens']>): Promise<void> {
      const values = row as Record<string, unknown>;
      const params: Record<string, unknown> = {};
      for (const c of TOKEN_COLUMNS) params[c] = values[c] ?? null;
      await insertRow(q, params);
    },
    async findByHash(q: Queryable, tokenHash: string): Promise<TokenRow | undefined> {
      return (await byHash(q, { hash: tokenHash }))[0];
    },
    async findByAccessor(q: Queryable, accessor: string): Promise<TokenRow | undefined> {
      return q.selectFrom('tokens').selectAll().where('accessor', '=', accessor).executeTakeFirst();
    },
    async accessorsByMount(q: Queryable, mount: string): Promise<string[]> {
      const rows = await q.selectFrom('tokens').select('accessor').where('auth_mount', '=', mount).where('revoked_at', 'is', null).execute();
      return rows.map((r) => r.accessor);
    },
    async setExpiry(q: Queryable, accessor: string, expiresAt: number): Promise<void> {
      await q.updateTable('tokens').set({ expires_at: expiresAt }).where('accessor', '=', accessor).execute();
    },
    /** Shortens a token's life (and its renewal limit) to end by `at` at the latest. */
    async capLife(q: Queryable, accessor: string, at: number): Promise<void> {
      await q.updateTable('tokens').set({ expires_at: at }).where('accessor', '=', accessor).where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', at)])).execute();
      await q.updateTable('tokens').set({ max_expires_at: at }).where('accessor', '=', accessor).where((eb) => eb.or([eb('max_expires_at', 'is', null), eb('max_expires_at', '>', at)])).execute();
    },
    /** Revokes a token and its whole subtree of child tokens; returns the accessors revoked. */
    async revokeTree(q: Queryable, accessor: string, now: number): Promise<string[]> {
      const revoked: string[] = [];
      let frontier = [accessor];
      while (frontier.length > 0) {
        revoked.push(...frontier);
        const children = await q.selectFrom('tokens').select('accessor').where('parent_accessor', 'in', frontier).execute();
        frontier = children.map((c) => c.accessor).filter((a) => !revoked.includes(a));
      }
      await q.updateTable('tokens').set({ revoked_at: now }).where('accessor', 'in', revoked).where('revoked_at', 'is', null).execute();
      return revoked;
    },
  };
}

export type TokenStore = ReturnType<typeof createTokenStore>;

import type { Insertable, Selectable } from 'kysely';
import type { Database, Queryable } from './schema.js';

export type WrappedRow = Selectable<Database['wrapped_responses']>;

export function createWrappingStore() {
  return {
    async insert(q: Queryable, row: Insertable<Database['wrapped_responses']>): Promise<void> {
      await q.insertInto('wrapped_responses').values(row).execute();
    },
    async findByHash(q: Queryable, hash: string): Promise<WrappedRow | undefined> {
      return q.selectFrom('wrapped_responses').selectAll().where('token_hash', '=', hash).executeTakeFirst();
    },
    /** Marks the token opened and drops its payload; false if someone opened it first. */
    async consume(q: Queryable, accessor: string, now: number): Promise<boolean> {
      const result = await q.updateTable('wrapped_responses').set({ unwrapped_at: now, ciphertext: null })
        .where('accessor', '=', accessor).where('unwrapped_at', 'is', null).executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },
    /** Drops the payloads of expired, unopened tokens (the rows stay, so a late attempt is still told apart). */
    async dropExpired(q: Queryable, now: number): Promise<number> {
      const result = await q.updateTable('wrapped_responses').set({ ciphertext: null })
        .where('expires_at', '<=', now).where('ciphertext', 'is not', null).executeTakeFirst();
      return Number(result.numUpdatedRows);
    },
  };
}

export type WrappingStore = ReturnType<typeof createWrappingStore>;

import type { Insertable, Selectable } from 'kysely';
import type { Database, Queryable } from './schema.js';

export type KeyringRow = Selectable<Database['keyring']>;

/** Cluster-wide state: initialization parameters and the sealed keyring. */
export function createSystemStore() {
  return {
    async get(q: Queryable, key: string): Promise<string | undefined> {
      const row = await q.selectFrom('system_state').select('value').where('key', '=', key).executeTakeFirst();
      return row?.value;
    },
    async set(q: Queryable, key: string, value: string): Promise<void> {
      await q
        .insertInto('system_state')
        .values({ key, value })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
        .execute();
    },
    async keyring(q: Queryable): Promise<KeyringRow[]> {
      return q.selectFrom('keyring').selectAll().orderBy('term').execute();
    },
    async insertKey(q: Queryable, row: Insertable<Database['keyring']>): Promise<void> {
      await q.insertInto('keyring').values(row).execute();
    },
  };
}

export type SystemStore = ReturnType<typeof createSystemStore>;

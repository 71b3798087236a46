import type { Selectable } from 'kysely';
import type { Database, Queryable } from './schema.js';

export type PolicyRow = Selectable<Database['policies']>;

export function createPolicyStore() {
  return {
    async find(q: Queryable, name: string): Promise<PolicyRow | undefined> {
      return q.selectFrom('policies').selectAll().where('name', '=', name).executeTakeFirst();
    },
    async findMany(q: Queryable, names: string[]): Promise<PolicyRow[]> {
      if (names.length === 0) return [];
      return q.selectFrom('policies').selectAll().where('name', 'in', names).execute();
    },
    async list(q: Queryable): Promise<PolicyRow[]> {
      return q.selectFrom('policies').selectAll().orderBy('name').execute();
    },
    async upsert(q: Queryable, name: string, document: string, now: number): Promise<void> {
      await q
        .insertInto('policies')
        .values({ name, document, created_at: now, updated_at: now })
        .onConflict((oc) => oc.column('name').doUpdateSet({ document, updated_at: now }))
        .execute();
    },
    async remove(q: Queryable, name: string): Promise<boolean> {
      const result = await q.deleteFrom('policies').where('name', '=', name).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },
  };
}

export type PolicyStore = ReturnType<typeof createPolicyStore>;

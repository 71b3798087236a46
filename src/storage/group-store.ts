import type { Selectable } from 'kysely';
import type { Database, Queryable } from './schema.js';

export type GroupRow = Selectable<Database['identity_groups']>;
export type GroupMemberRow = Selectable<Database['identity_group_members']>;

export function createGroupStore() {
  return {
    async find(q: Queryable, name: string): Promise<GroupRow | undefined> {
      return q.selectFrom('identity_groups').selectAll().where('name', '=', name).executeTakeFirst();
    },
    async list(q: Queryable): Promise<GroupRow[]> {
      return q.selectFrom('identity_groups').selectAll().orderBy('name').execute();
    },
    async upsert(q: Queryable, row: GroupRow): Promise<void> {
      await q.insertInto('identity_groups').values(row)
        .onConflict((oc) => oc.column('name').doUpdateSet({ policies: row.policies, description: row.description, updated_at: row.updated_at })).execute();
    },
    async remove(q: Queryable, name: string): Promise<boolean> {
      await q.deleteFrom('identity_group_members').where('group_name', '=', name).execute();
      const result = await q.deleteFrom('identity_groups').where('name', '=', name).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },
    async members(q: Queryable, name: string): Promise<GroupMemberRow[]> {
      return q.selectFrom('identity_group_members').selectAll().where('group_name', '=', name).orderBy('kind').orderBy('value').execute();
    },
    async addMember(q: Queryable, row: GroupMemberRow): Promise<void> {
      await q.insertInto('identity_group_members').values(row).onConflict((oc) => oc.columns(['group_name', 'kind', 'value']).doNothing()).execute();
    },
    async removeMember(q: Queryable, name: string, kind: GroupMemberRow['kind'], value: string): Promise<boolean> {
      const result = await q.deleteFrom('identity_group_members').where('group_name', '=', name).where('kind', '=', kind).where('value', '=', value).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },
    /** Names and policies of the groups that have any of these members. */
    async groupsOf(q: Queryable, members: { kind: GroupMemberRow['kind']; value: string }[]): Promise<{ name: string; policies: string }[]> {
      if (members.length === 0) return [];
      return q.selectFrom('identity_group_members as m').innerJoin('identity_groups as g', 'g.name', 'm.group_name')
        .select(['g.name', 'g.policies'])
        .where((eb) => eb.or(members.map((m) => eb.and([eb('m.kind', '=', m.kind), eb('m.value', '=', m.value)]))))
        .distinct().execute();
    },
  };
}

export type GroupStore = ReturnType<typeof createGroupStore>;

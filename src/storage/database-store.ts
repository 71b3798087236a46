import type { Insertable, Selectable } from 'kysely';
import type { Database, Queryable } from './schema.js';

/**
 * Queries for the database engine's connections and roles. Neither holds a credential: a
 * connection names the secret that holds its admin credential.
 */
export type DatabaseConnectionRow = Selectable<Database['database_connections']>;
export type DatabaseRoleRow = Selectable<Database['database_roles']>;

export function createDatabaseStore() {
  return {
    async findConnection(q: Queryable, name: string): Promise<DatabaseConnectionRow | undefined> {
      return q.selectFrom('database_connections').selectAll().where('name', '=', name).executeTakeFirst();
    },
    async upsertConnection(q: Queryable, row: Insertable<Database['database_connections']>): Promise<void> {
      await q.insertInto('database_connections').values(row)
        .onConflict((oc) => oc.column('name').doUpdateSet({ plugin: row.plugin, admin_secret: row.admin_secret, allowed_roles: row.allowed_roles, command: row.command ?? null, updated_at: row.updated_at }))
        .execute();
    },
    async markRootRotated(q: Queryable, name: string, at: number): Promise<void> {
      await q.updateTable('database_connections').set({ root_rotated_at: at, updated_at: at }).where('name', '=', name).execute();
    },
    async deleteConnection(q: Queryable, name: string): Promise<boolean> {
      return Number((await q.deleteFrom('database_connections').where('name', '=', name).executeTakeFirst()).numDeletedRows) === 1;
    },
    async listConnections(q: Queryable, after: string | undefined, limit: number): Promise<DatabaseConnectionRow[]> {
      let query = q.selectFrom('database_connections').selectAll().orderBy('name').limit(limit);
      if (after !== undefined) query = query.where('name', '>', after);
      return query.execute();
    },
    async findRole(q: Queryable, name: string): Promise<DatabaseRoleRow | undefined> {
      return q.selectFrom('database_roles').selectAll().where('name', '=', name).executeTakeFirst();
    },
    async upsertRole(q: Queryable, row: Insertable<Database['database_roles']>): Promise<void> {
      const { name: _name, created_at: _created, ...update } = row;
      await q.insertInto('database_roles').values(row).onConflict((oc) => oc.column('name').doUpdateSet(update)).execute();
    },
    async deleteRole(q: Queryable, name: string): Promise<boolean> {
      return Number((await q.deleteFrom('database_roles').where('name', '=', name).executeTakeFirst()).numDeletedRows) === 1;
    },
    async rolesOf(q: Queryable, connection: string): Promise<DatabaseRoleRow[]> {
      return q.selectFrom('database_roles').selectAll().where('connection', '=', connection).orderBy('name').execute();
    },
    async listRoles(q: Queryable, after: string | undefined, limit: number): Promise<DatabaseRoleRow[]> {
      let query = q.selectFrom('database_roles').selectAll().orderBy('name').limit(limit);
      if (after !== undefined) query = query.where('name', '>', after);
      return query.execute();
    },
  };
}

export type DatabaseStore = ReturnType<typeof createDatabaseStore>;

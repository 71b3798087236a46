import type { Insertable, Selectable } from 'kysely';
import type { Database, Queryable } from './schema.js';

export type AuthMountRow = Selectable<Database['auth_mounts']>;
export type AuthRoleRow = Selectable<Database['auth_roles']>;
export type SecretIdRow = Selectable<Database['approle_secret_ids']>;

/** Auth mounts, their roles and AppRole secret ids (as keyed hashes only). */
export function createAuthStore() {
  return {
    async findMount(q: Queryable, path: string): Promise<AuthMountRow | undefined> {
      return q.selectFrom('auth_mounts').selectAll().where('path', '=', path).executeTakeFirst();
    },
    async listMounts(q: Queryable): Promise<AuthMountRow[]> {
      return q.selectFrom('auth_mounts').selectAll().orderBy('path').execute();
    },
    async insertMount(q: Queryable, row: Insertable<Database['auth_mounts']>): Promise<void> {
      await q.insertInto('auth_mounts').values(row).execute();
    },
    async updateMountConfig(q: Queryable, path: string, config: string, now: number): Promise<void> {
      await q.updateTable('auth_mounts').set({ config, updated_at: now }).where('path', '=', path).execute();
    },
    /** Deletes the mount with its roles and secret ids. */
    async deleteMount(q: Queryable, path: string): Promise<boolean> {
      await q.deleteFrom('approle_secret_ids').where('mount', '=', path).execute();
      await q.deleteFrom('auth_roles').where('mount', '=', path).execute();
      const result = await q.deleteFrom('auth_mounts').where('path', '=', path).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },

    async findRole(q: Queryable, mount: string, name: string): Promise<AuthRoleRow | undefined> {
      return q.selectFrom('auth_roles').selectAll().where('mount', '=', mount).where('name', '=', name).executeTakeFirst();
    },
    async findRoleByRoleId(q: Queryable, mount: string, roleId: string): Promise<AuthRoleRow | undefined> {
      return q.selectFrom('auth_roles').selectAll().where('mount', '=', mount).where('role_id', '=', roleId).executeTakeFirst();
    },
    async listRoles(q: Queryable, mount: string): Promise<AuthRoleRow[]> {
      return q.selectFrom('auth_roles').selectAll().where('mount', '=', mount).orderBy('name').execute();
    },
    /** Inserts or replaces a role's config; an existing role keeps its role_id. */
    async upsertRole(q: Queryable, row: Insertable<Database['auth_roles']>): Promise<void> {
      await q.insertInto('auth_roles').values(row)
        .onConflict((oc) => oc.columns(['mount', 'name']).doUpdateSet({ config: row.config, updated_at: row.updated_at }))
        .execute();
    },
    async deleteRole(q: Queryable, mount: string, name: string): Promise<boolean> {
      await q.deleteFrom('approle_secret_ids').where('mount', '=', mount).where('role_name', '=', name).execute();
      const result = await q.deleteFrom('auth_roles').where('mount', '=', mount).where('name', '=', name).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },

    async failuresOf(q: Queryable, mount: string, name: string): Promise<{ failures: number; locked_until: number | null } | undefined> {
      return q.selectFrom('auth_login_failures').select(['failures', 'locked_until']).where('mount', '=', mount).where('name', '=', name).executeTakeFirst();
    },
    /** Counts one more consecutive failure; returns the new count. */
    async recordFailure(q: Queryable, mount: string, name: string, now: number, lockedUntil: (failures: number) => number | null): Promise<number> {
      const current = await q.selectFrom('auth_login_failures').select('failures').where('mount', '=', mount).where('name', '=', name).executeTakeFirst();
      const failures = (current?.failures ?? 0) + 1;
      await q.insertInto('auth_login_failures').values({ mount, name, failures, locked_until: lockedUntil(failures), last_failure_at: now })
        .onConflict((oc) => oc.columns(['mount', 'name']).doUpdateSet({ failures, locked_until: lockedUntil(failures), last_failure_at: now })).execute();
      return failures;
    },
    async clearFailures(q: Queryable, mount: string, name: string): Promise<void> {
      await q.deleteFrom('auth_login_failures').where('mount', '=', mount).where('name', '=', name).execute();
    },

    async insertSecretId(q: Queryable, row: Insertable<Database['approle_secret_ids']>): Promise<void> {
      await q.insertInto('approle_secret_ids').values(row).execute();
    },
    async findSecretIdByHash(q: Queryable, hash: string): Promise<SecretIdRow | undefined> {
      return q.selectFrom('approle_secret_ids').selectAll().where('secret_hash', '=', hash).executeTakeFirst();
    },
    async listSecretIds(q: Queryable, mount: string, role: string): Promise<SecretIdRow[]> {
      return q.selectFrom('approle_secret_ids').selectAll().where('mount', '=', mount).where('role_name', '=', role).orderBy('created_at').execute();
    },
    /**
     * Spends one use of a limited secret id; false when none is left. One conditional UPDATE,
     * so concurrent logins (or nodes) can never spend the same last use twice.
     */
    async spendSecretIdUse(q: Queryable, accessor: string): Promise<boolean> {
      const result = await q.updateTable('approle_secret_ids').set((eb) => ({ uses_remaining: eb('uses_remaining', '-', 1) }))
        .where('accessor', '=', accessor).where('uses_remaining', '>', 0).executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },
    async revokeSecretId(q: Queryable, mount: string, role: string, accessor: string, now: number): Promise<boolean> {
      const result = await q.updateTable('approle_secret_ids').set({ revoked_at: now })
        .where('mount', '=', mount).where('role_name', '=', role).where('accessor', '=', accessor).where('revoked_at', 'is', null).executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },
  };
}

export type AuthStore = ReturnType<typeof createAuthStore>;

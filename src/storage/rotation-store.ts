import type { Insertable, Selectable, Updateable } from 'kysely';
import type { Database, Queryable } from './schema.js';

export type RotationRow = Selectable<Database['rotations']>;
export type ScheduleRow = Selectable<Database['rotation_schedules']>;

/** True when an insert failed on a unique constraint (SQLite or PostgreSQL). */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return e.code === '23505' || e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** Every query the rotation engine and scheduler run. */
export function createRotationStore() {
  return {
    /** Inserts a run; throws a unique violation when the secret already has an active run. */
    async insert(q: Queryable, row: Insertable<Database['rotations']>): Promise<void> {
      await q.insertInto('rotations').values(row).execute();
    },

    async find(q: Queryable, id: string): Promise<RotationRow | undefined> {
      return q.selectFrom('rotations').selectAll().where('id', '=', id).executeTakeFirst();
    },

    async findActive(q: Queryable, secretId: string): Promise<RotationRow | undefined> {
      return q.selectFrom('rotations').selectAll().where('active_secret_id', '=', secretId).executeTakeFirst();
    },

    async latest(q: Queryable, secretId: string): Promise<RotationRow | undefined> {
      return q.selectFrom('rotations').selectAll().where('secret_id', '=', secretId).orderBy('started_at', 'desc').orderBy('id', 'desc').limit(1).executeTakeFirst();
    },

    async history(q: Queryable, secretId: string, limit: number): Promise<RotationRow[]> {
      return q.selectFrom('rotations').selectAll().where('secret_id', '=', secretId).orderBy('started_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
    },

    /**
     * Compare-and-set update: applies `patch` only if the row is still at `expect` (status
     * and step), so a stale driver (another node, a resumed copy) cannot overwrite progress.
     * With `owner`, also only while that node still holds the run (a driver whose claim was
     * taken over after its lease ran out is fenced off at its next phase boundary).
     */
    async advance(q: Queryable, id: string, expect: Pick<RotationRow, 'status' | 'step'> & { owner?: string }, patch: Updateable<Database['rotations']>): Promise<boolean> {
      let query = q.updateTable('rotations').set(patch).where('id', '=', id).where('status', '=', expect.status).where('step', '=', expect.step);
      if (expect.owner !== undefined) query = query.where('owner_node', '=', expect.owner);
      const result = await query.executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },

    /**
     * Claims a run for this node until `leaseUntil` if nobody else holds a live lease. A null
     * lease means no node is driving the run (its driver cleared it when it stopped to wait for
     * a retry), so any node may claim it, not only the one that drove it last.
     */
    async claim(q: Queryable, id: string, node: string, now: number, leaseUntil: number): Promise<boolean> {
      const result = await q.updateTable('rotations').set({ owner_node: node, lease_until: leaseUntil })
        .where('id', '=', id)
        .where('status', 'in', ['running', 'rolling_back'])
        .where((eb) => eb.or([eb('owner_node', '=', node), eb('owner_node', 'is', null), eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },

    /**
     * Ends the lease of a run whose owner is gone, if it is still that owner's with that lease
     * (compare-and-set), so the caller's next claim() may take it.
     */
    async releaseLease(q: Queryable, id: string, owner: string, leaseUntil: number): Promise<boolean> {
      const result = await q.updateTable('rotations').set({ lease_until: null })
        .where('id', '=', id).where('owner_node', '=', owner).where('lease_until', '=', leaseUntil)
        .where('status', 'in', ['running', 'rolling_back'])
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },

    /** In-flight runs whose next attempt is due (resume after restart, retry after backoff). */
    async listResumable(q: Queryable, now: number, limit: number): Promise<RotationRow[]> {
      return q.selectFrom('rotations').selectAll().where('status', 'in', ['running', 'rolling_back'])
        .where((eb) => eb.or([eb('next_attempt_at', 'is', null), eb('next_attempt_at', '<=', now)]))
        .orderBy('started_at').limit(limit).execute();
    },

    async listGraceEnded(q: Queryable, now: number, limit: number): Promise<RotationRow[]> {
      return q.selectFrom('rotations').selectAll().where('status', '=', 'grace').where('grace_until', '<=', now).orderBy('grace_until').limit(limit).execute();
    },

    /** Ends earlier grace periods of a secret: a newer rotation supersedes them. */
    async closeGrace(q: Queryable, secretId: string, now: number): Promise<void> {
      await q.updateTable('rotations').set({ status: 'succeeded', updated_at: now, error: 'grace superseded by a newer rotation' })
        .where('secret_id', '=', secretId).where('status', '=', 'grace').execute();
    },

    async setSettings(q: Queryable, secretId: string, settings: string | null, now: number): Promise<void> {
      await q.updateTable('secrets').set({ rotation: settings, updated_at: now }).where('id', '=', secretId).execute();
    },

    async markRotated(q: Queryable, secretId: string, at: number): Promise<void> {
      await q.updateTable('secrets').set({ last_rotated_at: at }).where('id', '=', secretId).execute();
    },

    async upsertSchedule(q: Queryable, row: ScheduleRow): Promise<void> {
      await q.insertInto('rotation_schedules').values(row)
        .onConflict((oc) => oc.column('secret_id').doUpdateSet({ next_due_at: row.next_due_at, overdue_since: row.overdue_since, updated_at: row.updated_at }))
        .execute();
    },

    async removeSchedule(q: Queryable, secretId: string): Promise<void> {
      await q.deleteFrom('rotation_schedules').where('secret_id', '=', secretId).execute();
    },

    async markOverdue(q: Queryable, secretId: string, since: number): Promise<boolean> {
      const result = await q.updateTable('rotation_schedules').set({ overdue_since: since }).where('secret_id', '=', secretId).where('overdue_since', 'is', null).executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },

    /** Secrets with a schedule whose due time has passed, with their settings and names. */
    async listDue(q: Queryable, now: number, limit: number) {
      return q.selectFrom('rotation_schedules').innerJoin('secrets', 'secrets.id', 'rotation_schedules.secret_id')
        .select(['secrets.id as secret_id', 'secrets.name', 'secrets.region', 'secrets.rotation', 'secrets.last_rotated_at', 'secrets.created_at',
          'rotation_schedules.next_due_at', 'rotation_schedules.overdue_since'])
        .where('rotation_schedules.next_due_at', '<=', now).where('secrets.deleted_at', 'is', null)
        .orderBy('rotation_schedules.next_due_at').limit(limit).execute();
    },

    /**
     * Every secret with rotation settings (for listings), scheduled or not (a secret rotated
     * only by hand can still be failing), optionally only overdue ones.
     */
    async listSchedules(q: Queryable, options: { overdueOnly?: boolean; limit: number }) {
      let query = q.selectFrom('secrets').leftJoin('rotation_schedules', 'secrets.id', 'rotation_schedules.secret_id')
        .select(['secrets.id as secret_id', 'secrets.name', 'secrets.region', 'secrets.rotation', 'secrets.last_rotated_at',
          'rotation_schedules.next_due_at', 'rotation_schedules.overdue_since'])
        .where('secrets.rotation', 'is not', null).where('secrets.deleted_at', 'is', null);
      if (options.overdueOnly) query = query.where('rotation_schedules.overdue_since', 'is not', null);
      return query.orderBy('secrets.name').limit(options.limit).execute();
    },

    /** The latest run of each of these secrets (none for a secret never rotated). */
    async latestRuns(q: Queryable, secretIds: string[]): Promise<Map<string, RotationRow>> {
      const latest = new Map<string, RotationRow>();
      for (let i = 0; i < secretIds.length; i += 500) {
        const rows = await q.selectFrom('rotations as r').selectAll('r').where('r.secret_id', 'in', secretIds.slice(i, i + 500))
          .where((eb) => eb('r.started_at', '=', eb.selectFrom('rotations as r2').select((e) => e.fn.max('r2.started_at').as('m')).whereRef('r2.secret_id', '=', 'r.secret_id')))
          .execute();
        for (const row of rows) {
          const seen = latest.get(row.secret_id);
          if (!seen || row.id > seen.id) latest.set(row.secret_id, row);
        }
      }
      return latest;
    },

    async findSchedule(q: Queryable, secretId: string): Promise<ScheduleRow | undefined> {
      return q.selectFrom('rotation_schedules').selectAll().where('secret_id', '=', secretId).executeTakeFirst();
    },
  };
}

export type RotationStore = ReturnType<typeof createRotationStore>;

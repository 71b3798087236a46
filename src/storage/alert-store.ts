import { sql, type Insertable, type Selectable } from 'kysely';
import type { Database, Queryable } from './schema.js';

export type AlertRow = Selectable<Database['alerts']>;
export type AlertDeliveryRow = Selectable<Database['alert_deliveries']>;

/** Alert engine state, and the read-only inventory queries its time-based rules need. */
export function createAlertStore() {
  return {
    /** The named cursors that exist: the seq each holds and when it was set. */
    async cursors(q: Queryable, names: readonly string[]): Promise<Map<string, { seq: number; updatedAt: number }>> {
      const rows = await q.selectFrom('alert_cursor').select(['name', 'seq', 'updated_at']).where('name', 'in', names).execute();
      return new Map(rows.map((r) => [r.name, { seq: Number(r.seq), updatedAt: Number(r.updated_at) }]));
    },
    async setCursor(q: Queryable, name: string, seq: number, now: number): Promise<void> {
      await q.insertInto('alert_cursor').values({ name, seq, updated_at: now })
        .onConflict((oc) => oc.column('name').doUpdateSet({ seq, updated_at: now })).execute();
    },

    async active(q: Queryable, activeKey: string): Promise<AlertRow | undefined> {
      return q.selectFrom('alerts').selectAll().where('active_key', '=', activeKey).executeTakeFirst();
    },
    async insertAlert(q: Queryable, row: Insertable<Database['alerts']>): Promise<void> {
      await q.insertInto('alerts').values(row).execute();
    },
    async updateAlert(q: Queryable, id: string, patch: Partial<Omit<AlertRow, 'id'>>): Promise<void> {
      await q.updateTable('alerts').set(patch).where('id', '=', id).execute();
    },
    async alert(q: Queryable, id: string): Promise<AlertRow | undefined> {
      return q.selectFrom('alerts').selectAll().where('id', '=', id).executeTakeFirst();
    },
    async list(q: Queryable, query: { status?: 'firing' | 'resolved'; rule?: string; limit: number }): Promise<AlertRow[]> {
      let select = q.selectFrom('alerts').selectAll();
      if (query.status) select = select.where('status', '=', query.status);
      if (query.rule) select = select.where('rule', '=', query.rule);
      return select.orderBy('fired_at', 'desc').orderBy('id').limit(query.limit).execute();
    },
    /** Firing alerts of the given rules (the time-based rules resolve what no longer holds). */
    async firing(q: Queryable, rules: readonly string[]): Promise<AlertRow[]> {
      if (rules.length === 0) return [];
      return q.selectFrom('alerts').selectAll().where('status', '=', 'firing').where('rule', 'in', rules).execute();
    },
    async firingCounts(q: Queryable): Promise<Record<string, number>> {
      const rows = await q.selectFrom('alerts').select(['rule', (eb) => eb.fn.countAll<number>().as('n')]).where('status', '=', 'firing').groupBy('rule').execute();
      return Object.fromEntries(rows.map((r) => [r.rule, Number(r.n)]));
    },

    async silence(q: Queryable, row: Selectable<Database['alert_silences']>): Promise<void> {
      await q.insertInto('alert_silences').values(row)
        .onConflict((oc) => oc.columns(['rule', 'dedupe_key']).doUpdateSet({ until_at: row.until_at, created_by: row.created_by, created_at: row.created_at })).execute();
    },
    async silencedUntil(q: Queryable, rule: string, dedupeKey: string): Promise<number | undefined> {
      const row = await q.selectFrom('alert_silences').select('until_at').where('rule', '=', rule).where('dedupe_key', '=', dedupeKey).executeTakeFirst();
      return row === undefined ? undefined : Number(row.until_at);
    },

    async insertDelivery(q: Queryable, row: Insertable<Database['alert_deliveries']>): Promise<void> {
      await q.insertInto('alert_deliveries').values(row).execute();
    },
    async dueDeliveries(q: Queryable, now: number, limit: number): Promise<AlertDeliveryRow[]> {
      return q.selectFrom('alert_deliveries').selectAll().where('status', '=', 'pending').where('next_attempt_at', '<=', now)
        .orderBy('next_attempt_at').limit(limit).execute();
    },
    async updateDelivery(q: Queryable, id: string, patch: Partial<Omit<AlertDeliveryRow, 'id'>>): Promise<void> {
      await q.updateTable('alert_deliveries').set(patch).where('id', '=', id).execute();
    },
    /** Drops the pending deliveries of a silenced alert (kept, as cancelled). */
    async cancelPendingDeliveries(q: Queryable, alertId: string, now: number): Promise<void> {
      await q.updateTable('alert_deliveries').set({ status: 'cancelled', last_error: 'silenced', updated_at: now }).where('alert_id', '=', alertId).where('status', '=', 'pending').execute();
    },
    async deliveries(q: Queryable, alertId: string): Promise<AlertDeliveryRow[]> {
      return q.selectFrom('alert_deliveries').selectAll().where('alert_id', '=', alertId).orderBy('created_at').orderBy('id').execute();
    },

    /** Last read time per (principal, secret) for the given pairs. */
    async lastReads(q: Queryable, principal: string, secretNames: readonly string[]): Promise<Map<string, number>> {
      if (secretNames.length === 0) return new Map();
      const rows = await q.selectFrom('alert_access').select(['secret_name', 'last_read_at']).where('principal', '=', principal).where('secret_name', 'in', secretNames).execute();
      return new Map(rows.map((r) => [r.secret_name, Number(r.last_read_at)]));
    },
    async recordReads(q: Queryable, rows: readonly { principal: string; secret_name: string; last_read_at: number }[]): Promise<void> {
      for (const row of rows) {
        await q.insertInto('alert_access').values(row)
          .onConflict((oc) => oc.columns(['principal', 'secret_name']).doUpdateSet((eb) => ({ last_read_at: eb.ref('excluded.last_read_at') }))).execute();
      }
    },
    async addReadCounts(q: Queryable, rows: readonly { principal: string; hour_start: number; reads: number }[]): Promise<void> {
      for (const row of rows) {
        await q.insertInto('alert_read_counts').values(row)
          .onConflict((oc) => oc.columns(['principal', 'hour_start']).doUpdateSet({ reads: sql`alert_read_counts.reads + excluded.reads` })).execute();
      }
    },
    /** Reads by `principal` in the given hours (each an hour start). */
    async readsInHours(q: Queryable, principal: string, hourStarts: readonly number[]): Promise<number> {
      if (hourStarts.length === 0) return 0;
      const row = await q.selectFrom('alert_read_counts').select((eb) => eb.fn.sum<number>('reads').as('n')).where('principal', '=', principal).where('hour_start', 'in', hourStarts).executeTakeFirst();
      return Number(row?.n ?? 0);
    },
    /** Reads by `principal` per hour in [from, to): its history of when it reads (learned off-hours). */
    async readHours(q: Queryable, principal: string, from: number, to: number): Promise<{ hour_start: number; reads: number }[]> {
      const rows = await q.selectFrom('alert_read_counts').select(['hour_start', 'reads']).where('principal', '=', principal)
        .where('hour_start', '>=', from).where('hour_start', '<', to).execute();
      return rows.map((r) => ({ hour_start: Number(r.hour_start), reads: Number(r.reads) }));
    },
    /**
     * Deletes at most `limit` hourly counts and `limit` last reads older than `before`, oldest
     * first (one statement each, through the age indexes of migration 041), so a large first
     * prune is spread over calls instead of holding the writer; returns how many rows went.
     */
    async pruneReadHistory(q: Queryable, before: number, limit: number): Promise<number> {
      const counts = await q.deleteFrom('alert_read_counts')
        .where(({ eb, refTuple, selectFrom }) => eb(refTuple('principal', 'hour_start'), 'in',
          selectFrom('alert_read_counts').select(['principal', 'hour_start']).where('hour_start', '<', before).orderBy('hour_start').limit(limit).$asTuple('principal', 'hour_start')))
        .executeTakeFirst();
      const reads = await q.deleteFrom('alert_access')
        .where(({ eb, refTuple, selectFrom }) => eb(refTuple('principal', 'secret_name'), 'in',
          selectFrom('alert_access').select(['principal', 'secret_name']).where('last_read_at', '<', before).orderBy('last_read_at').limit(limit).$asTuple('principal', 'secret_name')))
        .executeTakeFirst();
      return Number(counts.numDeletedRows) + Number(reads.numDeletedRows);
    },

    /** Rotation runs by status and the number of secrets whose rotation is overdue. */
    async rotationStats(q: Queryable): Promise<{ runs: Record<string, number>; overdue: number }> {
      const runs = await q.selectFrom('rotations').select(['status', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('status').execute();
      const overdue = await q.selectFrom('rotation_schedules').select((eb) => eb.fn.countAll<number>().as('n')).where('overdue_since', 'is not', null).executeTakeFirst();
      return { runs: Object.fromEntries(runs.map((r) => [r.status, Number(r.n)])), overdue: Number(overdue?.n ?? 0) };
    },
    /**
     * Live tokens that expire before `until` (root and non-expiring tokens have no expiry) and
     * were granted at least `minLifeMs` from creation to expiry: a short-lived token (every
     * login's, a 10-minute CI token) is always "expiring soon" and is replaced, not renewed.
     */
    async tokensExpiring(q: Queryable, now: number, until: number, minLifeMs: number) {
      return q.selectFrom('tokens').select(['accessor', 'display_name', 'expires_at']).where('revoked_at', 'is', null)
        .where('expires_at', '>', now).where('expires_at', '<=', until)
        .where((eb) => eb(eb('expires_at', '-', eb.ref('created_at')), '>=', minLifeMs)).execute();
    },
    /** AWS access keys that expire in (now, until]. */
    async awsKeysExpiring(q: Queryable, now: number, until: number) {
      return q.selectFrom('aws_access_keys').select(['access_key_id', 'display_name', 'expires_at', 'created_by']).where('revoked_at', 'is', null)
        .where('expires_at', '>', now).where('expires_at', '<=', until).execute();
    },
    /** Secrets whose next rotation is due before `until` (overdue ones included). */
    async rotationsDue(q: Queryable, until: number) {
      return q.selectFrom('rotation_schedules').innerJoin('secrets', 'secrets.id', 'rotation_schedules.secret_id')
        .select(['secrets.name', 'secrets.owner', 'rotation_schedules.next_due_at', 'rotation_schedules.overdue_since'])
        .where('secrets.deleted_at', 'is', null).where('rotation_schedules.next_due_at', '<=', until).execute();
    },
    /** The newest rotation run per secret, when it failed. */
    async failedRotations(q: Queryable) {
      return q.selectFrom('rotations as r').select(['r.id', 'r.secret_name', 'r.error', 'r.finished_at', 'r.attempts']).where('r.status', '=', 'failed')
        .where(({ not, exists, selectFrom }) => not(exists(selectFrom('rotations as later').select('later.id').whereRef('later.secret_id', '=', 'r.secret_id').whereRef('later.started_at', '>', 'r.started_at'))))
        .execute();
    },
    /** Live secrets not read since `before` (never-read ones count from their creation). */
    /**
     * Live secrets not read since `before` (never-read ones by creation), per owner: how many,
     * and the `sample` longest unused of each, oldest first. Both read the (owner, last use)
     * index of migration 043, whose expression and condition the query spells the same way.
     */
    async unusedByOwner(q: Queryable, before: number, sample: number): Promise<{ owner: string | null; count: number; oldest: { name: string; last_accessed_at: number | null; created_at: number }[] }[]> {
      const counts = await unusedQueries.counts(q, before).execute();
      const result = [];
      for (const c of counts) {
        const oldest = await unusedQueries.oldest(q, before, c.owner, sample).execute();
        result.push({ owner: c.owner, count: Number(c.n), oldest: oldest.map((r) => ({ name: r.name, last_accessed_at: r.last_accessed_at === null ? null : Number(r.last_accessed_at), created_at: Number(r.created_at) })) });
      }
      return result;
    },
  };
}

export type AlertStore = ReturnType<typeof createAlertStore>;

const lastUse = sql<number>`coalesce(last_accessed_at, created_at)`;
const unusedSince = (q: Queryable, before: number) => q.selectFrom('secrets').where('deleted_at', 'is', null).where('primary_region', 'is', null).where(lastUse, '<', before);
/** The unused rule's two queries (exported for their plan test: both must read migration 043's index). */
export const unusedQueries = {
  counts: (q: Queryable, before: number) => unusedSince(q, before).select(['owner', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('owner').orderBy('owner'),
  oldest: (q: Queryable, before: number, owner: string | null, limit: number) => unusedSince(q, before).select(['name', 'last_accessed_at', 'created_at'])
    .where((eb) => (owner === null ? eb('owner', 'is', null) : eb('owner', '=', owner))).orderBy(lastUse).orderBy('name').limit(limit),
};

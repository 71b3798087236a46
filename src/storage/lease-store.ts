import type { Insertable, Selectable } from 'kysely';
import type { Database, Queryable } from './schema.js';

/**
 * Queries for generic leases. Every query the sweeper and revoke-prefix use is bounded (LIMIT)
 * or a single set-based UPDATE, so no caller ever holds all leases in memory. State moves only
 * forward (active -> revoking -> revoked), each step a compare-and-set on the current state.
 */
export type LeaseRow = Selectable<Database['leases']>;

/** Id prefix as a range (ids contain `_` and `/`; a range also uses the primary key index). */
const prefixEnd = (prefix: string) => prefix + '\u{10FFFF}';

export function createLeaseStore() {
  return {
    async insert(q: Queryable, row: Insertable<Database['leases']>): Promise<void> {
      await q.insertInto('leases').values(row).execute();
    },
    async find(q: Queryable, id: string): Promise<LeaseRow | undefined> {
      return q.selectFrom('leases').selectAll().where('id', '=', id).executeTakeFirst();
    },
    /** Moves an active lease's expiry; false when it is no longer active (revoked or being revoked meanwhile). */
    async extend(q: Queryable, id: string, expiresAt: number): Promise<boolean> {
      const r = await q.updateTable('leases').set({ expires_at: expiresAt }).where('id', '=', id).where('state', '=', 'active').executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },
    /** Records the intent to revoke before any external call, so a crash leaves it to be retried. */
    async markRevoking(q: Queryable, id: string, at: number): Promise<boolean> {
      const r = await q.updateTable('leases').set({ state: 'revoking', next_attempt_at: at }).where('id', '=', id).where('state', '=', 'active').executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },
    /** One set-based UPDATE over the id range: any number of leases without reading them. */
    async markRevokingPrefix(q: Queryable, prefix: string, at: number): Promise<number> {
      const r = await q.updateTable('leases').set({ state: 'revoking', next_attempt_at: at })
        .where('id', '>=', prefix).where('id', '<', prefixEnd(prefix)).where('state', '=', 'active').executeTakeFirst();
      return Number(r.numUpdatedRows);
    },
    /** Marks up to `limit` expired active leases `revoking` in one statement (oldest expiry first). */
    async markExpiredRevoking(q: Queryable, now: number, limit: number): Promise<number> {
      const r = await q.updateTable('leases').set({ state: 'revoking', next_attempt_at: now })
        .where('id', 'in', (eb) => eb.selectFrom('leases as l').select('l.id').where('l.state', '=', 'active').where('l.expires_at', '<=', now).orderBy('l.expires_at').limit(limit))
        .executeTakeFirst();
      return Number(r.numUpdatedRows);
    },
    /** Marks many leases revoked in one statement; returns the ids this call moved (not those already revoked). */
    async markRevokedMany(q: Queryable, ids: readonly string[], at: number): Promise<string[]> {
      if (ids.length === 0) return [];
      const rows = await q.updateTable('leases').set({ state: 'revoked', revoked_at: at, next_attempt_at: null, last_error: null })
        .where('id', 'in', ids).where('state', '!=', 'revoked').returning('id').execute();
      return rows.map((r) => r.id);
    },
    async markRevoked(q: Queryable, id: string, at: number): Promise<boolean> {
      const r = await q.updateTable('leases').set({ state: 'revoked', revoked_at: at, next_attempt_at: null, last_error: null })
        .where('id', '=', id).where('state', '!=', 'revoked').executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },
    async recordFailure(q: Queryable, id: string, attempts: number, nextAttemptAt: number, error: string): Promise<void> {
      await q.updateTable('leases').set({ revoke_attempts: attempts, next_attempt_at: nextAttemptAt, last_error: error })
        .where('id', '=', id).where('state', '=', 'revoking').execute();
    },
    /**
     * Marks up to `limit` active leases whose issuing token was revoked or has expired (a lease
     * never outlives the token that asked for it). Returns how many it marked.
     */
    async markRevokingWithEndedTokens(q: Queryable, now: number, limit: number): Promise<number> {
      const r = await q.updateTable('leases').set({ state: 'revoking', next_attempt_at: now })
        .where('id', 'in', (eb) => eb.selectFrom('leases as l').innerJoin('tokens as t', 't.accessor', 'l.accessor').select('l.id')
          .where('l.state', '=', 'active').where((w) => w.or([w('t.revoked_at', 'is not', null), w('t.expires_at', '<=', now)])).limit(limit))
        .executeTakeFirst();
      return Number(r.numUpdatedRows);
    },
    /** Leases whose revocation is due (new, interrupted or backed off), at most `limit` (index leases_state_attempt). */
    async revocationsDue(q: Queryable, now: number, limit: number): Promise<LeaseRow[]> {
      return q.selectFrom('leases').selectAll().where('state', '=', 'revoking').where('next_attempt_at', '<=', now).orderBy('next_attempt_at').limit(limit).execute();
    },
    /** Leases by id under a prefix, after `after`, at most `limit`; revoked ones only when asked. */
    async list(q: Queryable, prefix: string, after: string | undefined, limit: number, includeRevoked: boolean): Promise<LeaseRow[]> {
      let query = q.selectFrom('leases').selectAll().orderBy('id').limit(limit);
      if (prefix !== '') query = query.where('id', '>=', prefix).where('id', '<', prefixEnd(prefix));
      if (after !== undefined) query = query.where('id', '>', after);
      if (!includeRevoked) query = query.where('state', '!=', 'revoked');
      return query.execute();
    },
    /** Of `handles`, those an unrevoked lease of `engine` stands for (one indexed query per call; callers chunk). */
    async liveHandles(q: Queryable, engine: string, handles: readonly string[]): Promise<Set<string>> {
      if (handles.length === 0) return new Set();
      const rows = await q.selectFrom('leases').select('handle').where('engine', '=', engine).where('handle', 'in', handles).where('state', '!=', 'revoked').execute();
      return new Set(rows.map((r) => r.handle!));
    },
    /** Deletes up to `limit` leases revoked before `before` (the audit log keeps their history). */
    async pruneRevoked(q: Queryable, before: number, limit: number): Promise<number> {
      const r = await q.deleteFrom('leases').where('id', 'in', (eb) => eb.selectFrom('leases').select('id').where('state', '=', 'revoked').where('revoked_at', '<', before).limit(limit)).executeTakeFirst();
      return Number(r.numDeletedRows);
    },
    /** Unrevoked leases by state, for the metrics scrape. */
    async countByState(q: Queryable): Promise<Record<string, number>> {
      const rows = await q.selectFrom('leases').select(['state', (eb) => eb.fn.countAll<number>().as('n')]).where('state', '!=', 'revoked').groupBy('state').execute();
      return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
    },
    async countActive(q: Queryable, prefix: string): Promise<number> {
      let query = q.selectFrom('leases').select((eb) => eb.fn.countAll<number>().as('n')).where('state', '!=', 'revoked');
      if (prefix !== '') query = query.where('id', '>=', prefix).where('id', '<', prefixEnd(prefix));
      return Number((await query.executeTakeFirstOrThrow()).n);
    },
  };
}

export type LeaseStore = ReturnType<typeof createLeaseStore>;

import { CompiledQuery, sql, type Insertable, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { Database, Dialect, Queryable } from './schema.js';
import { preparedQuery } from './prepared.js';
import { AUDIT_TIME_ORDER_KEY } from './migrations/038-audit-time-order.js';
import { UNSUCCESSFUL } from './migrations/040-audit-unsuccessful-indexes.js';
import { dropPartition, ensureMonthPartitions, monthsBefore, partitionSummary, upcomingMonths } from './audit-partitions.js';

export type AuditRow = Selectable<Database['audit_events']>;
export type AnchorRow = Selectable<Database['audit_anchor']>;

export interface AuditQuery {
  secretName?: string;
  accessor?: string;
  since?: number;
  /** Exclusive upper bound on `time` (epoch ms): since <= time < until. */
  until?: number;
  outcome?: string;
  operation?: string;
  /** Newest first when true (tail); oldest first otherwise. */
  newestFirst?: boolean;
  afterSeq?: number;
  limit: number;
}

// Any constant works; it only has to be the same on every node.
const AUDIT_CHAIN_LOCK_ID = 7_236_001;

const AUDIT_COLUMNS = ['seq', 'time', 'request_id', 'accessor', 'source', 'operation', 'secret_name', 'version_id', 'outcome', 'error_code', 'status', 'latency_us', 'detail', 'prev_hash', 'hash'] as const;
type AuditInsert = Insertable<Database['audit_events']>;

export interface AuditStoreOptions {
  /** fsync every audit batch (SQLite synchronous=FULL / PostgreSQL synchronous_commit=on). */
  fsyncEachBatch?: boolean;
  /** The connection's normal SQLite synchronous level, restored after an audit batch. */
  sqliteSynchronous?: 'FULL' | 'NORMAL';
}

export function createAuditStore(dialect: Dialect, options: AuditStoreOptions = {}) {
  // Audit appends are the one write on every request. Batches are written as many-row
  // inserts of power-of-two sizes (1..64), each compiled once, instead of rebuilding a
  // many-row insert for every batch.
  const CHUNK_SIZES = [64, 32, 16, 8, 4, 2, 1];
  // Read and moved by every audit append (each login's, each write's): compiled once.
  const readHeadCheckpoint = preparedQuery<{ seq: number; hash: string; mac: string; event_hash: string | null; event_time: number | null }, Record<string, never>>((q) =>
    q.selectFrom('audit_head').leftJoin('audit_events', 'audit_events.seq', 'audit_head.seq')
      .select(['audit_head.seq', 'audit_head.hash', 'audit_head.mac', 'audit_events.hash as event_hash', 'audit_events.time as event_time']).where('audit_head.id', '=', 1));
  const writeHeadCheckpoint = preparedQuery<never, { seq: number; hash: string; mac: string }>((q, p) => q
    .insertInto('audit_head')
    .values({ id: 1, seq: p('seq'), hash: p('hash'), mac: p('mac') })
    .onConflict((oc) => oc.column('id').doUpdateSet({ seq: p('seq'), hash: p('hash'), mac: p('mac') })));
  let timeOrder: Promise<TimeOrder | undefined> | undefined;
  // The mark is written once by migration 038 and never changes: read it once.
  const readOrder = (q: Queryable) => (timeOrder ??= readTimeOrder(q).catch((error: unknown) => {
    timeOrder = undefined;
    throw error;
  }));
  const insertChunk = new Map(CHUNK_SIZES.map((size) => [size, preparedQuery<never, Record<string, unknown>>((q, p) =>
    q.insertInto('audit_events').values(Array.from({ length: size }, (_, i) => Object.fromEntries(AUDIT_COLUMNS.map((c) => [c, p(`${i}.${c}`)])) as AuditInsert)))]));
  return {
    /**
     * Runs one audit batch in a transaction. Unless fsyncEachBatch is set, the commit is
     * durable against a process crash but not fsynced (as Vault's file audit device): the
     * per-batch fsync would otherwise block every request behind the disk. Secret writes
     * keep full durability; on SQLite their next fsync also persists the earlier audit frames.
     */
    async appendTransaction<T>(db: Kysely<Database>, fn: (tx: Transaction<Database>) => Promise<T>): Promise<T> {
      if (options.fsyncEachBatch) return db.transaction().execute(fn);
      if (dialect === 'postgres') {
        return db.transaction().execute(async (tx) => {
          await sql`set local synchronous_commit to off`.execute(tx);
          return fn(tx);
        });
      }
      return db.connection().execute(async (conn) => {
        await sql`pragma synchronous = NORMAL`.execute(conn);
        try {
          return await conn.transaction().execute(fn);
        } finally {
          await sql.raw(`pragma synchronous = ${options.sqliteSynchronous ?? 'FULL'}`).execute(conn);
        }
      });
    },
    /**
     * Serializes chain appends across nodes for the rest of the transaction. SQLite needs
     * nothing: it has one writer at a time.
     */
    async lockChain(tx: Queryable): Promise<void> {
      if (dialect === 'postgres') await sql`select pg_advisory_xact_lock(${AUDIT_CHAIN_LOCK_ID})`.execute(tx);
    },
    /**
     * PostgreSQL only: appends `rows` and moves the head to `head` in one statement (migration
     * 038), if the stored head is still `expected`. Returns whether it appended, and when it did
     * not the stored head (undefined if there is none yet) and, if it is not far ahead, the events
     * from `expected` to it (oldest first) for the caller to check.
     */
    async appendIfHead(db: Kysely<Database>, expected: StoredHeadRow, rows: AuditInsert[], head: { seq: number; hash: string; mac: string }): Promise<{ appended: true } | { appended: false; stored: StoredHeadRow | undefined; between?: AuditRow[] }> {
      const result = await appendIfHeadQuery(db, {
        expectedSeq: expected.seq, expectedHash: expected.hash, expectedMac: expected.mac, expectedTime: expected.event_time, batch: JSON.stringify(rows),
        newSeq: head.seq, newHash: head.hash, newMac: head.mac, durable: options.fsyncEachBatch === true,
      });
      const row = result.rows[0];
      if (row?.appended) return { appended: true };
      return { appended: false, stored: row ? { seq: Number(row.seq), hash: row.hash, mac: row.mac, event_hash: row.event_hash, event_time: row.event_time === null ? null : Number(row.event_time) } : undefined, between: row?.between_events ?? undefined };
    },
    async head(q: Queryable): Promise<{ seq: number; hash: string } | undefined> {
      return q.selectFrom('audit_events').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    },
    /**
     * The head row, with the stored hash of the event it names (null if that event is gone):
     * one query tells an append both whether the head moved and whether its event is still there.
     */
    async headCheckpoint(q: Queryable): Promise<{ seq: number; hash: string; mac: string; event_hash: string | null; event_time: number | null } | undefined> {
      return (await readHeadCheckpoint(q, {}))[0];
    },
    async setHeadCheckpoint(q: Queryable, { seq, hash, mac }: { seq: number; hash: string; mac: string }): Promise<void> {
      await writeHeadCheckpoint(q, { seq, hash, mac });
    },
    async anchor(q: Queryable): Promise<AnchorRow | undefined> {
      return q.selectFrom('audit_anchor').selectAll().where('id', '=', 1).executeTakeFirst();
    },
    async setAnchor(q: Queryable, anchor: Omit<AnchorRow, 'id'>): Promise<void> {
      await q
        .insertInto('audit_anchor')
        .values({ id: 1, ...anchor })
        .onConflict((oc) => oc.column('id').doUpdateSet(anchor))
        .execute();
    },
    async insertMany(q: Queryable, rows: AuditInsert[]): Promise<void> {
      let offset = 0;
      while (offset < rows.length) {
        const size = CHUNK_SIZES.find((s) => s <= rows.length - offset)!;
        const params: Record<string, unknown> = {};
        for (let i = 0; i < size; i++) {
          const row = rows[offset + i] as Record<string, unknown>;
          for (const c of AUDIT_COLUMNS) params[`${i}.${c}`] = row[c] ?? null;
        }
        await insertChunk.get(size)!(q, params);
        offset += size;
      }
    },
    /** Events with fromSeq <= seq <= toSeq, oldest first (checking another writer's appends). */
    async range(q: Queryable, fromSeq: number, toSeq: number): Promise<AuditRow[]> {
      return q.selectFrom('audit_events').selectAll().where('seq', '>=', fromSeq).where('seq', '<=', toSeq).orderBy('seq').execute();
    },
    /** The latest time stored (an index seek on audit_by_time); null when there are no events. */
    async latestTime(q: Queryable): Promise<number | null> {
      const row = await q.selectFrom('audit_events').select('time').orderBy('time', 'desc').limit(1).executeTakeFirst();
      return row ? Number(row.time) : null;
    },
    async maxSeq(q: Queryable): Promise<number | null> {
      const row = await q.selectFrom('audit_events').select('seq').orderBy('seq', 'desc').limit(1).executeTakeFirst();
      return row ? Number(row.seq) : null;
    },
    /** Hashes of the given events (those that still exist), for checking external checkpoints. */
    async hashes(q: Queryable, seqs: number[]): Promise<{ seq: number; hash: string }[]> {
      if (seqs.length === 0) return [];
      return q.selectFrom('audit_events').select(['seq', 'hash']).where('seq', 'in', seqs).execute();
    },
    async page(q: Queryable, afterSeq: number, limit: number): Promise<AuditRow[]> {
      return q.selectFrom('audit_events').selectAll().where('seq', '>', afterSeq).orderBy('seq').limit(limit).execute();
    },
    /** Like `page`, without the chain and response columns: what the alert rules read (events by the hundred thousand). */
    async rulesPage(q: Queryable, afterSeq: number, limit: number) {
      return q.selectFrom('audit_events').select(['seq', 'time', 'accessor', 'source', 'operation', 'secret_name', 'outcome', 'error_code', 'detail'])
        .where('seq', '>', afterSeq).orderBy('seq').limit(limit).execute();
    },
    /** Matching events: time bounds become a range of seq first (auditSeqRange), so a page reads only its rows. */
    async query(q: Queryable, query: AuditQuery): Promise<AuditRow[]> {
      const range = await auditSeqRange(q, query, await readOrder(q));
      return range ? buildAuditQuery(q, dialect, query, range).execute() : [];
    },
    /**
     * A cursor for `rulesPage` before every event at or after `time` (found by the seek on the
     * time index that bounds searches); undefined when no event is that recent. Reaching back
     * before migration 038's mark, it is 0: those events are in no time order.
     */
    async cursorBefore(q: Queryable, time: number): Promise<number | undefined> {
      const range = await auditSeqRange(q, { since: time }, await readOrder(q));
      if (range === null) return undefined;
      return range.from === undefined ? 0 : range.from - 1;
    },
    /** The newest event strictly older than `cutoff`, i.e. the last one retention removes. */
    async lastBefore(q: Queryable, cutoff: number): Promise<{ seq: number; hash: string } | undefined> {
      return q.selectFrom('audit_events').select(['seq', 'hash']).where('time', '<', cutoff).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    },
    /** The `n`-th oldest event with seq <= `lastSeq` (one retention batch's end), if there are that many. */
    async nthUpTo(q: Queryable, lastSeq: number, n: number): Promise<{ seq: number; hash: string } | undefined> {
      return q.selectFrom('audit_events').select(['seq', 'hash']).where('seq', '<=', lastSeq).orderBy('seq').limit(1).offset(n - 1).executeTakeFirst();
    },
    /** The verified mark (audit-log.ts), kept in system_state; undefined if never written or unreadable. */
    async verifiedMark(q: Queryable): Promise<VerifiedMark | undefined> {
      const row = await q.selectFrom('system_state').select('value').where('key', '=', VERIFIED_MARK_KEY).executeTakeFirst();
      if (!row) return undefined;
      try {
        const mark = JSON.parse(row.value) as VerifiedMark;
        return typeof mark.seq === 'number' && typeof mark.hash === 'string' && typeof mark.fullAt === 'number' && typeof mark.mac === 'string' ? mark : undefined;
      } catch {
        return undefined;
      }
    },
    async setVerifiedMark(q: Queryable, mark: VerifiedMark): Promise<void> {
      const value = JSON.stringify(mark);
      await q.insertInto('system_state').values({ key: VERIFIED_MARK_KEY, value }).onConflict((oc) => oc.column('key').doUpdateSet({ value })).execute();
    },
    /**
     * PostgreSQL's month partitions (audit-partitions.ts); SQLite has none, and these answer
     * nothing there. `ensureMonths` takes the database (each creation commits on its own).
     */
    months: {
      ensure: async (db: Kysely<Database>, now: number): Promise<string[]> => (dialect === 'postgres' ? ensureMonthPartitions(db, upcomingMonths(now)) : []),
      before: async (q: Queryable, cutoff: number): Promise<string[]> => (dialect === 'postgres' ? monthsBefore(q, cutoff) : []),
      summary: partitionSummary,
      drop: dropPartition,
    },
    async deleteUpTo(q: Queryable, seq: number): Promise<number> {
      const result = await q.deleteFrom('audit_events').where('seq', '<=', seq).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}

export type AuditStore = ReturnType<typeof createAuditStore>;

type StoredHeadRow = { seq: number; hash: string; mac: string; event_hash: string | null; event_time: number | null };
type AppendParams = { expectedSeq: number; expectedHash: string; expectedMac: string; expectedTime: number | null; batch: string; newSeq: number; newHash: string; newMac: string; durable: boolean };
// Fixed SQL text: the hot path builds no query tree per batch.
const APPEND_IF_HEAD_SQL = 'select * from custos_audit_append($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9)';
const appendIfHeadQuery = (db: Kysely<Database>, p: AppendParams) => db.executeQuery<{ appended: boolean; seq: string; hash: string; mac: string; event_hash: string | null; event_time: string | null; between_events: AuditRow[] | null }>(
  CompiledQuery.raw(APPEND_IF_HEAD_SQL, [p.expectedSeq, p.expectedHash, p.expectedMac, p.expectedTime, p.batch, p.newSeq, p.newHash, p.newMac, p.durable]));

/** Where audit time starts growing with seq (migration 038): events after `monotonicAfter` are in time order. */
export interface TimeOrder {
  monotonicAfter: number;
  /** The latest time among the events up to `monotonicAfter`; null if there were none. */
  maxTimeBefore: number | null;
}

/** The mark of migration 038; none means the whole log is in order (a store created with it). Undefined: unreadable, use no bounds. */
export async function readTimeOrder(q: Queryable): Promise<TimeOrder | undefined> {
  const row = await q.selectFrom('system_state').select('value').where('key', '=', AUDIT_TIME_ORDER_KEY).executeTakeFirst();
  if (!row) return { monotonicAfter: 0, maxTimeBefore: null };
  try {
    const mark = JSON.parse(row.value) as TimeOrder;
    return Number.isSafeInteger(mark.monotonicAfter) && (mark.maxTimeBefore === null || Number.isFinite(mark.maxTimeBefore)) ? mark : undefined;
  } catch {
    return undefined;
  }
}

/** Inclusive bounds on seq that every event matching a search lies within. */
export interface SeqRange { from?: number; to?: number }

/**
 * The range of seq holding every event with since <= time < until, found by an index seek on
 * (time) at each end; null when no event can match. Exact because time never decreases along
 * the chain after `order.monotonicAfter`: the events at or after `since` are a suffix of it, so
 * the first of them in time order (ties by seq) is the smallest seq, and those before `until` a
 * prefix. Events up to `monotonicAfter` (stored before the upgrade, in any time order) are all
 * at or before `maxTimeBefore`: a `since` after it excludes them, and otherwise the range starts
 * at the oldest event, as before; `until` never cuts them off. With an unreadable mark, no bounds.
 */
export async function auditSeqRange(q: Queryable, query: Pick<AuditQuery, 'since' | 'until'>, order: TimeOrder | undefined): Promise<SeqRange | null> {
  if (!order || (query.since === undefined && query.until === undefined)) return {};
  const range: SeqRange = {};
  if (query.since !== undefined && (order.maxTimeBefore === null || query.since > order.maxTimeBefore)) {
    const first = await timeSeek(q, order, 'first at or after', query.since).executeTakeFirst();
    if (!first) return null;
    range.from = Number(first.seq);
  }
  if (query.until !== undefined) {
    const last = await timeSeek(q, order, 'last before', query.until).executeTakeFirst();
    if (last) range.to = Number(last.seq);
    else if (order.monotonicAfter > 0) range.to = order.monotonicAfter;
    else return null;
  }
  return range.from !== undefined && range.to !== undefined && range.from > range.to ? null : range;
}

/** The seek at one end of auditSeqRange: the first event at or after `time`, or the last one before it, among those in time order. */
export function timeSeek(q: Queryable, order: TimeOrder, which: 'first at or after' | 'last before', time: number) {
  let select = q.selectFrom('audit_events').select('seq');
  if (order.monotonicAfter > 0) select = select.where('seq', '>', order.monotonicAfter);
  if (which === 'first at or after') return select.where('time', '>=', time).orderBy('time').orderBy('seq').limit(1);
  return select.where('time', '<', time).orderBy('time', 'desc').orderBy('seq', 'desc').limit(1);
}

/**
 * The audit search as a query builder (also compiled on its own to check its plan uses an index).
 * The time conditions stay beside the seq range: they decide for the events before the upgrade,
 * and on PostgreSQL they let the planner skip months.
 */
export function buildAuditQuery(q: Queryable, dialect: Dialect, query: AuditQuery, range: SeqRange = {}) {
  let select = q.selectFrom('audit_events').selectAll();
  if (query.secretName !== undefined) select = select.where('secret_name', '=', query.secretName);
  if (query.accessor !== undefined) select = select.where('accessor', '=', query.accessor);
  if (query.since !== undefined) select = select.where('time', '>=', query.since);
  if (query.until !== undefined) select = select.where('time', '<', query.until);
  if (query.outcome !== undefined) select = select.where('outcome', '=', query.outcome);
  // SQLite: implied by the outcome, and spelled as the partial indexes' condition so that it uses
  // them. PostgreSQL proves it from the outcome itself, and would count it as a second filter
  // (estimating a few rows where thousands match, it then sorts them all instead of reading
  // the index in order).
  if (dialect === 'sqlite' && query.outcome !== undefined && query.outcome !== 'success') select = select.where(UNSUCCESSFUL);
  if (query.operation !== undefined) select = select.where('operation', '=', query.operation);
  const from = Math.max(range.from ?? -Infinity, query.afterSeq === undefined ? -Infinity : query.afterSeq + 1);
  if (from !== -Infinity) select = select.where('seq', '>=', from);
  if (range.to !== undefined) select = select.where('seq', '<=', range.to);
  return select.orderBy('seq', query.newestFirst ? 'desc' : 'asc').limit(query.limit);
}

/** The search as the store runs it, compiled (to look at its plan); null when it would not run. */
export async function compileAuditQuery(q: Queryable, dialect: Dialect, query: AuditQuery) {
  const range = await auditSeqRange(q, query, await readTimeOrder(q));
  return range ? buildAuditQuery(q, dialect, query, range).compile() : null;
}

export interface VerifiedMark { seq: number; hash: string; fullAt: number; mac: string }
const VERIFIED_MARK_KEY = 'audit_verified_mark';

import type { Kysely } from 'kysely';
import type { AuditEvent } from '../audit/audit-chain.js';
import type { AlertsConfig } from '../config/alerts-config.js';
import type { AlertStore } from '../storage/alert-store.js';
import type { AuditStore } from '../storage/audit-store.js';
import type { Database } from '../storage/schema.js';
import { environmentOf, READ_OPERATIONS, type AlertRule, type AuditRecord, type Finding } from './alert.types.js';
import { createAlertLedger } from './alert-ledger.js';
import { keyMemo } from './key-memo.js';
import { newId } from '../lib/ids.js';
import { createAlertDelivery } from './alert-delivery.js';
import type { Sink } from './alert-sinks.js';
import { stateFindings } from './state-rules.js';
import { createStreamRules, historySpanMs, type ReadingHours, type StreamHistory } from './stream-rules.js';

const HOUR = 3_600_000;
const DAY = 86_400_000;
const CURSOR = 'audit';
/** Where the first run started reading (seq) and when it ran (updated_at): it fires only for the hour before. */
const BACKFILL = 'audit_backfill';
const BATCH = 2000;
/** Rows of read history one prune statement deletes, and statements per run. */
const PRUNE_BATCH = 2000;
const PRUNE_CALLS_PER_RUN = 10;

export interface AlertEngineDeps {
  db: Kysely<Database>;
  alertStore: AlertStore;
  /** Audit events are only read, by seq, through the store (never through the append path). */
  auditStore: Pick<AuditStore, 'rulesPage' | 'cursorBefore'>;
  config: AlertsConfig;
  sinks: readonly Sink[];
  now: () => number;
  recordAudit: (event: AuditEvent) => Promise<void>;
  isSealed: () => boolean;
  /** Walks the audit chain (the periodic integrity check); absent: not checked. */
  verifyAudit?: () => Promise<{ ok: boolean; problem?: { seq: number; kind: string; message: string } }>;
  nodeId: string;
  /** Stop after this many events per run, so one run stays short; the next run continues. */
  maxEventsPerRun?: number;
}

/** From when the findings of a run fire, and the record of the first run (written with its first batch). */
interface Backfill {
  firesFrom: number;
  start?: { seq: number; at: number };
}

/** Where a run reads from: after `cursor`, firing for events from `backfill.firesFrom` on. */
interface StartingPoint {
  cursor: number;
  backfill: Backfill;
}

export interface EvaluationResult {
  events: number;
  fired: number;
  resolved: number;
  delivered: number;
  dead: number;
}

/**
 * The alert evaluator. Each run (on the leader only) reads the audit events after its
 * persisted cursor, in batches, runs the stream rules, and commits the cursor with the
 * alerts and the rules' history in one transaction per batch, so a restart or a new leader
 * resumes exactly after the last committed batch. Then the inventory rules, quiet-period
 * resolution and webhook delivery, all against the injected clock.
 */
export function createAlertEngine(deps: AlertEngineDeps) {
  const { db, alertStore, config } = deps;
  const stream = createStreamRules(config);
  const ledger = createAlertLedger({ db, alertStore, sinks: deps.sinks, recordAudit: deps.recordAudit });
  const delivery = createAlertDelivery({ db, alertStore, sinks: deps.sinks, config: config.delivery, now: deps.now, nodeId: deps.nodeId, recordAudit: deps.recordAudit, ledger });
  const rules = config.rules;
  // How long a stream alert stays firing after its last occurrence.
  const quietMs: Partial<Record<AlertRule, number>> = {
    off_hours: 6 * HOUR, first_time_access: HOUR, volume_spike: 3 * rules.volume_spike.window_minutes * 60_000,
    failure_burst: 3 * rules.failure_burst.window_minutes * 60_000, integrity: DAY,
  };
  const baselineCache = new Map<string, number>();
  // principal + hour -> its reads by local hour of day over the learned lookback (loaded once per hour).
  const profileCache = new Map<string, ReadingHours>();
  // Last read times already persisted: a pair is rewritten at most hourly (the lookback is in days).
  const persistedReads = new Map<string, number>();
  let lastStateCheck = -Infinity;
  let lastUnusedCheck = -Infinity;
  let lastVerifyAt = -Infinity;
  let lastVerify: Awaited<ReturnType<NonNullable<AlertEngineDeps['verifyAudit']>>> | undefined;
  let streamPrimed = false;
  // Time of the newest event consumed: the evaluator's "now" in the log, which read history is pruned against.
  let newestEventTime: number | undefined;
  let lastPruneAt = -Infinity;
  const historyHourKey = keyMemo();
  const baselineKey = keyMemo();
  const profileKey = keyMemo();
  const countHourKey = keyMemo();
  const readPairKey = keyMemo();

  async function historyFor(rows: AuditRecord[]): Promise<StreamHistory> {
    const lastReads = new Map<string, Map<string, number>>();
    const wanted = new Map<string, Set<string>>();
    const hours = new Set<string>();
    const profiles = new Set<string>();
    for (const e of rows) {
      if (e.outcome !== 'success' || !e.accessor || !e.secret_name || !READ_OPERATIONS.has(e.operation)) continue;
      const env = environmentOf(e.secret_name);
      if (rules.first_time_access.enabled && env && rules.first_time_access.environments.includes(env)) {
        let set = wanted.get(e.accessor);
        if (!set) wanted.set(e.accessor, (set = new Set()));
        set.add(e.secret_name);
      }
      if (rules.volume_spike.enabled) hours.add(historyHourKey(e.accessor, Math.floor(e.time / HOUR) * HOUR));
      if (rules.off_hours.enabled && rules.off_hours.learned.enabled && env && rules.off_hours.learned.environments.includes(env)) {
        profiles.add(historyHourKey(e.accessor, Math.floor(e.time / HOUR) * HOUR));
      }
    }
    for (const key of profiles) {
      if (profileCache.has(key)) continue;
      const [principal, hour] = key.split('\u0000') as [string, string];
      const to = Number(hour);
      const rows = await alertStore.readHours(db, principal, to - rules.off_hours.learned.days * DAY, to);
      const byHour = new Array<number>(24).fill(0);
      const days = new Set<number>();
      let reads = 0;
      for (const r of rows) {
        const local = r.hour_start + config.utc_offset_minutes * 60_000;
        byHour[new Date(local).getUTCHours()]! += r.reads;
        days.add(Math.floor(local / DAY));
        reads += r.reads;
      }
      if (profileCache.size > 100_000) profileCache.clear();
      profileCache.set(key, { byHour, reads, days: days.size });
    }
    for (const [principal, names] of wanted) lastReads.set(principal, await alertStore.lastReads(db, principal, [...names]));
    for (const key of hours) {
      if (baselineCache.has(key)) continue;
      const [principal, hour] = key.split('\u0000') as [string, string];
      const starts = Array.from({ length: rules.volume_spike.baseline_days }, (_, d) => Number(hour) - (d + 1) * DAY);
      if (baselineCache.size > 100_000) baselineCache.clear();
      baselineCache.set(key, await alertStore.readsInHours(db, principal, starts));
    }
    return {
      lastRead: (principal, secret) => lastReads.get(principal)?.get(secret),
      baselineReads: (principal, hourStart) => baselineCache.get(baselineKey(principal, hourStart)) ?? 0,
      readingHours: (principal, hourStart) => profileCache.get(profileKey(principal, hourStart)),
    };
  }

  async function consumeBatch(after: number, backfill: Backfill, result: EvaluationResult): Promise<number | undefined> {
    const rows = (await deps.auditStore.rulesPage(db, after, BATCH)) as AuditRecord[];
    if (rows.length === 0) return undefined;
    const history = await historyFor(rows);
    const findings: Finding[] = [];
    const readCounts = new Map<string, number>();
    const reads = new Map<string, { principal: string; secret_name: string; last_read_at: number }>();
    for (const e of rows) {
      for (const f of stream.evaluate(e, history)) if (f.time >= backfill.firesFrom) findings.push(f);
      if (e.outcome === 'success' && e.accessor && e.secret_name && READ_OPERATIONS.has(e.operation)) {
        const hourKey = countHourKey(e.accessor, Math.floor(e.time / HOUR) * HOUR);
        readCounts.set(hourKey, (readCounts.get(hourKey) ?? 0) + 1);
        const env = environmentOf(e.secret_name);
        if (env && rules.first_time_access.environments.includes(env)) {
          const pair = readPairKey(e.accessor, e.secret_name);
          const persisted = persistedReads.get(pair) ?? history.lastRead(e.accessor, e.secret_name);
          if (persisted === undefined || e.time - persisted >= HOUR || reads.has(pair)) reads.set(pair, { principal: e.accessor, secret_name: e.secret_name, last_read_at: e.time });
        }
      }
    }
    const last = Number(rows[rows.length - 1]!.seq);
    newestEventTime = Number(rows[rows.length - 1]!.time);
    const now = deps.now();
    const audits = await db.transaction().execute(async (tx) => {
      const events: AuditEvent[] = [];
      for (const f of findings) if (!ledger.refresh(f)) events.push(...(await ledger.apply(tx, f, now)));
      await ledger.flush(tx);
      await alertStore.addReadCounts(tx, [...readCounts].map(([k, n]) => {
        const [principal, hour] = k.split('\u0000') as [string, string];
        return { principal, hour_start: Number(hour), reads: n };
      }));
      await alertStore.recordReads(tx, [...reads.values()]);
      if (persistedReads.size > 200_000) persistedReads.clear();
      await alertStore.setCursor(tx, CURSOR, last, now);
      if (backfill.start) await alertStore.setCursor(tx, BACKFILL, backfill.start.seq, backfill.start.at);
      return events;
    });
    for (const [pair, r] of reads) persistedReads.set(pair, r.last_read_at);
    backfill.start = undefined;
    result.events += rows.length;
    result.fired += audits.length;
    await Promise.all(audits.map((e) => deps.recordAudit(e)));
    return last;
  }

  /**
   * Where this run reads from, and from when its findings fire. After the first run: from the
   * stored cursor, firing for events from the hour before the first run on (every event, for a
   * store whose first run predates that record), so a backlog longer than one run is not
   * replayed by the runs after the first either. The first run ever learns from the recent
   * past (last reads, hourly counts) but fires only for the last hour, so enabling alerts on an
   * old install does not replay history.
   *
   * The first run starts at the first event at or after the start of the hour before the last
   * one less historySpanMs (the longest span an enabled stream rule looks back over), found by
   * one seek on the time index. Older events can change no finding of an event that may fire:
   * audit time never decreases along the chain, so everything a rule reads to judge an event of
   * the last hour (or a later one) is at or after that point. All they could add is a last read
   * beyond every lookback (a first-time access fires either way; its `previous_read` fact is then
   * null, as for a pair never read) and hourly counts of hours no baseline or usual-hours profile
   * reaches. Reading from seq 0 took a log of 10^8 events a thousand runs to catch up.
   */
  async function startingPoint(): Promise<StartingPoint | undefined> {
    const stored = await alertStore.cursors(db, [CURSOR, BACKFILL]);
    const cursor = stored.get(CURSOR);
    if (cursor) {
      const firstRun = stored.get(BACKFILL);
      return catchUp({ cursor: cursor.seq, backfill: { firesFrom: firstRun ? firstRun.updatedAt - HOUR : -Infinity } });
    }
    const now = deps.now();
    const firesFrom = now - HOUR;
    const from = await horizonBefore(firesFrom);
    // No event that recent: nothing to learn from yet; the next run looks again.
    if (from === undefined) return undefined;
    return { cursor: from, backfill: { firesFrom, start: { seq: from, at: now } } };
  }

  /** The cursor before every event that can matter to one at or after `firesFrom` (the longest lookback before the start of its hour). */
  const horizonBefore = (firesFrom: number) => deps.auditStore.cursorBefore(db, Math.floor(firesFrom / HOUR) * HOUR - historySpanMs(config));

  /**
   * A backlog older than `catch_up_hours` (alerts disabled for weeks, a leader down for days, an
   * evaluator that cannot keep up) is not replayed: its events fire nothing, and those older than
   * the rules' lookback before it are not read at all. The skipped range is audited, so the gap
   * in alerting is on record. Without the bound, re-enabling alerts after a month fires a month of
   * stale alerts, at 100,000 events a run.
   */
  async function catchUp(point: StartingPoint): Promise<StartingPoint> {
    const now = deps.now();
    const catchUpFrom = now - config.catch_up_hours * HOUR;
    const backfill = { firesFrom: Math.max(point.backfill.firesFrom, catchUpFrom) };
    const horizon = await horizonBefore(catchUpFrom);
    if (horizon === undefined || horizon <= point.cursor) return { cursor: point.cursor, backfill };
    await alertStore.setCursor(db, CURSOR, horizon, now);
    await deps.recordAudit({
      time: now, requestId: newId(), accessor: null, source: null, operation: 'alert.backlog_skipped', secretName: null, versionId: null,
      outcome: 'success', errorCode: null, status: 200, latencyUs: 0,
      detail: { after_seq: point.cursor, through_seq: horizon, fires_from: new Date(catchUpFrom).toISOString(), node: deps.nodeId },
    });
    return { cursor: horizon, backfill };
  }

  /**
   * Drops read history no rule can look at any more: older, by a day, than the longest lookback
   * before the newest event consumed (events after it are no older). At most once an hour once
   * caught up; a large first prune goes in bounded statements over several runs.
   */
  async function pruneHistory(now: number): Promise<void> {
    if (newestEventTime === undefined || now - lastPruneAt < HOUR) return;
    const before = newestEventTime - historySpanMs(config) - DAY;
    for (let call = 0; call < PRUNE_CALLS_PER_RUN; call++) {
      if ((await alertStore.pruneReadHistory(db, before, PRUNE_BATCH)) < PRUNE_BATCH) {
        lastPruneAt = now;
        return;
      }
    }
  }

  async function checkState(now: number, result: EvaluationResult): Promise<void> {
    if (now - lastStateCheck < config.state_check_seconds * 1000) return;
    lastStateCheck = now;
    if (rules.integrity.enabled && deps.verifyAudit && now - lastVerifyAt >= rules.integrity.verify_every_minutes * 60_000) {
      lastVerifyAt = now;
      lastVerify = await deps.verifyAudit();
    }
    // Unused is measured in days and reads the whole inventory: hourly by default, not every state check.
    const unused = now - lastUnusedCheck >= rules.unused.check_every_seconds * 1000;
    if (unused) lastUnusedCheck = now;
    const found = await stateFindings(db, alertStore, config, now, { sealed: deps.isSealed(), verify: lastVerify, unused });
    const audits = await db.transaction().execute(async (tx) => {
      const events: AuditEvent[] = [];
      for (const [rule, list] of found) {
        const keys = new Set(list.map((f) => f.key));
        for (const f of list) events.push(...(await ledger.apply(tx, f, now)));
        for (const key of ledger.firingKeys(rule)) {
          if (key.startsWith('state:') && !keys.has(key)) events.push(...(await ledger.resolve(tx, rule, key, now)));
        }
      }
      await ledger.flush(tx);
      return events;
    });
    result.fired += audits.filter((e) => e.operation === 'alert.fired').length;
    result.resolved += audits.filter((e) => e.operation === 'alert.resolved').length;
    await Promise.all(audits.map((e) => deps.recordAudit(e)));
  }

  async function resolveQuiet(now: number, result: EvaluationResult): Promise<void> {
    const stale = (Object.keys(quietMs) as AlertRule[]).flatMap((rule) => ledger.stale([rule], now - quietMs[rule]!, (key) => !key.startsWith('state:')));
    if (stale.length === 0) return;
    const audits = await db.transaction().execute(async (tx) => {
      const events: AuditEvent[] = [];
      for (const s of stale) events.push(...(await ledger.resolve(tx, s.rule, s.key, now)));
      return events;
    });
    result.resolved += audits.length;
    await Promise.all(audits.map((e) => deps.recordAudit(e)));
  }

  return {
    /** One evaluation run: new audit events, inventory rules, quiet resolution, due deliveries. */
    async evaluate(): Promise<EvaluationResult> {
      const result: EvaluationResult = { events: 0, fired: 0, resolved: 0, delivered: 0, dead: 0 };
      if (!config.enabled) return result;
      await ledger.load();
      const start = await startingPoint();
      if (!streamPrimed) {
        stream.reset();
        streamPrimed = true;
      }
      let cursor = start?.cursor;
      const limit = deps.maxEventsPerRun ?? 100_000;
      while (cursor !== undefined && result.events < limit) {
        const next = await consumeBatch(cursor, start!.backfill, result);
        if (next === undefined) break;
        cursor = next;
        // On SQLite every query resolves without a turn of the event loop: a backlog of 100,000
        // events would hold the thread for seconds, and the node answer no request meanwhile.
        await new Promise((resolve) => setImmediate(resolve));
      }
      const now = deps.now();
      await pruneHistory(now);
      await checkState(now, result);
      await resolveQuiet(now, result);
      const delivered = await delivery.deliverDue();
      result.delivered = delivered.delivered;
      result.dead = delivered.dead;
      return result;
    },
    /** Drops in-memory windows: call when this node loses leadership (the next leader starts from the database). */
    forget(): void {
      streamPrimed = false;
      baselineCache.clear();
      persistedReads.clear();
    },
  };
}

export type AlertEngine = ReturnType<typeof createAlertEngine>;

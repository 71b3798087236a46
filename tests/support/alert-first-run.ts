import assert from 'node:assert/strict';
import type { Storage } from '../../src/storage/database.js';
import { alertKit, DAY, HOUR, MINUTE, type AlertKit } from './alert-kit.js';

/**
 * The alert evaluator's first run over a log that reaches far back, as scripted histories run on
 * SQLite (src/alerts/alert-first-run.test.ts) and PostgreSQL (tests/contract/alerts-postgres.test.ts).
 * The first run reads from the start of the hour before the last one, less the longest span the
 * enabled rules look back over (here first-time access, 30 days): no older event, while the
 * days of history a baseline needs are read, and only the last hour fires, in every run of the backlog.
 */
export const FIRST_RUN_NOW = Date.UTC(2026, 8, 1, 10, 30); // Tuesday
/** 09:00, the hour before the last one, less first-time access's 30 days. */
export const FIRST_RUN_HORIZON = Date.UTC(2026, 8, 1, 9) - 30 * DAY;

const withoutStateRules = { state_check_seconds: 1, rules: { off_hours: { enabled: false }, expiring: { enabled: false }, rotation: { enabled: false }, unused: { enabled: false } } };
const config = (rules: Record<string, unknown>) => ({ ...withoutStateRules, rules: { ...withoutStateRules.rules, ...rules } });

async function withKit(storage: Storage, kitConfig: Record<string, unknown>, options: { maxEventsPerRun?: number }, fn: (kit: AlertKit) => Promise<void>): Promise<void> {
  const kit = await alertKit(kitConfig, { start: FIRST_RUN_NOW, storage, ...options });
  try {
    await fn(kit);
  } finally {
    await kit.close();
  }
}

/** Recorded in the order given, in one go (the log chains them in that order, in batches). */
const all = (writes: Promise<void>[]) => Promise.all(writes);

type Write = [time: number, write: (time: number) => Promise<void>];
/**
 * Recorded in time order: the log never stamps an event earlier than the one before it, so an
 * event recorded out of order would take its predecessor's time.
 */
const inTimeOrder = (writes: Write[]) => all([...writes].sort((a, b) => a[0] - b[0]).map(([time, write]) => write(time)));

/** Reads `perHour` times by `principal` in the 10:00 hour of each of the 7 days before FIRST_RUN_NOW. */
function baselineReads(kit: AlertKit, principal: string, perHour: number): Write[] {
  const writes: Write[] = [];
  for (let d = 7; d >= 1; d--) for (let i = 0; i < perHour; i++) writes.push([Date.UTC(2026, 8, 1 - d, 10) + i * Math.floor(HOUR / perHour), (t) => kit.read(principal, 'dev/etl/db', t)]);
  return writes;
}
const failAt = (kit: AlertKit, accessor: string) => (time: number) => kit.fail({ accessor, code: 'permission_denied', time });

export async function firstRunReadsFromTheHorizon(storage: Storage): Promise<void> {
  await withKit(storage, config({ volume_spike: { factor: 5, min_reads: 5 }, failure_burst: { threshold: 3 } }), {}, async (kit) => {
    const now = FIRST_RUN_NOW;
    const old: Write[] = [
      [now - 45 * DAY, (t) => kit.read('acc_old', 'prod/etl/db', t)],
      ...[0, 1, 2].map((i): Write => [now - 50 * DAY + i, failAt(kit, 'acc_ancient')]),
      ...Array.from({ length: 20 }, (_, i): Write => [now - 40 * DAY + i * MINUTE, (t) => kit.read('acc_filler', 'dev/etl/db', t)]),
      [FIRST_RUN_HORIZON - 1, (t) => kit.read('acc_edge', 'prod/etl/edge', t)],
    ];
    await inTimeOrder(old);
    const inside: Write[] = [
      [FIRST_RUN_HORIZON, (t) => kit.read('acc_edge', 'prod/etl/edge', t)],
      [now - 10 * DAY, (t) => kit.read('acc_recent', 'prod/etl/db', t)],
      // acc_spike: 12 reads in each 10:00 hour (1 per 5 minutes); acc_steady: 60 (5 per 5 minutes).
      ...baselineReads(kit, 'acc_spike', 12),
      ...baselineReads(kit, 'acc_steady', 60),
      ...[0, 1, 2].map((i): Write => [now - 5 * HOUR + i, failAt(kit, 'acc_bad_old')]),
      ...[0, 1, 2].map((i): Write => [now - 20 * MINUTE + i, failAt(kit, 'acc_bad')]),
    ];
    await inTimeOrder(inside);

    const first = await kit.evaluate();
    // The run goes on reading what it appended itself: the alert.fired event of the burst.
    assert.equal(first.events, inside.length + 1, `the first run reads the ${inside.length} events from the horizon on, none of the ${old.length} before it`);
    assert.deepEqual((await kit.alerts()).map((a) => `${a.rule}:${a.principal}`), ['failure_burst:acc_bad'], 'of what it read, only the last hour fires');

    kit.now = now + MINUTE;
    await all([
      kit.read('acc_old', 'prod/etl/db'),
      kit.read('acc_recent', 'prod/etl/db'),
      ...Array.from({ length: 6 }, (_, i) => kit.read('acc_spike', 'dev/etl/db', kit.now + i * 1000)),
      ...Array.from({ length: 10 }, (_, i) => kit.read('acc_steady', 'dev/etl/db', kit.now + i * 1000)),
    ]);
    kit.now = now + 2 * MINUTE;
    await kit.evaluate();
    const alerts = await kit.alerts();
    assert.deepEqual(alerts.map((a) => `${a.rule}:${a.principal}`).sort(), ['failure_burst:acc_bad', 'first_time_access:acc_old', 'volume_spike:acc_spike'],
      'acc_recent read 10 days ago (inside the horizon); acc_steady\'s 10 reads are under 5 × its baseline of 5');
    const spike = JSON.parse(alerts.find((a) => a.rule === 'volume_spike')!.facts);
    assert.equal(spike.baseline, 1, 'the baseline saw all 7 days of acc_spike\'s history');
    const firstTime = JSON.parse(alerts.find((a) => a.rule === 'first_time_access')!.facts);
    assert.equal(firstTime.previous_read, null, 'a read older than the lookback is not learned: it could not have changed the finding');
  });
}

export async function backlogFiresOnlyTheLastHourInEveryRun(storage: Storage): Promise<void> {
  // One batch (2,000 events) per run: the backlog takes two runs, with a restart between them.
  await withKit(storage, config({ volume_spike: { enabled: false }, failure_burst: { threshold: 3 } }), { maxEventsPerRun: 1 }, async (kit) => {
    const now = FIRST_RUN_NOW;
    await all(Array.from({ length: 2000 }, (_, i) => kit.read('acc_filler', 'dev/etl/db', now - 3 * DAY + i * 1000)));
    await all([0, 1, 2].map((i) => failAt(kit, 'acc_bad_old')(now - 2 * DAY + i)));
    await all([0, 1, 2].map((i) => failAt(kit, 'acc_bad')(now - 10 * MINUTE + i)));
    const first = await kit.evaluate();
    assert.deepEqual([first.events, first.fired], [2000, 0]);
    kit.restart();
    kit.now = now + MINUTE;
    const second = await kit.evaluate();
    assert.equal(second.events, 6);
    assert.deepEqual((await kit.alerts()).map((a) => `${a.rule}:${a.principal}`), ['failure_burst:acc_bad'], 'the burst of two days ago is history still, in the second run');
  });
}

export async function firstRunWithNothingRecentWaits(storage: Storage): Promise<void> {
  await withKit(storage, config({ volume_spike: { enabled: false }, failure_burst: { threshold: 3 } }), {}, async (kit) => {
    await all([0, 1, 2].map((i) => failAt(kit, 'acc_ancient')(FIRST_RUN_NOW - 60 * DAY + i)));
    assert.equal((await kit.evaluate()).events, 0, 'nothing since the horizon: nothing read');
    await all([0, 1, 2].map((i) => failAt(kit, 'acc_bad')(FIRST_RUN_NOW + i)));
    const next = await kit.evaluate();
    assert.deepEqual([next.events, next.fired], [3 + 1, 1], 'the next run starts from the horizon again and finds the new events (and the alert.fired it appended)');
  });
}

/**
 * Alerts paused for 40 days, then evaluated again: the backlog before `catch_up_hours` (24) fires
 * nothing, what is older than the rules' lookback before that is not read at all, the skip is
 * audited once, and what falls between is still learned from.
 */
export async function pausedBacklogIsNotReplayed(storage: Storage): Promise<void> {
  await withKit(storage, config({ volume_spike: { enabled: false }, failure_burst: { threshold: 3 } }), {}, async (kit) => {
    const now = FIRST_RUN_NOW;
    await all([0, 1, 2].map((i) => failAt(kit, 'acc_start')(now - 10 * MINUTE + i)));
    await kit.evaluate();
    const back = now + 40 * DAY;
    // Not read: older than 30 days (first-time access's lookback) before the catch-up window.
    await inTimeOrder([0, 1, 2].map((i): Write => [now + 5 * DAY + i, failAt(kit, 'acc_ancient')]));
    const skippedThrough = await lastSeq(kit);
    // Read (learned from) but not fired: inside the lookback, before the catch-up window.
    await inTimeOrder([
      [now + 20 * DAY, (t) => kit.read('acc_learn', 'prod/etl/x', t)],
      ...[0, 1, 2].map((i): Write => [now + 20 * DAY + MINUTE + i, failAt(kit, 'acc_stale')]),
      // Within the window: not a first-time access (read 20 days ago, learned above); the burst fires.
      [back - 2 * HOUR, (t) => kit.read('acc_learn', 'prod/etl/x', t)],
      ...[0, 1, 2].map((i): Write => [back - HOUR + i, failAt(kit, 'acc_new')]),
    ]);
    kit.now = back;
    const run = await kit.evaluate();
    assert.equal(run.events, 1 + 3 + 1 + 3 + 2, 'the read and the burst 20 days back, the last two hours, and the alert.backlog_skipped and alert.fired events it appended');
    assert.deepEqual((await kit.alerts()).map((a) => `${a.rule}:${a.principal}`).sort(), ['failure_burst:acc_new', 'failure_burst:acc_start']);
    const skipped = await kit.auditOps('alert.backlog_skipped');
    assert.equal(skipped.length, 1);
    const detail = JSON.parse(skipped[0]!.detail!) as { after_seq: number; through_seq: number; fires_from: string };
    assert.equal(detail.through_seq, skippedThrough, 'the cursor jumped over exactly the events older than the lookback');
    assert.ok(detail.after_seq < detail.through_seq);
    assert.equal(detail.fires_from, new Date(back - 24 * HOUR).toISOString());
    kit.restart();
    kit.now = back + MINUTE;
    await kit.evaluate();
    assert.equal((await kit.auditOps('alert.backlog_skipped')).length, 1, 'caught up: no second skip');
  });
}

async function lastSeq(kit: AlertKit): Promise<number> {
  const row = await kit.db.selectFrom('audit_events').select((eb) => eb.fn.max('seq').as('seq')).executeTakeFirstOrThrow();
  return Number(row.seq);
}

/**
 * Read history older than the longest lookback before the newest event read is deleted, in
 * bounded statements (2,000 rows, 10 per run), at most hourly once caught up; newer history stays.
 */
export async function readHistoryIsPrunedPastTheLookback(storage: Storage): Promise<void> {
  await withKit(storage, config({ volume_spike: { enabled: false }, failure_burst: { threshold: 3 } }), {}, async (kit) => {
    const now = FIRST_RUN_NOW;
    const old = now - 40 * DAY;
    await kit.alertStore.addReadCounts(kit.db, Array.from({ length: 25_000 }, (_, i) => ({ principal: `acc_${i % 50}`, hour_start: old - Math.floor(i / 50) * HOUR, reads: 1 })));
    await kit.alertStore.recordReads(kit.db, [{ principal: 'acc_old', secret_name: 'prod/etl/db', last_read_at: old }]);
    await kit.read('acc_now', 'prod/etl/db', now - 10 * MINUTE);
    const counts = async () => Number((await kit.db.selectFrom('alert_read_counts').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    const oldAccess = async () => (await kit.db.selectFrom('alert_access').select('principal').where('last_read_at', '<', now - 31 * DAY).execute()).length;
    await kit.evaluate();
    assert.equal(await counts(), 25_000 - 20_000 + 1, 'one run deletes at most 10 × 2,000 counts (and the old last read), oldest first; the new hour stays');
    kit.now = now + 5000;
    await kit.evaluate();
    assert.equal(await counts(), 1, 'the next run finishes: only the hour of acc_now\'s read is left');
    assert.equal(await oldAccess(), 0);
    assert.deepEqual((await kit.db.selectFrom('alert_access').select('principal').execute()).map((r) => r.principal), ['acc_now']);
    await kit.alertStore.addReadCounts(kit.db, [{ principal: 'acc_late', hour_start: old, reads: 1 }]);
    kit.now = now + 20 * MINUTE;
    await kit.read('acc_now', 'dev/etl/db');
    await kit.evaluate();
    assert.equal(await counts(), 2, 'caught up: no prune within the hour');
    kit.now = now + 2 * HOUR;
    await kit.read('acc_now', 'dev/etl/db');
    await kit.evaluate();
    assert.equal(await counts(), 2, 'an hour later the old row is gone (and the new hour is counted)');
  });
}

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

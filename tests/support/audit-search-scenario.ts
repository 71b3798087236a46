import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chainRows, GENESIS_HASH, headMac, type AuditEvent } from '../../src/audit/audit-chain.js';
import { createAuditLog } from '../../src/audit/audit-log.js';
import { buildAuditQuery, createAuditStore, type AuditQuery, type AuditRow } from '../../src/storage/audit-store.js';
import { markAuditTimeOrder } from '../../src/storage/migrations/038-audit-time-order.js';
import type { Storage } from '../../src/storage/database.js';
import { prng } from './prng.js';

/**
 * Audit searches bounded by time answer exactly what they answered before the seq bounds
 * (audit-store.ts auditSeqRange), on a log whose clock has ties, steps back, and events that
 * reach the log late; `upgraded` puts events stored out of time order (before migration 038)
 * in front. Compared, query by random query, with the same search without seq bounds and with
 * a filter over every row.
 */
const HOUR = 3_600_000;
export const SEARCH_START = Date.UTC(2025, 0, 20);


export async function checkSearchesMatch(storage: Storage, options: { upgraded: boolean; seed: number; queries?: number }): Promise<{ compared: number; nonEmpty: number }> {
  const random = prng(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const auditStore = createAuditStore(storage.dialect);
  const key = randomBytes(32);
  const event = (time: number, i: number): AuditEvent => ({
    time, requestId: `r${i}`, accessor: pick(['acc1', 'acc2', 'acc3']), source: null, operation: pick(['secret.read', 'secret.write']),
    secretName: pick(['prod/a', 'prod/b', null]), versionId: null, outcome: pick(['success', 'success', 'denied', 'failure'] as const), errorCode: null, status: 200, latencyUs: 1,
  });
  let head = { seq: 0, hash: GENESIS_HASH };
  if (options.upgraded) {
    // As the earlier version wrote them: each event's own time, in any order (no floor).
    for (let i = 0; i < 150; i++) {
      const [row] = chainRows(key, head, [event(SEARCH_START + Math.floor(random() * 40 * 24) * HOUR, i)]);
      await auditStore.insertMany(storage.db, [row!]);
      head = { seq: row!.seq, hash: row!.hash };
    }
    await markAuditTimeOrder(storage.db);
  }
  await auditStore.setHeadCheckpoint(storage.db, { ...head, mac: headMac(key, head.seq, head.hash) });

  let clock = SEARCH_START + 10 * 24 * HOUR;
  const log = createAuditLog({ db: storage.db, auditStore, chainKey: () => key, isSealed: () => false, now: () => clock, onError: (e) => assert.fail(String(e)) });
  try {
    for (let i = 0; i < 40; i++) {
      // Batches of concurrent events: ties, late events (stamped before the head), and the clock stepping back by up to two days.
      const roll = random();
      clock += roll < 0.2 ? 0 : roll < 0.35 ? -Math.floor(random() * 48) * HOUR : Math.floor(random() * 30) * HOUR;
      await Promise.all(Array.from({ length: 1 + Math.floor(random() * 12) }, (_, j) => log.record(event(clock - (random() < 0.3 ? Math.floor(random() * 5) * HOUR : 0), 1000 + i * 100 + j))));
    }
    const verified = await log.verify();
    assert.equal(verified.ok, true, JSON.stringify(verified.problem));
  } finally {
    await log.close();
  }

  const all = (await storage.db.selectFrom('audit_events').selectAll().orderBy('seq').execute()).map((r) => ({ ...r, seq: Number(r.seq), time: Number(r.time) }));
  const firstNew = options.upgraded ? 151 : 1;
  const appended = all.filter((r) => r.seq >= firstNew);
  for (let i = 1; i < appended.length; i++) assert.ok(appended[i]!.time >= appended[i - 1]!.time, `event ${appended[i]!.seq} is stamped before the one it follows`);
  if (options.upgraded) assert.ok(all.some((r, i) => i > 0 && i < 150 && r.time < all[i - 1]!.time), 'the earlier events are out of time order');

  const lo = Math.min(...all.map((r) => r.time)) - HOUR;
  const hi = Math.max(...all.map((r) => r.time)) + HOUR;
  const someTime = () => (random() < 0.5 ? pick(all).time : lo + Math.floor(random() * (hi - lo)));
  let nonEmpty = 0;
  const total = options.queries ?? 300;
  for (let n = 0; n < total; n++) {
    const query: AuditQuery = { limit: 1 + Math.floor(random() * 40), newestFirst: random() < 0.4 };
    if (random() < 0.8) query.since = someTime();
    if (random() < 0.6) query.until = someTime();
    if (random() < 0.3) query.outcome = pick(['success', 'denied', 'failure']);
    if (random() < 0.25) query.accessor = pick(['acc1', 'acc2', 'acc3']);
    if (random() < 0.25) query.secretName = pick(['prod/a', 'prod/b']);
    if (random() < 0.15) query.operation = pick(['secret.read', 'secret.write']);
    if (random() < 0.2) query.afterSeq = pick(all).seq;
    const seqs = (rows: AuditRow[]) => rows.map((r) => Number(r.seq));
    const got = seqs(await auditStore.query(storage.db, query));
    const before = seqs(await buildAuditQuery(storage.db, storage.dialect, query).execute());
    const matching = all.filter((r) => (query.since === undefined || r.time >= query.since) && (query.until === undefined || r.time < query.until)
      && (query.outcome === undefined || r.outcome === query.outcome) && (query.accessor === undefined || r.accessor === query.accessor)
      && (query.secretName === undefined || r.secret_name === query.secretName) && (query.operation === undefined || r.operation === query.operation)
      && (query.afterSeq === undefined || r.seq > query.afterSeq));
    const expected = (query.newestFirst ? matching.reverse() : matching).slice(0, query.limit).map((r) => r.seq);
    assert.deepEqual(before, expected, `the unbounded search itself: ${JSON.stringify(query)}`);
    assert.deepEqual(got, expected, JSON.stringify(query));
    if (got.length > 0) nonEmpty += 1;
  }
  return { compared: total, nonEmpty };
}

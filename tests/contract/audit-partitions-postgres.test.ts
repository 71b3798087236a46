import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { createAuditStore } from '../../src/storage/audit-store.js';
import { ensureMonthPartitions, listPartitions, monthOf, partitionAuditEvents } from '../../src/storage/audit-partitions.js';
import { createAuditLog, type AuditEvent } from '../../src/audit/audit-log.js';
import { startPostgresCluster, type PostgresCluster } from '../support/postgres-cluster.js';

/**
 * Audit events on PostgreSQL live in month partitions: retention drops whole months, and what
 * remains verifies from the anchor across the dropped boundary. The clock is the test's.
 */
let cluster: PostgresCluster;
let storage: Storage;
let clock = Date.UTC(2025, 0, 15);
const key = randomBytes(32);
const auditStore = createAuditStore('postgres');
let log: ReturnType<typeof createAuditLog>;
const errors: unknown[] = [];

before(async () => {
  cluster = await startPostgresCluster();
  const { url, password } = await cluster.createDatabase();
  storage = await openStorage({ url, password });
  log = createAuditLog({ db: storage.db, auditStore, chainKey: () => key, isSealed: () => false, now: () => clock, onError: (e) => errors.push(e) });
  await log.initializeChain();
});
after(async () => {
  await log?.close();
  await storage?.close();
  await cluster?.stop();
});

const event = (operation: string, time = clock): AuditEvent => ({
  time, requestId: `req_${operation}`, accessor: 'acc_test', source: '127.0.0.1', operation, secretName: 'prod/etl/db', versionId: null,
  outcome: 'success', errorCode: null, status: 200, latencyUs: 10,
});
const month = (i: number) => Date.UTC(2025, i, 15); // i = 0 is January 2025
const stored = async () => (await sql<{ operation: string }>`select operation from audit_events order by seq`.execute(storage.db)).rows.map((r) => r.operation);
const inDefault = async () => Number((await sql<{ n: string }>`select count(*) as n from audit_events_default`.execute(storage.db)).rows[0]!.n);

test('the migrated table is partitioned by month, with a default partition and the coming months ready', async () => {
  const kind = await sql<{ relkind: string }>`select relkind from pg_class where oid = to_regclass('audit_events')`.execute(storage.db);
  assert.equal(kind.rows[0]!.relkind, 'p');
  const names = await listPartitions(storage.db);
  assert.ok(names.includes('audit_events_default'));
  assert.ok(names.includes(monthOf(Date.now()).name), 'this month has its partition');
  assert.deepEqual(await auditStore.months.ensure(storage.db, Date.now()), [], 'ensuring again creates nothing');
});

test('retention drops whole months, deletes the partial month and stray events in batches, and the rest verifies from the anchor', async () => {
  // Fifteen months, Jan 2025 .. Mar 2026, with a partition for each except May 2025.
  await ensureMonthPartitions(storage.db, Array.from({ length: 15 }, (_, i) => month(i)).filter((_, i) => i !== 4));
  for (let i = 0; i < 15; i++) {
    clock = month(i);
    for (let j = 0; j < 4; j++) await log.record(event(`m${i}-${j}`));
    // A node whose clock runs ahead: a February event stamped 1 March. Time never goes back
    // along the chain, so the February event after it is stamped 1 March too (chainRows).
    if (i === 1) await log.record(event('feb-stamped-march', Date.UTC(2025, 2, 1)));
    if (i === 1) await log.record(event('m1-last'));
  }
  assert.equal(await inDefault(), 4, 'May 2025 had no partition: its events went to the default one');
  assert.equal((await log.verify()).ok, true);

  const stampedMarch = (await sql<{ operation: string }>`select operation from audit_events_p202503 where time = ${Date.UTC(2025, 2, 1)} order by seq`.execute(storage.db)).rows.map((r) => r.operation);
  // 20 March 2026, one year's retention: cutoff 20 March 2025.
  clock = Date.UTC(2026, 2, 20);
  const batches: number[] = [];
  const pruned = await log.prune(365, { batchSize: 3, onBatch: (n) => batches.push(n) });
  // January (4) and February (4) as two months dropped, then March's 6 (its 4 and the two
  // stamped 1 March) in batches of at most 3.
  assert.equal(pruned, 4 + 4 + 6);
  assert.deepEqual(batches, [4, 4, 3, 3]);
  assert.deepEqual(stampedMarch, ['feb-stamped-march', 'm1-last']);
  const names = await listPartitions(storage.db);
  assert.ok(!names.includes('audit_events_p202501') && !names.includes('audit_events_p202502'), 'whole months dropped');
  assert.ok(names.includes('audit_events_p202503'), 'the month holding the cutoff stays');
  const remaining = await stored();
  assert.equal(remaining[0], 'm3-0');
  assert.ok(!remaining.includes('feb-stamped-march'));
  const verified = await log.verify();
  assert.equal(verified.ok, true, JSON.stringify(verified.problem));
  assert.equal(verified.checked, remaining.length);
  assert.equal(await log.prune(365), 0, 'pruning again removes nothing');

  // Appends chain on from the head; a later prune reaches the default partition's events too.
  await log.record(event('after-prune'));
  clock = Date.UTC(2026, 7, 20); // cutoff 20 August 2025: March (now empty) .. July dropped, May and August deleted
  assert.equal(await log.prune(365), 4 * 4 + 4);
  assert.equal(await inDefault(), 0, 'May 2025, kept in the default partition, is deleted by batches');
  const after = await log.verify();
  assert.equal(after.ok, true, JSON.stringify(after.problem));
  assert.equal((await stored())[0], 'm8-0');
  assert.deepEqual(errors, []);
});

test('after months are dropped, an altered event is still found', async () => {
  await sql`update audit_events set detail = '{"x":1}' where operation = 'm9-1'`.execute(storage.db);
  const result = await log.verify();
  assert.equal(result.ok, false);
  assert.equal(result.problem?.kind, 'altered');
});

test('the migration keeps every event of a store that had the plain table, and the chain still verifies', async () => {
  const { url, password } = await cluster.createDatabase();
  const other = await openStorage({ url, password });
  let otherClock = Date.UTC(2025, 10, 3);
  const otherLog = createAuditLog({ db: other.db, auditStore, chainKey: () => key, isSealed: () => false, now: () => otherClock, onError: (e) => errors.push(e) });
  try {
    await otherLog.initializeChain();
    // The table as it was before the migration (001/005), holding a chain over three months.
    await sql`drop table audit_events`.execute(other.db);
    await sql`create table audit_events (seq bigint primary key, time bigint not null, request_id text not null, accessor text, source text,
      operation text not null, secret_name text, version_id text, outcome text not null, error_code text, status integer not null,
      latency_us bigint not null, detail text, prev_hash text not null, hash text not null)`.execute(other.db);
    await sql`create index audit_by_time on audit_events (time)`.execute(other.db);
    await sql`create index audit_by_secret on audit_events (secret_name, seq)`.execute(other.db);
    await sql`create index audit_by_accessor on audit_events (accessor, seq)`.execute(other.db);
    for (let i = 0; i < 9; i++) {
      otherClock = Date.UTC(2025, 10 + Math.floor(i / 3), 3 + i);
      await otherLog.record(event(`before-${i}`, otherClock));
    }
    assert.equal((await otherLog.verify()).ok, true);

    await partitionAuditEvents(other.db);
    const names = await listPartitions(other.db);
    for (const m of ['audit_events_p202511', 'audit_events_p202512', 'audit_events_p202601']) assert.ok(names.includes(m), m);
    const rows = (await sql<{ operation: string }>`select operation from audit_events order by seq`.execute(other.db)).rows;
    assert.deepEqual(rows.map((r) => r.operation), Array.from({ length: 9 }, (_, i) => `before-${i}`));
    const verified = await otherLog.verify();
    assert.equal(verified.ok, true, JSON.stringify(verified.problem));
    assert.equal(verified.checked, 9);
    await otherLog.record(event('after-migration', Date.UTC(2026, 0, 20)));
    assert.equal((await otherLog.verify()).ok, true);
  } finally {
    await otherLog.close();
    await other.close();
  }
});

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createAuditStore } from '../storage/audit-store.js';
import { openStorage, type Storage } from '../storage/database.js';
import SqliteDatabase from 'better-sqlite3';
import { createAuditLog, createSqliteAppender, type AuditEvent } from './audit-log.js';
import { createChainGuard } from './chain-guard.js';

const DAY = 86_400_000;

/** The audit log over a real SQLite file, with a clock the test controls. */
describe('audit log retention and verification', () => {
  let dir: string;
  let storage: Storage;
  let clock = Date.UTC(2026, 0, 1);
  const errors: unknown[] = [];
  const key = randomBytes(32);
  let log: ReturnType<typeof createAuditLog>;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'custos-audit-'));
    storage = await openStorage({ url: `sqlite:${path.join(dir, 'audit.db')}` });
    log = createAuditLog({
      db: storage.db, auditStore: createAuditStore(storage.dialect), chainKey: () => key, isSealed: () => false, now: () => clock,
      onError: (error) => errors.push(error),
    });
    await log.initializeChain();
  });
  after(async () => {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const event = (operation: string): AuditEvent => ({
    time: clock, requestId: `req_${operation}`, accessor: 'acc_test', source: '127.0.0.1', operation, secretName: 'dev/a', versionId: null,
    outcome: 'success', errorCode: null, status: 200, latencyUs: 12.5,
  });

  test('pruning events past retention keeps verification of the rest, and the chain continues from the anchor', async () => {
    // 10 events on day 0, 5 on day 100, 5 on day 400.
    for (let i = 0; i < 10; i++) await log.record(event(`old-${i}`));
    clock += 100 * DAY;
    for (let i = 0; i < 5; i++) await log.record(event(`middle-${i}`));
    clock += 300 * DAY;
    for (let i = 0; i < 5; i++) await log.record(event(`new-${i}`));
    const full = await log.verify();
    assert.deepEqual({ ok: full.ok, checked: full.checked, firstSeq: full.firstSeq, lastSeq: full.lastSeq, breaks: full.acknowledgedBreaks }, { ok: true, checked: 20, firstSeq: 1, lastSeq: 20, breaks: [] });

    // Retention 365 days at day 400: only the day-0 events go.
    assert.equal(await log.prune(365), 10);
    const afterPrune = await log.verify();
    assert.equal(afterPrune.ok, true, JSON.stringify(afterPrune));
    assert.equal(afterPrune.checked, 10);
    assert.equal(afterPrune.firstSeq, 11);
    assert.equal(afterPrune.lastSeq, 20);
    assert.equal(await log.prune(365), 0, 'pruning again removes nothing');

    // New events chain on, and a second prune that removes every event still verifies.
    await log.record(event('after-prune'));
    assert.equal((await log.verify()).ok, true);
    clock += 1000 * DAY;
    assert.equal(await log.prune(365), 11);
    const empty = await log.verify();
    assert.equal(empty.ok, true, JSON.stringify(empty));
    assert.equal(empty.checked, 0);
    await log.record(event('after-everything-pruned'));
    const resumed = await log.verify();
    assert.equal(resumed.ok, true, JSON.stringify(resumed));
    assert.equal(resumed.firstSeq, 22, 'sequence numbers continue after the anchor');
    assert.deepEqual(errors, []);
  });

  test('retention prunes in bounded batches, each its own transaction, and appends made between batches chain on', async () => {
    const start = clock;
    for (let i = 0; i < 10; i++) await log.record(event(`batch-old-${i}`));
    clock += 400 * DAY;
    const batches: number[] = [];
    const appended: Promise<void>[] = [];
    const pruned = await log.prune(365, {
      batchSize: 3,
      onBatch: (deleted) => {
        batches.push(deleted);
        appended.push(log.record(event(`during-prune-${batches.length}`)));
      },
    });
    await Promise.all(appended);
    const remaining = await storage.db.selectFrom('audit_events').select(['operation', 'time']).orderBy('seq').execute();
    assert.ok(remaining.every((r) => r.time >= start + 400 * DAY - 365 * DAY), 'nothing older than the retention period is left');
    // The ten old events, and any left over from the tests before, went three at a time.
    assert.ok(batches.length >= 4, JSON.stringify(batches));
    assert.ok(batches.slice(0, -1).every((n) => n === 3) && batches.at(-1)! >= 1 && batches.at(-1)! <= 3, JSON.stringify(batches));
    assert.equal(pruned, batches.reduce((a, b) => a + b, 0));
    assert.deepEqual(remaining.slice(-batches.length).map((r) => r.operation), batches.map((_, i) => `during-prune-${i + 1}`), 'appends made between batches are kept');
    const verified = await log.verify();
    assert.equal(verified.ok, true, JSON.stringify(verified));
    assert.deepEqual(errors, []);
  });

  test('verify reports an altered event and a missing one; pruning does not hide tampering of what remains', async () => {
    for (let i = 0; i < 5; i++) await log.record(event(`t-${i}`));
    const rows = await storage.db.selectFrom('audit_events').select(['seq', 'outcome']).orderBy('seq').execute();
    const target = rows[2]!.seq;
    await storage.db.updateTable('audit_events').set({ outcome: 'denied' }).where('seq', '=', target).execute();
    const altered = await log.verify();
    assert.equal(altered.ok, false);
    assert.deepEqual(altered.problem && { seq: altered.problem.seq, kind: altered.problem.kind }, { seq: target, kind: 'altered' });
    await storage.db.updateTable('audit_events').set({ outcome: 'success' }).where('seq', '=', target).execute();
    const restored = await log.verify();
    assert.equal(restored.ok, false, 'restoring the original value does not undo the detection');
    assert.match(restored.tampered ?? '', /was altered/, '... but the log stays tampered until an operator acknowledges the break');
    await assert.rejects(log.record(event('after-break')), (error: { code?: string }) => error.code === 'audit_tampered');

    await storage.db.deleteFrom('audit_events').where('seq', '=', target).execute();
    const missing = await log.verify();
    assert.equal(missing.ok, false);
    assert.deepEqual(missing.problem && { seq: missing.problem.seq, kind: missing.problem.kind }, { seq: target, kind: 'missing' });
  });

  test('truncation at either end is reported: deleted newest events, deleted oldest events with a rewritten anchor', async () => {
    const fresh = await openStorage({ url: `sqlite:${path.join(dir, 'truncate.db')}` });
    try {
      const l = createAuditLog({ db: fresh.db, auditStore: createAuditStore(fresh.dialect), chainKey: () => key, isSealed: () => false, now: () => clock, onError: () => undefined });
      await l.initializeChain();
      for (let i = 0; i < 8; i++) await l.record(event(`x-${i}`));
      assert.equal((await l.verify()).ok, true);

      // Tail: delete the two newest events. The chain that remains is internally consistent,
      // but the MAC'd head checkpoint says it went further.
      const tail = await fresh.db.selectFrom('audit_events').selectAll().where('seq', '>', 6).orderBy('seq').execute();
      const savedHead = await fresh.db.selectFrom('audit_head').select(['seq', 'hash', 'mac']).executeTakeFirstOrThrow();
      await fresh.db.deleteFrom('audit_events').where('seq', '>', 6).execute();
      const truncated = await l.verify();
      assert.equal(truncated.ok, false);
      assert.deepEqual(truncated.problem && { seq: truncated.problem.seq, kind: truncated.problem.kind }, { seq: 7, kind: 'missing' });
      // Rewriting the checkpoint to match the shorter chain needs the audit key.
      const last = tail[0]!;
      const forged = await fresh.db.selectFrom('audit_events').select(['seq', 'hash']).where('seq', '=', 6).executeTakeFirstOrThrow();
      await fresh.db.updateTable('audit_head').set({ seq: forged.seq, hash: forged.hash }).execute();
      assert.equal((await l.verify()).problem?.kind, 'altered', 'a checkpoint moved without the key is reported');
      await fresh.db.deleteFrom('audit_head').execute();
      assert.equal((await l.verify()).problem?.kind, 'missing', 'a deleted checkpoint is reported');
      await fresh.db.insertInto('audit_events').values(tail).execute();
      assert.ok(last.seq === 7);

      // A log starting on this store (a restart) refuses to chain onto a chain without its head.
      const tamperSeen: string[] = [];
      const l2 = createAuditLog({ db: fresh.db, auditStore: createAuditStore(fresh.dialect), chainKey: () => key, isSealed: () => false, now: () => clock, onError: () => undefined, onTamper: (found) => tamperSeen.push(found) });
      await assert.rejects(l2.record(event('would-heal')), (error: { code?: string }) => error.code === 'audit_tampered');
      assert.equal(tamperSeen.length, 1);
      assert.equal((await l2.verify()).ok, false, 'the refused event did not heal the chain');
      await fresh.db.insertInto('audit_head').values({ id: 1, ...savedHead }).execute();

      // Head: delete the oldest events and write an anchor that makes the rest look pruned.
      const l3 = createAuditLog({ db: fresh.db, auditStore: createAuditStore(fresh.dialect), chainKey: () => key, isSealed: () => false, now: () => clock, onError: () => undefined });
      assert.equal((await l3.verify()).ok, true, JSON.stringify(await l3.verify()));
      const third = await fresh.db.selectFrom('audit_events').select(['seq', 'hash']).where('seq', '=', 3).executeTakeFirstOrThrow();
      await fresh.db.deleteFrom('audit_events').where('seq', '<=', 3).execute();
      await fresh.db.insertInto('audit_anchor').values({ id: 1, seq: third.seq, hash: third.hash, pruned_before: clock, mac: 'f'.repeat(64) }).execute();
      const forgedAnchor = await l3.verify();
      assert.equal(forgedAnchor.ok, false);
      assert.equal(forgedAnchor.problem?.kind, 'altered');
      assert.match(forgedAnchor.problem!.message, /anchor/);
    } finally {
      await fresh.close();
    }
  });

  test('concurrent records are group-committed into one unbroken chain', async () => {
    const fresh = await openStorage({ url: `sqlite:${path.join(dir, 'group.db')}` });
    try {
      const groupLog = createAuditLog({ db: fresh.db, auditStore: createAuditStore(fresh.dialect), chainKey: () => key, isSealed: () => false, now: () => clock, onError: () => undefined });
      await groupLog.initializeChain();
      await Promise.all(Array.from({ length: 500 }, (_, i) => groupLog.record(event(`g-${i}`))));
      const result = await groupLog.verify();
      assert.equal(result.ok, true);
      assert.equal(result.checked, 500);
    } finally {
      await fresh.close();
    }
  });

  test('the SQLite appender waits for another connection\'s open write transaction without blocking the thread', async () => {
    const file = path.join(dir, 'busy.db');
    const fresh = await openStorage({ url: `sqlite:${file}` });
    const appender = createSqliteAppender(file, { fsyncEachBatch: false });
    const impatient = createSqliteAppender(file, { fsyncEachBatch: false, busyRetryMs: 30 });
    const other = new SqliteDatabase(file);
    try {
      const busyLog = createAuditLog({ db: fresh.db, auditStore: createAuditStore(fresh.dialect), chainKey: () => key, isSealed: () => false, now: () => clock, onError: () => undefined, appender });
      await busyLog.initializeChain();
      other.exec('BEGIN IMMEDIATE');
      let settled = false;
      const recorded = busyLog.record(event('while-busy')).then(() => (settled = true));
      // The thread stays free: timers run while the batch waits for the write lock.
      let ticks = 0;
      for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(() => r(ticks++), 5));
      assert.equal(ticks, 5);
      assert.equal(settled, false, 'the event cannot be durable while another connection holds the write lock');
      await assert.rejects(impatient.append([event('gives-up')], key, createChainGuard({ onTamper: () => undefined, onHead: () => undefined })), (error: { code?: string }) => error.code === 'SQLITE_BUSY');
      other.exec('COMMIT');
      await recorded;
      const result = await busyLog.verify();
      assert.equal(result.ok, true);
      assert.equal(result.checked, 1);
    } finally {
      other.close();
      await impatient.close();
      await appender.close();
      await fresh.close();
    }
  });
});

describe('periodic verification walks only what is new, and the whole chain on its own period', () => {
  test('an incremental verify starts after the last verified event, catches a change to it, and the full walk catches older tampering', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'custos-audit-inc-'));
    const storage = await openStorage({ url: `sqlite:${path.join(dir, 'audit.db')}` });
    let clock = Date.UTC(2026, 0, 1);
    const key = randomBytes(32);
    const log = createAuditLog({ db: storage.db, auditStore: createAuditStore(storage.dialect), chainKey: () => key, isSealed: () => false, now: () => clock, onError: () => undefined });
    try {
      await log.initializeChain();
      const record = (operation: string) => log.record({ time: clock, requestId: `req_${operation}`, accessor: 'acc', source: 'test', operation, secretName: 'dev/a', versionId: null, outcome: 'success', errorCode: null, status: 200, latencyUs: 1 });
      for (let i = 0; i < 6; i++) await record(`first-${i}`);
      const FULL = 24 * 3_600_000;
      const first = await log.verify({ fullEveryMs: FULL });
      assert.deepEqual([first.ok, first.checked, first.resumedAfter], [true, 6, undefined], 'the first periodic verify walks everything');

      for (let i = 0; i < 3; i++) await record(`second-${i}`);
      const second = await log.verify({ fullEveryMs: FULL });
      assert.deepEqual([second.ok, second.checked, second.resumedAfter], [true, 3, 6], 'the next one walks only the three new events');

      // Tampering with an event before the last verified one is out of the incremental walk's reach...
      await storage.db.updateTable('audit_events').set({ outcome: 'failure' }).where('seq', '=', 2).execute();
      await record('third');
      const third = await log.verify({ fullEveryMs: FULL });
      assert.deepEqual([third.ok, third.resumedAfter], [true, 9]);
      // ...until the full walk, due once the period has passed.
      clock += FULL;
      const full = await log.verify({ fullEveryMs: FULL });
      assert.equal(full.ok, false);
      assert.deepEqual([full.problem?.seq, full.problem?.kind, full.resumedAfter], [2, 'altered', undefined]);
    } finally {
      await storage.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an incremental verify finds the last verified event altered', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'custos-audit-inc-'));
    const storage = await openStorage({ url: `sqlite:${path.join(dir, 'audit.db')}` });
    const key = randomBytes(32);
    const log = createAuditLog({ db: storage.db, auditStore: createAuditStore(storage.dialect), chainKey: () => key, isSealed: () => false, now: () => Date.UTC(2026, 0, 1), onError: () => undefined });
    try {
      await log.initializeChain();
      for (let i = 0; i < 4; i++) await log.record({ time: Date.UTC(2026, 0, 1), requestId: `r${i}`, accessor: 'acc', source: 'test', operation: `op-${i}`, secretName: null, versionId: null, outcome: 'success', errorCode: null, status: 200, latencyUs: 1 });
      assert.equal((await log.verify({ fullEveryMs: 3_600_000 })).ok, true);
      await storage.db.updateTable('audit_events').set({ hash: 'f'.repeat(64) }).where('seq', '=', 4).execute();
      const result = await log.verify({ fullEveryMs: 3_600_000 });
      assert.deepEqual([result.ok, result.problem?.seq, result.problem?.kind, result.resumedAfter], [false, 4, 'altered', 4]);
    } finally {
      await storage.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('start-up verification of a long chain', () => {
  const KEY = randomBytes(32);
  const event = (operation: string): AuditEvent => ({
    time: Date.UTC(2026, 0, 1), requestId: `req_${operation}`, accessor: 'acc', source: 'test', operation, secretName: 'dev/a', versionId: null,
    outcome: 'success', errorCode: null, status: 200, latencyUs: 1,
  });
  /** A process's audit log over the store (a restart is a new one); chains over 3 events count as long. */
  const open = (storage: Storage) => createAuditLog({
    db: storage.db, auditStore: createAuditStore(storage.dialect), chainKey: () => KEY, isSealed: () => false, now: () => Date.UTC(2026, 0, 1),
    onError: () => undefined, startupWalkMaxEvents: 3,
  });
  const waitTampered = async (log: ReturnType<typeof createAuditLog>) => {
    while (!log.isTampered()) await new Promise((r) => setImmediate(r));
  };

  test('starts from the verified mark, serves, and trips when the background full walk finds older tampering', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'custos-audit-start-'));
    const storage = await openStorage({ url: `sqlite:${path.join(dir, 'audit.db')}` });
    try {
      const first = open(storage);
      await first.initializeChain();
      for (let i = 0; i < 6; i++) await first.record(event(`e${i}`));
      assert.equal((await first.verify()).ok, true, 'a full walk writes the verified mark');
      // At rest, an event before the mark is altered; the next start-up walks from the mark.
      await storage.db.updateTable('audit_events').set({ outcome: 'failure' }).where('seq', '=', 2).execute();
      const restarted = open(storage);
      await restarted.record(event('after-restart'));
      const stored = await storage.db.selectFrom('audit_events').select('operation').where('operation', '=', 'after-restart').executeTakeFirst();
      assert.ok(stored, 'the restarted log appended without walking the whole chain first');
      await waitTampered(restarted);
      await assert.rejects(restarted.record(event('refused')), (e: { code?: string }) => e.code === 'audit_tampered');
    } finally {
      await storage.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('with a periodic whole walk not yet due, a restart leaves the older events to it; once due, the restart walks them', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'custos-audit-start-'));
    const storage = await openStorage({ url: `sqlite:${path.join(dir, 'audit.db')}` });
    const DAY = 86_400_000;
    let clock = Date.UTC(2026, 0, 1);
    const openWithPeriodicWalk = () => createAuditLog({
      db: storage.db, auditStore: createAuditStore(storage.dialect), chainKey: () => KEY, isSealed: () => false, now: () => clock,
      onError: () => undefined, startupWalkMaxEvents: 3, periodicFullWalkMs: DAY,
    });
    try {
      const first = openWithPeriodicWalk();
      await first.initializeChain();
      for (let i = 0; i < 6; i++) await first.record(event(`e${i}`));
      assert.equal((await first.verify()).ok, true, 'a full walk writes the verified mark');
      await storage.db.updateTable('audit_events').set({ outcome: 'failure' }).where('seq', '=', 2).execute();

      clock += DAY / 2;
      const soon = openWithPeriodicWalk();
      await soon.record(event('half-a-day-later'));
      assert.equal(soon.backgroundWalk(), null, 'no whole walk at start-up');
      // The periodic check walks from the mark until a whole walk is due: nothing before it was read.
      assert.equal((await soon.verify({ fullEveryMs: DAY })).ok, true);
      assert.equal(soon.isTampered(), false);
      clock += DAY / 2 + 1;
      const due = await soon.verify({ fullEveryMs: DAY });
      assert.deepEqual([due.ok, due.problem?.seq], [false, 2], 'the periodic whole walk finds it');

      // A restart once the whole walk is due (the mark's last whole walk is a day old) walks it in the background at once.
      const late = openWithPeriodicWalk();
      await late.record(event('before-the-walk-ends'));
      assert.ok(late.backgroundWalk(), 'a whole walk runs');
      await late.backgroundWalk();
      assert.equal(late.isTampered(), true);
    } finally {
      await storage.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a forged mark is ignored: the whole chain is walked before the first append', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'custos-audit-start-'));
    const storage = await openStorage({ url: `sqlite:${path.join(dir, 'audit.db')}` });
    try {
      const first = open(storage);
      await first.initializeChain();
      for (let i = 0; i < 6; i++) await first.record(event(`e${i}`));
      await storage.db.updateTable('audit_events').set({ outcome: 'failure' }).where('seq', '=', 2).execute();
      const head = (await storage.db.selectFrom('audit_events').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirstOrThrow());
      await createAuditStore(storage.dialect).setVerifiedMark(storage.db, { seq: head.seq, hash: head.hash, fullAt: Date.UTC(2026, 0, 1), mac: 'f'.repeat(64) });
      const restarted = open(storage);
      await assert.rejects(restarted.record(event('refused')), (e: { code?: string }) => e.code === 'audit_tampered');
    } finally {
      await storage.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql, type Transaction } from 'kysely';
import { createAuditLog, type AuditEvent } from '../audit/audit-log.js';
import { createAuditStore } from './audit-store.js';
import { openStorage, type Storage } from './database.js';
import { createGroupCommit } from './group-commit.js';
import type { Database } from './schema.js';

/** Group commit over a real SQLite file, with audit events appended inside the shared transaction as logins do. */
describe('group commit', () => {
  let dir: string;
  let storage: Storage;
  const key = randomBytes(32);
  let log: ReturnType<typeof createAuditLog>;
  const errors: unknown[] = [];

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'custos-group-commit-'));
    storage = await openStorage({ url: `sqlite:${path.join(dir, 'group.db')}` });
    log = createAuditLog({ db: storage.db, auditStore: createAuditStore(storage.dialect), chainKey: () => key, isSealed: () => false, now: () => Date.now(), onError: (e) => errors.push(e) });
    await log.initializeChain();
    await log.verifyAtUnseal();
    await sql`create table units (name text primary key)`.execute(storage.db);
  });
  after(async () => {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const event = (operation: string): AuditEvent => ({
    time: Date.now(), requestId: `req_${operation}`, accessor: 'acc_test', source: '127.0.0.1', operation, secretName: null, versionId: null,
    outcome: 'success', errorCode: null, status: 200, latencyUs: 1,
  });
  /** A login-shaped unit: a row and its audit event, then (once committed) the head confirmed. */
  const unit = (name: string, failAfterWriting = false) => async (tx: Transaction<Database>) => {
    await sql`insert into units (name) values (${name})`.execute(tx);
    const head = await log.appendWithin(tx, event(name));
    if (failAfterWriting) throw new Error(`unit ${name} refused`);
    return { name, head };
  };
  const names = async () => (await sql<{ name: string }>`select name from units order by name`.execute(storage.db)).rows.map((r) => r.name);

  test('units arriving together share a commit; one that throws is rolled back alone', async () => {
    let transactions = 0;
    const inGroup = createGroupCommit((work) => {
      transactions++;
      return storage.db.transaction().execute(work);
    });
    const settled = await Promise.allSettled(['a', 'b', 'c', 'd', 'e', 'f'].map((n) => inGroup(unit(n, n === 'd'))));
    for (const s of settled) if (s.status === 'fulfilled') log.committed(s.value.head);
    assert.deepEqual(settled.map((s) => s.status), ['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    assert.match(String((settled[3] as PromiseRejectedResult).reason), /unit d refused/);
    // All six arrived in the same turn of the event loop: one transaction, one commit.
    assert.equal(transactions, 1);
    assert.deepEqual(await names(), ['a', 'b', 'c', 'e', 'f']);
    const verified = await log.verify();
    assert.equal(verified.ok, true, JSON.stringify(verified));
    assert.equal(verified.checked, 5, 'the refused unit left no audit event');
  });

  test('a group whose commit fails stores nothing, rejects every unit, and the audit chain carries on untripped', async () => {
    const failingCommit = createGroupCommit(async (work) => storage.db.transaction().execute(async (tx) => {
      await work(tx);
      throw new Error('disk full');
    }));
    const settled = await Promise.allSettled(['g', 'h', 'i'].map((n) => failingCommit(unit(n))));
    assert.deepEqual(settled.map((s) => s.status), ['rejected', 'rejected', 'rejected']);
    assert.deepEqual(await names(), ['a', 'b', 'c', 'e', 'f']);

    const inGroup = createGroupCommit((work) => storage.db.transaction().execute(work));
    const done = await Promise.all(['j', 'k'].map((n) => inGroup(unit(n))));
    for (const d of done) log.committed(d.head);
    await log.record(event('queued-after'));
    assert.equal(log.isTampered(), false);
    const verified = await log.verify();
    assert.equal(verified.ok, true, JSON.stringify(verified));
    assert.equal(verified.checked, 8);
    assert.deepEqual(errors, []);
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CompiledQuery, sql } from 'kysely';
import { chainRows, GENESIS_HASH } from '../audit/audit-chain.js';
import { compileAuditQuery, createAuditStore, readTimeOrder, timeSeek, type AuditQuery } from './audit-store.js';
import { openStorage, type Storage } from './database.js';

/**
 * The audit searches `custos audit query` runs must read through an index on a large log, never
 * scan the table from one end: checked on the plan SQLite picks for the store's own compiled
 * queries (the seeks that turn the time bounds into a range of seq, then the search in it).
 */
const DAY = 86_400_000;
const start = Date.UTC(2025, 0, 1);

async function withStore(fn: (storage: Storage) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'custos-plan-'));
  const storage = await openStorage({ url: `sqlite:${path.join(dir, 'custos.db')}` });
  try {
    // A year of events, one every few hours, so every seek has something to find.
    const events = Array.from({ length: 3000 }, (_, i) => ({
      time: start + i * 3 * 3_600_000, requestId: `r${i}`, accessor: `acc${i % 7}`, source: null, operation: 'secret.read', secretName: `prod/s${i % 11}`,
      versionId: null, outcome: (['success', 'denied', 'failure'] as const)[i % 3]!, errorCode: null, status: 200, latencyUs: 1,
    }));
    await createAuditStore('sqlite').insertMany(storage.db, chainRows(randomBytes(32), { seq: 0, hash: GENESIS_HASH }, events));
    await fn(storage);
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function explain(storage: Storage, compiled: { sql: string; parameters: readonly unknown[] }): Promise<string> {
  const { rows } = await storage.db.executeQuery<{ detail: string }>(CompiledQuery.raw(`explain query plan ${compiled.sql}`, [...compiled.parameters]));
  return rows.map((r) => r.detail).join('; ');
}

const planOf = async (storage: Storage, query: AuditQuery) => {
  const compiled = await compileAuditQuery(storage.db, 'sqlite', query);
  assert.ok(compiled, `${JSON.stringify(query)} finds a range`);
  return explain(storage, compiled);
};

test('the seeks that bound seq by time read the time index from the bound, without sorting (SQLite plan)', async () => {
  await withStore(async (storage) => {
    const order = await readTimeOrder(storage.db);
    assert.deepEqual(order, { monotonicAfter: 0, maxTimeBefore: null }, 'a new store is in time order from its first event');
    for (const upgraded of [order!, { monotonicAfter: 1234, maxTimeBefore: start }]) {
      const first = await explain(storage, timeSeek(storage.db, upgraded, 'first at or after', start + 100 * DAY).compile());
      assert.match(first, /^SEARCH audit_events USING (COVERING )?INDEX audit_by_time \(time>\?\)$/, JSON.stringify(upgraded));
      const last = await explain(storage, timeSeek(storage.db, upgraded, 'last before', start + 100 * DAY).compile());
      assert.match(last, /^SEARCH audit_events USING (COVERING )?INDEX audit_by_time \(time<\?\)$/, JSON.stringify(upgraded));
    }
  });
});

test('audit searches by secret, principal, outcome or time alone read a range of seq through an index (SQLite plan)', async () => {
  await withStore(async (storage) => {
    const year = { since: start + 30 * DAY, until: start + 330 * DAY, limit: 100 };
    const month = { since: start + 200 * DAY, until: start + 230 * DAY, limit: 100 };
    const seqRange = /(seq|rowid)>\? AND (seq|rowid)<\?/;
    assert.match(await planOf(storage, { ...year, secretName: 'prod/s7' }), /USING INDEX audit_by_secret \(secret_name=\? AND seq>\? AND seq<\?\)/);
    assert.match(await planOf(storage, { ...year, secretName: 'prod/s7', newestFirst: true }), /USING INDEX audit_by_secret \(secret_name=\? AND seq>\? AND seq<\?\)/);
    assert.match(await planOf(storage, { ...month, accessor: 'acc1' }), /USING INDEX audit_by_accessor \(accessor=\? AND seq>\? AND seq<\?\)/);
    // (outcome, seq) of the unsuccessful events: the matching events of the period in seq order, no sort.
    const denied = await planOf(storage, { ...month, outcome: 'denied' });
    assert.match(denied, /USING INDEX audit_unsuccessful_by_outcome \(outcome=\? AND seq>\? AND seq<\?\)/);
    assert.doesNotMatch(denied, /TEMP B-TREE/);
    // An outcome and a principal: exactly their events, whichever end first (not one index, filtering by the other).
    for (const newestFirst of [false, true]) {
      const both = await planOf(storage, { ...year, outcome: 'failure', accessor: 'acc2', newestFirst });
      assert.match(both, /^SEARCH audit_events USING INDEX audit_unsuccessful_by_accessor \(accessor=\? AND outcome=\? AND seq>\? AND seq<\?\)$/, `newest first: ${newestFirst}`);
    }
    // Successes (nearly every event) are in neither partial index: the seq range, or the principal's index, keeps most of what it reads.
    assert.match(await planOf(storage, { ...month, outcome: 'success' }), /^SEARCH audit_events USING INTEGER PRIMARY KEY \(rowid>\? AND rowid<\?\)$/);
    assert.match(await planOf(storage, { ...month, outcome: 'success', accessor: 'acc2' }), /^SEARCH audit_events USING INDEX audit_by_accessor \(accessor=\? AND seq>\? AND seq<\?\)$/);
    for (const query of [{ since: start + 300 * DAY, limit: 100 }, { since: start + 300 * DAY, newestFirst: true, limit: 100 }, { ...month }, { until: start + 100 * DAY, newestFirst: true, limit: 100 }]) {
      const plan = await planOf(storage, query);
      const expected = query.since === undefined ? /(seq|rowid)<\?/ : query.until === undefined ? /(seq|rowid)>\?/ : seqRange;
      assert.match(plan, expected, JSON.stringify(query));
      assert.doesNotMatch(plan, /SCAN audit_events(?! USING)|TEMP B-TREE/, JSON.stringify(query));
    }
    const indexes = await sql<{ name: string; sql: string }>`select name, sql from sqlite_master where type = 'index' and tbl_name = 'audit_events' and sql like '%outcome%' order by name`.execute(storage.db);
    assert.deepEqual(indexes.rows.map((r) => r.name), ['audit_unsuccessful_by_accessor', 'audit_unsuccessful_by_outcome'], 'migration 040 replaced (outcome, seq) by its partial form');
    for (const index of indexes.rows) assert.match(index.sql, /where outcome <> 'success'$/, index.name);
  });
});

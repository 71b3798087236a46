import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { buildAuditQuery, type AuditQuery } from './audit-store.js';
import { openStorage } from './database.js';

/**
 * The audit searches `custos audit query` runs must read through an index on a large log, never
 * scan the table: checked on the plan SQLite picks for the store's own compiled query.
 */
test('audit searches by secret, principal and outcome over a time range use an index (SQLite plan)', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'custos-plan-'));
  const storage = await openStorage({ url: `sqlite:${path.join(dir, 'custos.db')}` });
  try {
    const plan = async (query: AuditQuery) => {
      const compiled = buildAuditQuery(storage.db, query).compile();
      const rows = await storage.db.executeQuery<{ detail: string }>({ ...compiled, sql: `explain query plan ${compiled.sql}`, query: compiled.query });
      return rows.rows.map((r) => r.detail).join('; ');
    };
    const year = { since: Date.UTC(2025, 0, 1), until: Date.UTC(2026, 0, 1), limit: 100 };
    assert.match(await plan({ ...year, secretName: 'prod/pipeline-7/warehouse-db' }), /USING INDEX audit_by_secret \(secret_name=\?\)/);
    assert.match(await plan({ ...year, secretName: 'prod/pipeline-7/warehouse-db', newestFirst: true }), /USING INDEX audit_by_secret/);
    assert.match(await plan({ ...year, accessor: 'acc1' }), /USING INDEX audit_by_accessor \(accessor=\?\)/);
    // Without the (outcome, time) index this was a range over every event of the period.
    assert.match(await plan({ ...year, outcome: 'denied' }), /USING INDEX audit_by_outcome_time \(outcome=\? AND time>\? AND time<\?\)/);
    for (const query of [{ ...year, outcome: 'failure' }, { ...year, accessor: 'a', outcome: 'denied' }]) {
      assert.doesNotMatch(await plan(query), /SCAN audit_events(?! USING)/, JSON.stringify(query));
    }
    assert.equal((await sql<{ name: string }>`select name from sqlite_master where type = 'index' and name = 'audit_by_outcome_time'`.execute(storage.db)).rows.length, 1);
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

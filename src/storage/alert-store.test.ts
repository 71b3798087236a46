import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CompiledQuery } from 'kysely';
import { unusedQueries } from './alert-store.js';
import { openStorage } from './database.js';

test('the unused rule\'s count and its longest-unused page read the (owner, last use) index, not the secrets table', async () => {
  const storage = await openStorage({ url: 'sqlite::memory:' });
  try {
    const plan = async (compiled: { sql: string; parameters: readonly unknown[] }) =>
      (await storage.db.executeQuery<{ detail: string }>(CompiledQuery.raw(`explain query plan ${compiled.sql}`, [...compiled.parameters]))).rows.map((r) => r.detail).join('; ');
    assert.match(await plan(unusedQueries.counts(storage.db, 1).compile()), /^SCAN secrets USING (COVERING )?INDEX secrets_by_last_use/);
    for (const owner of ['data-eng', null]) {
      assert.match(await plan(unusedQueries.oldest(storage.db, 1, owner, 10).compile()), /^SEARCH secrets USING INDEX secrets_by_last_use \(owner=\? AND <expr><\?\)/);
    }
  } finally {
    await storage.close();
  }
});

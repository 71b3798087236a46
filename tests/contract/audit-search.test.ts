import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStorage } from '../../src/storage/database.js';
import { checkSearchesMatch } from '../support/audit-search-scenario.js';

/** SQLite: audit searches bounded by seq find what the unbounded search finds (see the scenario). */
for (const upgraded of [false, true]) {
  test(`time-bounded audit searches return the same events as before (SQLite, ${upgraded ? 'upgraded store with events out of time order' : 'new store'})`, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'custos-search-'));
    const storage = await openStorage({ url: `sqlite:${path.join(dir, 'custos.db')}` });
    try {
      const { compared, nonEmpty } = await checkSearchesMatch(storage, { upgraded, seed: upgraded ? 38 : 29 });
      assert.ok(nonEmpty > compared / 3, `most searches find events (${nonEmpty} of ${compared})`);
    } finally {
      await storage.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

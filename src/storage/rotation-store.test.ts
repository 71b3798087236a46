import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startPostgresCluster, type PostgresCluster } from '../../tests/support/postgres-cluster.js';
import { openStorage, type Storage } from './database.js';
import { createRotationStore, isUniqueViolation, type RotationRow } from './rotation-store.js';

/** The rotation store's guarantees, on both engines: one active run per secret, compare-and-set, leases. */
const store = createRotationStore();
let cluster: PostgresCluster;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'custos-rotstore-'));

before(async () => {
  cluster = await startPostgresCluster();
});
after(async () => {
  await cluster?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const run = (id: string, secretId: string, overrides: Partial<RotationRow> = {}): RotationRow => ({
  id, secret_id: secretId, secret_name: 'prod/x', secret_region: null, active_secret_id: secretId, token: `tok-${id}`, rotator: 'postgres', trigger: 'manual', requested_by: 'root',
  step: 'create', status: 'running', attempts: 0, error: null, previous_version_id: null, owner_node: 'node-1', lease_until: 1000, next_attempt_at: null,
  grace_until: null, started_at: 1, updated_at: 1, finished_at: null, ...overrides,
});

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(`rotation store on ${engine}`, () => {
    let storage: Storage;
    before(async () => {
      if (engine === 'sqlite') storage = await openStorage({ url: `sqlite:${path.join(tmp, 'r.db')}` });
      else {
        const db = await cluster.createDatabase();
        storage = await openStorage({ url: db.url, password: db.password });
      }
      await storage.db.insertInto('secrets').values({
        id: 's1', region: 'us-east-1', name: 'prod/x', arn_suffix: 'abcdef', description: null, owner: null, kms_key_id: null, created_at: 1, updated_at: 1,
        last_accessed_at: null, last_rotated_at: null, deleted_at: null, delete_after: null, rotation: null, primary_region: null,
      }).execute();
    });
    after(async () => storage?.close());

    test('a second active run for the same secret violates the unique guard; finished runs do not count', async () => {
      await store.insert(storage.db, run('r1', 's1'));
      await assert.rejects(store.insert(storage.db, run('r2', 's1')), (e) => isUniqueViolation(e));
      assert.equal(await store.advance(storage.db, 'r1', { status: 'running', step: 'create' }, { status: 'failed', active_secret_id: null }), true);
      await store.insert(storage.db, run('r3', 's1'));
      await store.insert(storage.db, run('r4', 's1', { active_secret_id: null, status: 'succeeded' }));
      assert.equal((await store.findActive(storage.db, 's1'))?.id, 'r3');
    });

    test('advance is compare-and-set on status and step', async () => {
      assert.equal(await store.advance(storage.db, 'r3', { status: 'running', step: 'set' }, { step: 'test' }), false, 'stale expectation');
      assert.equal(await store.advance(storage.db, 'r3', { status: 'running', step: 'create' }, { step: 'set' }), true);
      assert.equal((await store.find(storage.db, 'r3'))?.step, 'set');
    });

    test('claim: the owner or an expired lease may take a run, a live foreign lease may not', async () => {
      assert.equal(await store.claim(storage.db, 'r3', 'node-2', 500, 9000), false, 'node-1 holds a live lease');
      assert.equal(await store.claim(storage.db, 'r3', 'node-1', 500, 9000), true, 'the owner re-claims after its own restart');
      assert.equal(await store.claim(storage.db, 'r3', 'node-2', 9001, 20_000), true, 'expired lease');
      assert.equal((await store.find(storage.db, 'r3'))?.owner_node, 'node-2');
      assert.deepEqual((await store.listResumable(storage.db, 10, 10)).map((r) => r.id), ['r3']);
    });

    test('listings: secrets with rotation settings, scheduled or not, and the latest run of each', async () => {
      assert.deepEqual(await store.listSchedules(storage.db, { limit: 10 }), [], 'no settings, not listed');
      await store.setSettings(storage.db, 's1', JSON.stringify({ rotator: 'command' }), 2);
      assert.deepEqual((await store.listSchedules(storage.db, { limit: 10 })).map((r) => [r.name, r.next_due_at]), [['prod/x', null]], 'listed without a schedule');
      assert.deepEqual(await store.listSchedules(storage.db, { limit: 10, overdueOnly: true }), []);
      // Runs r1, r3, r4 started at the same moment: the tie goes to the larger id.
      assert.equal((await store.latestRuns(storage.db, ['s1'])).get('s1')?.id, 'r4');
      await store.insert(storage.db, run('r5', 's1', { active_secret_id: null, status: 'failed', error: 'boom', started_at: 5 }));
      const latest = await store.latestRuns(storage.db, ['s1', 'unknown']);
      assert.equal(latest.get('s1')?.id, 'r5');
      assert.equal(latest.has('unknown'), false);
    });
  });
}

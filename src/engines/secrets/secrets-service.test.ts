import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createBarrier } from '../../barrier/barrier.js';
import { isAppError } from '../../errors/app-error.js';
import { createLocalChangeBus } from '../../lib/change-bus.js';
import { openStorage, type Storage } from '../../storage/database.js';
import { createPolicyStore } from '../../storage/policy-store.js';
import { createSecretStore } from '../../storage/secret-store.js';
import { createSystemStore } from '../../storage/system-store.js';
import { createAuthorizer } from '../../services/authorizer.js';
import { SYSTEM_IDENTITY } from '../../auth/identity.types.js';
import { createSecretsService } from './secrets-service.js';
import { createPageCursors } from './page-cursor.js';

const DAY = 86_400_000;

/** A secrets service on a fresh SQLite file, unsealed, with the caller's clock and options. */
async function openSecrets(dir: string, now: () => number, options: { readCache?: boolean; readCacheMaxEntries?: number } = {}) {
  const storage = await openStorage({ url: `sqlite:${path.join(dir, 'custos.db')}` });
  const barrier = createBarrier({ db: storage.db, systemStore: createSystemStore(), now });
  const [key] = await storage.db.transaction().execute((tx) => barrier.initialize(tx, 1, 1));
  await barrier.submitUnsealShare(key!);
  const changes = createLocalChangeBus();
  const secretStore = createSecretStore(storage.dialect);
  const secrets = createSecretsService({
    db: storage.db, secretStore, barrier, authorizer: createAuthorizer({ db: storage.db, policyStore: createPolicyStore(), changes }),
    changes, cursors: createPageCursors(barrier), now, region: 'us-east-1', accountId: '123456789012', ...options,
  });
  return { storage, secrets, secretStore, changes };
}

/** The recovery window end to end with a clock the test controls (the purge job runs hourly in the server). */
describe('secrets service: recovery window and purge', () => {
  let dir: string;
  let storage: Storage;
  let clock = Date.UTC(2026, 5, 1);
  let secrets: ReturnType<typeof createSecretsService>;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'custos-secrets-'));
    ({ storage, secrets } = await openSecrets(dir, () => clock));
  });
  after(async () => {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const code = (error: unknown) => (isAppError(error) ? error.code : String(error));

  test('a deleted secret is purged only after its window; restore works until then', async () => {
    const value = { kind: 'string' as const, text: 'purge-me' };
    await secrets.create(SYSTEM_IDENTITY, { name: 'prod/purge/a', value });
    await secrets.create(SYSTEM_IDENTITY, { name: 'prod/purge/b', value });
    await secrets.create(SYSTEM_IDENTITY, { name: 'prod/purge/live', value });
    const a = await secrets.delete(SYSTEM_IDENTITY, { name: 'prod/purge/a' }, { recoveryDays: 7 });
    assert.equal(a.deletionDate, clock + 7 * DAY);
    await secrets.delete(SYSTEM_IDENTITY, { name: 'prod/purge/b' });

    clock += 7 * DAY - 1;
    assert.equal(await secrets.purgeExpired(), 0, 'nothing is purged inside the window');
    await assert.rejects(secrets.getValue(SYSTEM_IDENTITY, { name: 'prod/purge/a' }), (e) => code(e) === 'secret_scheduled_for_deletion');

    clock += 1;
    assert.equal(await secrets.purgeExpired(), 1, 'the 7-day one goes at 7 days');
    await assert.rejects(secrets.describe(SYSTEM_IDENTITY, { name: 'prod/purge/a' }), (e) => code(e) === 'secret_not_found');
    await assert.rejects(secrets.restore(SYSTEM_IDENTITY, { name: 'prod/purge/a' }), (e) => code(e) === 'secret_not_found');

    // The 30-day default one can still be restored on day 29, and then it is never purged.
    clock += 22 * DAY;
    await secrets.restore(SYSTEM_IDENTITY, { name: 'prod/purge/b' });
    clock += 100 * DAY;
    assert.equal(await secrets.purgeExpired(), 0);
    assert.equal((await secrets.getValue(SYSTEM_IDENTITY, { name: 'prod/purge/b' })).value.kind, 'string');
    assert.equal((await secrets.getValue(SYSTEM_IDENTITY, { name: 'prod/purge/live' })).versionId.length, 36);
    // The purged name can be used again, with no trace of the old versions.
    const reborn = await secrets.create(SYSTEM_IDENTITY, { name: 'prod/purge/a', value: { kind: 'string', text: 'new' } });
    const described = await secrets.describe(SYSTEM_IDENTITY, { name: 'prod/purge/a' });
    assert.deepEqual(described.versions.map((v) => v.versionId), [reborn.versionId]);
    const rows = await storage.db.selectFrom('secret_versions').select('secret_id').execute();
    assert.equal(rows.length, 3, 'the purged secret left no version rows behind');
  });
  test('versions beyond the newest 100 are pruned only once they are 24 hours old (as in AWS); labelled ones never', async () => {
    const name = 'prod/prune/db';
    const first = (await secrets.create(SYSTEM_IDENTITY, { name, value: { kind: 'string', text: 'v0' } })).versionId!;
    await secrets.moveLabel(SYSTEM_IDENTITY, { name }, { label: 'keep', moveToVersionId: first });
    const ids: string[] = [first];
    const start = clock; // v0 at start, v1..v105 one millisecond apart after it
    for (let i = 1; i <= 105; i++) {
      clock = start + i;
      ids.push((await secrets.putValue(SYSTEM_IDENTITY, { name }, { value: { kind: 'string', text: `v${i}` } })).versionId);
    }
    const versionIds = async () => new Set((await secrets.describe(SYSTEM_IDENTITY, { name })).versions.map((v) => v.versionId));
    assert.equal((await versionIds()).size, 106, 'nothing younger than 24 hours is pruned');
    assert.equal((await secrets.getValue(SYSTEM_IDENTITY, { name }, { versionId: ids[1] })).value.kind, 'string');

    clock = start + DAY;
    await secrets.putValue(SYSTEM_IDENTITY, { name }, { value: { kind: 'string', text: 'v106' } });
    assert.equal((await versionIds()).size, 107, 'v1 is exactly 24 hours old less a millisecond: kept');

    clock = start + DAY + 10;
    const last = await secrets.putValue(SYSTEM_IDENTITY, { name }, { value: { kind: 'string', text: 'v107' } });
    const kept = await versionIds();
    assert.equal(kept.size, 101, 'the newest 100 plus the labelled first one');
    assert.ok(kept.has(first) && kept.has(last.versionId));
    for (const id of ids.slice(1, 8)) assert.ok(!kept.has(id), 'the oldest unlabelled versions, now over 24 hours old, are pruned');
    await assert.rejects(secrets.getValue(SYSTEM_IDENTITY, { name }, { versionId: ids[1] }), (e) => code(e) === 'version_not_found');
  });
});

/**
 * The label-lookup cache (single-writer stores only) is bounded and evicts the least recently
 * used lookup when full. A label moved behind the service's back (no change published) shows
 * which lookups were still cached: a cached one answers with the old version.
 */
describe('secrets service: read cache', () => {
  let dir: string;
  let opened: Awaited<ReturnType<typeof openSecrets>>;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'custos-read-cache-'));
    opened = await openSecrets(dir, () => Date.UTC(2026, 5, 1), { readCache: true, readCacheMaxEntries: 2 });
  });
  after(async () => {
    await opened.storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a full cache evicts the least recently used lookup, not all of them; a published change empties it', async () => {
    const { secrets, secretStore, storage, changes } = opened;
    const made = new Map<string, { id: string; first: string; second: string }>();
    for (const name of ['cache/a', 'cache/b', 'cache/c']) {
      const created = await secrets.create(SYSTEM_IDENTITY, { name, value: { kind: 'string', text: `${name}-1` } });
      const second = await secrets.putValue(SYSTEM_IDENTITY, { name }, { value: { kind: 'string', text: `${name}-2` }, labels: ['PENDING'] });
      made.set(name, { id: created.metadata.id, first: created.versionId!, second: second.versionId });
    }
    const current = async (name: string) => (await secrets.getValue(SYSTEM_IDENTITY, { name })).versionId;
    await current('cache/a');
    await current('cache/b');
    await current('cache/a');
    await current('cache/c'); // the cache holds two: b, least recently used, goes
    for (const { id, second } of made.values()) await secretStore.setLabel(storage.db, id, 'CURRENT', second);

    assert.equal(await current('cache/a'), made.get('cache/a')!.first, 'a was used recently: still cached');
    assert.equal(await current('cache/c'), made.get('cache/c')!.first, 'c was the newest: still cached');
    assert.equal(await current('cache/b'), made.get('cache/b')!.second, 'b was evicted: read afresh');

    changes.publish('secret', made.get('cache/a')!.id);
    assert.equal(await current('cache/a'), made.get('cache/a')!.second, 'a change empties the cache');
    assert.equal(await current('cache/c'), made.get('cache/c')!.second);
  });
});

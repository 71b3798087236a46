import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isAppError } from '../errors/app-error.js';
import { openStorage, type Storage } from '../storage/database.js';
import { createSystemStore } from '../storage/system-store.js';
import { createBarrier, valueCacheEntryBytes, type BarrierDeps } from './barrier.js';

/** An initialized, unsealed barrier on a fresh SQLite file in `dir`. */
async function openBarrier(dir: string, cacheLimits?: BarrierDeps['cacheLimits']) {
  const storage = await openStorage({ url: `sqlite:${path.join(dir, 'custos.db')}` });
  const barrier = createBarrier({ db: storage.db, systemStore: createSystemStore(), now: () => Date.now(), cacheLimits });
  const [unsealKey] = (await storage.db.transaction().execute((tx) => barrier.initialize(tx, 1, 1))) as [string];
  await barrier.submitUnsealShare(unsealKey);
  return { storage, barrier, unsealKey };
}

/** The barrier's value memo must never answer for bytes it did not authenticate, nor outlive a seal. */
describe('barrier: opened-value cache', () => {
  let dir: string;
  let storage: Storage;
  let barrier: ReturnType<typeof createBarrier>;
  let unsealKey: string;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'custos-barrier-'));
    ({ storage, barrier, unsealKey } = await openBarrier(dir));
  });
  after(async () => {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const integrityFailure = (error: unknown) => isAppError(error) && error.code === 'internal_error';

  test('a cached version still fails its integrity check when the stored bytes change', async () => {
    const sealed = barrier.encryptValue('sec_1', 'v1', Buffer.from('warehouse-password'));
    assert.equal((await barrier.decryptValue('sec_1', 'v1', sealed)).toString(), 'warehouse-password');
    assert.equal((await barrier.decryptValue('sec_1', 'v1', sealed)).toString(), 'warehouse-password', 'second read (cached)');
    const flipped = Buffer.from(sealed.ciphertext);
    flipped[flipped.length - 1]! ^= 1;
    await assert.rejects(barrier.decryptValue('sec_1', 'v1', { ...sealed, ciphertext: flipped }), integrityFailure);
    // Another version's (authentic) ciphertext under this version's id is a swap, not a hit.
    const other = barrier.encryptValue('sec_1', 'v2', Buffer.from('another-password'));
    await assert.rejects(barrier.decryptValue('sec_1', 'v1', { ...sealed, ciphertext: other.ciphertext }), integrityFailure);
  });

  test('callers get their own copy: changing it does not change what later reads return', async () => {
    const sealed = barrier.encryptValue('sec_2', 'v1', Buffer.from('do-not-touch'));
    const first = await barrier.decryptValue('sec_2', 'v1', sealed);
    first.fill(0);
    const second = await barrier.decryptValue('sec_2', 'v1', sealed);
    assert.equal(second.toString(), 'do-not-touch');
    second.fill(0);
    assert.equal((await barrier.decryptValue('sec_2', 'v1', sealed)).toString(), 'do-not-touch');
  });

  test('nothing is answered from memory once sealed, and reads work again after unsealing', async () => {
    const sealed = barrier.encryptValue('sec_3', 'v1', Buffer.from('sealed-away'));
    assert.equal((await barrier.decryptValue('sec_3', 'v1', sealed)).toString(), 'sealed-away');
    barrier.seal();
    await assert.rejects(barrier.decryptValue('sec_3', 'v1', sealed), (error: unknown) => isAppError(error));
    await barrier.submitUnsealShare(unsealKey);
    assert.equal((await barrier.decryptValue('sec_3', 'v1', sealed)).toString(), 'sealed-away');
  });
});

/**
 * Both barrier caches are bounded and evict the least recently used entry when full (not
 * everything), and seal empties both. Small bounds here; the server's are 10,000 data keys and
 * 16 MiB of values.
 */
describe('barrier: cache bounds', () => {
  let dir: string;
  let opened: Awaited<ReturnType<typeof openBarrier>>;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'custos-barrier-lru-'));
    // Room for two small values but not three: each costs its bytes plus a fixed overhead.
    opened = await openBarrier(dir, { dataKeys: 2, valueBytes: 2 * valueCacheEntryBytes(4, 64) + 1 });
  });
  after(async () => {
    await opened.storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const read = async (versionId: string, sealed: { wrappedKey: Buffer; ciphertext: Buffer }) =>
    (await opened.barrier.decryptValue('sec_lru', versionId, sealed)).toString();

  test('the value memo, bounded in bytes, evicts the least recently used value', async () => {
    const { barrier } = opened;
    const sealed = Object.fromEntries(['a', 'b', 'c'].map((v) => [v, barrier.encryptValue('sec_lru', v, Buffer.from(`${v}${v}${v}${v}`))]));
    await read('a', sealed.a!);
    await read('b', sealed.b!);
    await read('a', sealed.a!);
    for (const v of ['a', 'b', 'c']) assert.ok(sealed[v]!.ciphertext.length <= 64, 'precondition: the bound above fits two entries');
    await read('c', sealed.c!); // a third entry does not fit: b, least recently used, goes
    assert.deepEqual(barrier.cachedVersions().values, ['sec_lru:c', 'sec_lru:a']);
    // A memo hit needs only the authenticated ciphertext, so a wrapped key that opens nothing
    // still answers for a and c, while b has to be opened again and fails.
    const noKey = Buffer.from([1, 0, 0, 0, 1]);
    assert.equal(await read('a', { ...sealed.a!, wrappedKey: noKey }), 'aaaa');
    assert.equal(await read('c', { ...sealed.c!, wrappedKey: noKey }), 'cccc');
    await assert.rejects(read('b', { ...sealed.b!, wrappedKey: noKey }), (error: unknown) => isAppError(error) && error.code === 'internal_error');
  });

  test('the data-key cache evicts the least recently used key', async () => {
    const { barrier } = opened;
    // Values over 8 KiB are never memoized, so every read goes through the data-key cache.
    const big = (v: string) => barrier.encryptValue('sec_lru', v, Buffer.alloc(9 * 1024, v));
    const sealed = { x: big('x'), y: big('y'), z: big('z') };
    await read('x', sealed.x);
    await read('y', sealed.y);
    await read('x', sealed.x);
    await read('z', sealed.z);
    assert.deepEqual(barrier.cachedVersions().dataKeys.filter((k) => /:[xyz]$/.test(k)), ['sec_lru:z', 'sec_lru:x']);
    assert.ok(!barrier.cachedVersions().values.some((k) => /:[xyz]$/.test(k)), 'large values are not memoized');
  });

  test('seal empties both caches; after unsealing they fill again', async () => {
    const { barrier, unsealKey } = opened;
    const sealed = barrier.encryptValue('sec_lru', 'd', Buffer.from('dddd'));
    await read('d', sealed);
    assert.ok(barrier.cachedVersions().values.length > 0 && barrier.cachedVersions().dataKeys.length > 0);
    barrier.seal();
    assert.deepEqual(barrier.cachedVersions(), { dataKeys: [], values: [] });
    await barrier.submitUnsealShare(unsealKey);
    assert.equal(await read('d', sealed), 'dddd');
    assert.deepEqual(barrier.cachedVersions(), { dataKeys: ['sec_lru:d'], values: ['sec_lru:d'] });
  });
});

describe('barrier: opens that are not remembered', () => {
  let dir: string;
  let opened: Awaited<ReturnType<typeof openBarrier>>;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'custos-barrier-remember-'));
    opened = await openBarrier(dir);
  });
  after(async () => {
    await opened.storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('background opens (remember: false) return the value and leave both caches as they were', async () => {
    const { barrier } = opened;
    const hot = barrier.encryptValue('sec_bg', 'hot', Buffer.from('hot-value'));
    await barrier.decryptValue('sec_bg', 'hot', hot);
    const before = barrier.cachedVersions();
    for (const v of ['v1', 'v2', 'v3']) {
      const sealed = barrier.encryptValue('sec_bg', v, Buffer.from(`value-${v}`));
      assert.equal((await barrier.decryptValue('sec_bg', v, sealed, { remember: false })).toString(), `value-${v}`);
    }
    assert.deepEqual(barrier.cachedVersions(), before);
    // An entry that is already cached still answers a background open.
    assert.equal((await barrier.decryptValue('sec_bg', 'hot', hot, { remember: false })).toString(), 'hot-value');
  });
});

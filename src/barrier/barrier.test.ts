import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isAppError } from '../errors/app-error.js';
import { openStorage, type Storage } from '../storage/database.js';
import { createSystemStore } from '../storage/system-store.js';
import { createBarrier } from './barrier.js';

/** The barrier's value memo must never answer for bytes it did not authenticate, nor outlive a seal. */
describe('barrier: opened-value cache', () => {
  let dir: string;
  let storage: Storage;
  let barrier: ReturnType<typeof createBarrier>;
  let unsealKey: string;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'custos-barrier-'));
    storage = await openStorage({ url: `sqlite:${path.join(dir, 'custos.db')}` });
    barrier = createBarrier({ db: storage.db, systemStore: createSystemStore(), now: () => Date.now() });
    [unsealKey] = (await storage.db.transaction().execute((tx) => barrier.initialize(tx, 1, 1))) as [string];
    await barrier.submitUnsealShare(unsealKey);
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

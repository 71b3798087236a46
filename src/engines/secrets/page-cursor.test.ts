import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createBarrier, type Barrier } from '../../barrier/barrier.js';
import { isAppError } from '../../errors/app-error.js';
import { openStorage, type Storage } from '../../storage/database.js';
import { createSystemStore } from '../../storage/system-store.js';
import { createPageCursors, type CursorBinding } from './page-cursor.js';

const isName = (p: unknown): p is { after: string } => typeof p === 'object' && p !== null && typeof (p as { after?: unknown }).after === 'string';

/** Cursors sealed by a real, unsealed barrier: opaque, tamper-evident, bound to caller and query. */
describe('page cursors', () => {
  let dir: string;
  let storage: Storage;
  let barrier: Barrier;
  const binding: CursorBinding = { caller: 'acc_a', listing: 'secrets', query: { prefix: 'dev/', region: 'us-east-1' } };

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'custos-cursor-'));
    storage = await openStorage({ url: `sqlite:${path.join(dir, 'custos.db')}` });
    barrier = createBarrier({ db: storage.db, systemStore: createSystemStore(), now: Date.now });
    const [key] = await storage.db.transaction().execute((tx) => barrier.initialize(tx, 1, 1));
    await barrier.submitUnsealShare(key!);
  });
  after(async () => {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const refused = async (promise: Promise<unknown>, what: string) => {
    await assert.rejects(promise, (e) => isAppError(e) && e.code === 'invalid_next_token', what);
  };

  test('a cursor round-trips for its binding and shows nothing of its position', async () => {
    const cursors = createPageCursors(barrier);
    const cursor = cursors.seal(binding, { after: 'prod/warehouse/root-password' });
    assert.match(cursor, /^[A-Za-z0-9_-]+$/);
    for (const decoded of [Buffer.from(cursor, 'base64url').toString('latin1'), cursor]) assert.ok(!decoded.includes('warehouse'));
    assert.notEqual(cursors.seal(binding, { after: 'prod/warehouse/root-password' }), cursor, 'sealed afresh each time');
    assert.deepEqual(await cursors.open(binding, cursor, isName), { after: 'prod/warehouse/root-password' });
    assert.equal(await cursors.open(binding, undefined, isName), undefined);
  });

  test('another caller, listing or query, an edited or foreign cursor, or garbage is invalid_next_token', async () => {
    const cursors = createPageCursors(barrier);
    const cursor = cursors.seal(binding, { after: 'dev/a' });
    await refused(cursors.open({ ...binding, caller: 'acc_b' }, cursor, isName), 'another caller');
    await refused(cursors.open({ ...binding, listing: 'versions' }, cursor, isName), 'another listing');
    await refused(cursors.open({ ...binding, query: { prefix: '', region: 'us-east-1' } }, cursor, isName), 'another query');
    const bytes = Buffer.from(cursor, 'base64url');
    bytes[bytes.length - 1]! ^= 1;
    await refused(cursors.open(binding, bytes.toString('base64url'), isName), 'edited');
    for (const garbage of ['', 'AAAA', 'not base64!', 'x'.repeat(5000), Buffer.from('dev/a').toString('base64url')]) await refused(cursors.open(binding, garbage, isName), garbage.slice(0, 20));
    await refused(cursors.open(binding, cursors.seal(binding, { offset: 3 }), isName), 'a position of another shape');
  });
});

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createBarrier } from '../../barrier/barrier.js';
import { isAppError } from '../../errors/app-error.js';
import { createLocalChangeBus } from '../../lib/change-bus.js';
import { createAuthorizer } from '../../services/authorizer.js';
import { SYSTEM_IDENTITY } from '../../auth/identity.types.js';
import { openStorage, type Storage } from '../../storage/database.js';
import { createPolicyStore } from '../../storage/policy-store.js';
import { createSystemStore } from '../../storage/system-store.js';
import { createTransitStore } from '../../storage/transit-store.js';
import type { ItemResult } from './batch.js';
import { MAX_BATCH_ITEMS } from './batch.js';
import { KEY_TYPES } from './key-types.js';
import { createTransitService } from './transit-service.js';

/** The engine end to end over real SQLite storage and a real barrier (root caller; policies are tested over HTTP). */
const root = SYSTEM_IDENTITY;
const b64 = (s: string) => Buffer.from(s).toString('base64');
const code = (error: unknown) => (isAppError(error) ? error.code : String(error));
function ok<T>(result: ItemResult<T> | undefined): T {
  assert.ok(result, 'a result');
  if (!result.ok) assert.fail(`item failed: ${result.error.code}: ${result.error.message}`);
  return result.value;
}
function failed(result: ItemResult<unknown> | undefined): string {
  assert.ok(result && !result.ok, 'the item should have failed');
  return result.error.code;
}

describe('transit service', () => {
  let dir: string;
  let storage: Storage;
  let barrier: ReturnType<typeof createBarrier>;
  let unsealKey: string;
  let transit: ReturnType<typeof createTransitService>;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'custos-transit-'));
    storage = await openStorage({ url: `sqlite:${path.join(dir, 'custos.db')}` });
    barrier = createBarrier({ db: storage.db, systemStore: createSystemStore(), now: Date.now });
    unsealKey = (await storage.db.transaction().execute((tx) => barrier.initialize(tx, 1, 1)))[0]!;
    await barrier.submitUnsealShare(unsealKey);
    const changes = createLocalChangeBus();
    const authorizer = createAuthorizer({ db: storage.db, policyStore: createPolicyStore(), changes });
    transit = createTransitService({ db: storage.db, store: createTransitStore(storage.dialect), barrier, authorizer, changes, now: Date.now, usage: { maxEncryptionsPerVersion: 25, reservationBlock: 10 } });
  });
  after(async () => {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('encrypt/decrypt round trip for both AEAD types, with associated data, single and batch', async () => {
    for (const type of ['aes256-gcm96', 'chacha20-poly1305'] as const) {
      const name = `prod/rt/${type}`;
      await transit.create(root, name, { type });
      const items = ['', 'a', 'x'.repeat(5000)].map((s, i) => ({ plaintext: b64(s), associated_data: b64(`row-${i}`) }));
      const encrypted = await transit.encrypt(root, name, items);
      assert.equal(encrypted.length, 3);
      const decrypted = await transit.decrypt(root, name, encrypted.map((r, i) => ({ ciphertext: ok(r).ciphertext, associated_data: b64(`row-${i}`) })));
      assert.deepEqual(decrypted.map((r) => ok(r).plaintext), items.map((i) => i.plaintext));
      assert.match(ok(encrypted[0]).ciphertext, /^custos:v1:/);
      // associated data of another row fails
      assert.equal(failed((await transit.decrypt(root, name, [{ ciphertext: ok(encrypted[1]).ciphertext, associated_data: b64('row-0') }]))[0]), 'transit_decryption_failed');
    }
  });

  test('tampered ciphertext, wrong context and malformed input fail with stable codes, per item', async () => {
    await transit.create(root, 'prod/tenants', { type: 'aes256-gcm96', derived: true });
    const [enc] = await transit.encrypt(root, 'prod/tenants', [{ plaintext: b64('secret'), context: b64('tenant-a') }]);
    const ciphertext = ok(enc).ciphertext;
    const body = Buffer.from(ciphertext.slice('custos:v1:'.length), 'base64');
    body[body.length - 1]! ^= 1;
    const results = await transit.decrypt(root, 'prod/tenants', [
      { ciphertext, context: b64('tenant-a') },
      { ciphertext: `custos:v1:${body.toString('base64')}`, context: b64('tenant-a') },
      { ciphertext, context: b64('tenant-b') },
      { ciphertext },
      { ciphertext: 'not-a-ciphertext', context: b64('tenant-a') },
      { ciphertext: 'custos:v9:AAAA', context: b64('tenant-a') },
    ]);
    assert.equal(ok(results[0]).plaintext, b64('secret'));
    assert.deepEqual(results.slice(1).map(failed), ['transit_decryption_failed', 'transit_decryption_failed', 'transit_context_required', 'transit_invalid_ciphertext', 'transit_version_not_allowed']);
    assert.equal(failed((await transit.encrypt(root, 'prod/tenants', [{ plaintext: 'not base64!' , context: b64('a') }]))[0]), 'validation_failed');
  });

  test('v1 ciphertexts decrypt after 3 rotations until min_decryption_version passes them; rewrap moves to the latest', async () => {
    const name = 'prod/rotating';
    await transit.create(root, name, { type: 'aes256-gcm96' });
    const v1 = ok((await transit.encrypt(root, name, [{ plaintext: b64('old') }]))[0]).ciphertext;
    for (let i = 0; i < 3; i++) await transit.rotate(root, name);
    assert.equal((await transit.read(root, name)).latestVersion, 4);
    assert.match(ok((await transit.encrypt(root, name, [{ plaintext: b64('new') }]))[0]).ciphertext, /^custos:v4:/);
    assert.equal(ok((await transit.decrypt(root, name, [{ ciphertext: v1 }]))[0]).plaintext, b64('old'));
    const rewrapped = ok((await transit.rewrap(root, name, [{ ciphertext: v1 }]))[0]);
    assert.equal(rewrapped.key_version, 4);
    assert.match(rewrapped.ciphertext, /^custos:v4:/);
    await transit.config(root, name, { minDecryptionVersion: 2 });
    assert.equal(failed((await transit.decrypt(root, name, [{ ciphertext: v1 }]))[0]), 'transit_version_not_allowed');
    assert.equal(ok((await transit.decrypt(root, name, [{ ciphertext: rewrapped.ciphertext }]))[0]).plaintext, b64('old'));
    // min_encryption_version pins new data to a version; encrypting with an older one is refused
    await transit.config(root, name, { minEncryptionVersion: 3 });
    assert.match(ok((await transit.encrypt(root, name, [{ plaintext: b64('x') }]))[0]).ciphertext, /^custos:v3:/);
    assert.equal(failed((await transit.encrypt(root, name, [{ plaintext: b64('x'), key_version: 2 }]))[0]), 'transit_version_not_allowed');
    await assert.rejects(transit.config(root, name, { minEncryptionVersion: 1 }), (e) => code(e) === 'validation_failed');
    // trim removes versions below the minimum for good, and never past it
    await assert.rejects(transit.trim(root, name, 3), (e) => code(e) === 'validation_failed');
    const trimmed = await transit.trim(root, name, 2);
    assert.deepEqual(trimmed.versions.map((v) => v.version), [2, 3, 4]);
    await assert.rejects(transit.config(root, name, { minDecryptionVersion: 1 }), (e) => code(e) === 'validation_failed');
  });

  test('datakey, sign/verify and hmac/verify-hmac round trip for every key type that supports them', async () => {
    await transit.create(root, 'prod/dk', { type: 'chacha20-poly1305' });
    const [withPlain] = await transit.datakey(root, 'prod/dk', 'plaintext', [{ bits: 256 }]);
    const [wrapped] = await transit.datakey(root, 'prod/dk', 'wrapped', [{}]);
    assert.equal(Buffer.from(ok(withPlain).plaintext!, 'base64').length, 32);
    assert.equal(ok(wrapped).plaintext, undefined);
    assert.equal(ok((await transit.decrypt(root, 'prod/dk', [{ ciphertext: ok(withPlain).ciphertext }]))[0]).plaintext, ok(withPlain).plaintext);
    assert.equal(failed((await transit.datakey(root, 'prod/dk', 'wrapped', [{ bits: 100 }]))[0]), 'validation_failed');

    for (const type of ['ed25519', 'ecdsa-p256', 'rsa-2048'] as const) {
      const name = `prod/sign/${type}`;
      const info = await transit.create(root, name, { type });
      assert.match(info.versions[0]!.publicKey!, /BEGIN PUBLIC KEY/);
      const [signed] = await transit.sign(root, name, [{ input: b64('payload') }]);
      const signature = ok(signed).signature;
      const verified = await transit.verify(root, name, [{ input: b64('payload'), signature }, { input: b64('tampered'), signature }]);
      assert.deepEqual(verified.map((r) => ok(r).valid), [true, false]);
      await transit.rotate(root, name);
      assert.equal(ok((await transit.verify(root, name, [{ input: b64('payload'), signature }]))[0]).valid, true, 'v1 signatures still verify');
      await assert.rejects(transit.encrypt(root, name, [{ plaintext: b64('x') }]), (e) => code(e) === 'transit_unsupported_operation');
    }

    await transit.create(root, 'prod/mac', { type: 'hmac' });
    for (const algorithm of ['sha2-256', 'sha2-512']) {
      const mac = ok((await transit.hmac(root, 'prod/mac', [{ input: b64('row'), algorithm }]))[0]).hmac;
      const checks = await transit.verifyHmac(root, 'prod/mac', [{ input: b64('row'), hmac: mac, algorithm }, { input: b64('rov'), hmac: mac, algorithm }]);
      assert.deepEqual(checks.map((r) => ok(r).valid), [true, false]);
    }
    await assert.rejects(transit.sign(root, 'prod/mac', [{ input: b64('x') }]), (e) => code(e) === 'transit_unsupported_operation');
    assert.deepEqual([...KEY_TYPES].sort(), ['aes256-gcm96', 'chacha20-poly1305', 'ecdsa-p256', 'ed25519', 'hmac', 'rsa-2048']);
  });

  test('the nonce usage bound: a spent version refuses with transit_key_rotation_required until rotated', async () => {
    const name = 'prod/bounded';
    await transit.create(root, name, { type: 'aes256-gcm96' });
    // bound 25 per version (set above): 20 in one batch, then 5 more, then none
    assert.equal((await transit.encrypt(root, name, Array.from({ length: 20 }, () => ({ plaintext: b64('x') })))).filter((r) => r.ok).length, 20);
    assert.equal((await transit.encrypt(root, name, Array.from({ length: 5 }, () => ({ plaintext: b64('x') })))).filter((r) => r.ok).length, 5);
    assert.equal(failed((await transit.encrypt(root, name, [{ plaintext: b64('x') }]))[0]), 'transit_key_rotation_required');
    assert.equal(failed((await transit.datakey(root, name, 'wrapped', [{}]))[0]), 'transit_key_rotation_required');
    await transit.rotate(root, name);
    assert.match(ok((await transit.encrypt(root, name, [{ plaintext: b64('x') }]))[0]).ciphertext, /^custos:v2:/);
  });

  test('batches over the limit are refused whole; export needs an exportable key; deletion needs deletion_allowed', async () => {
    await transit.create(root, 'prod/limits', { type: 'hmac' });
    await assert.rejects(transit.hmac(root, 'prod/limits', Array.from({ length: MAX_BATCH_ITEMS + 1 }, () => ({ input: '' }))), (e) => code(e) === 'transit_batch_too_large');
    await assert.rejects(transit.hmac(root, 'prod/limits', []), (e) => code(e) === 'validation_failed');
    await assert.rejects(transit.export(root, 'prod/limits'), (e) => code(e) === 'transit_not_exportable');
    await transit.create(root, 'prod/exportable', { type: 'ed25519', exportable: true });
    const exported = await transit.export(root, 'prod/exportable');
    assert.match(exported.keys['1']!, /BEGIN PRIVATE KEY/);
    await assert.rejects(transit.create(root, 'prod/limits', { type: 'hmac' }), (e) => code(e) === 'transit_key_exists');
    await assert.rejects(transit.delete(root, 'prod/limits'), (e) => code(e) === 'transit_deletion_not_allowed');
    await transit.config(root, 'prod/limits', { deletionAllowed: true });
    await transit.delete(root, 'prod/limits');
    await assert.rejects(transit.read(root, 'prod/limits'), (e) => code(e) === 'transit_key_not_found');
    await assert.rejects(transit.create(root, 'prod/../x', { type: 'hmac' }), (e) => code(e) === 'invalid_name');
    await assert.rejects(transit.create(root, 'prod/sig', { type: 'ed25519', derived: true }), (e) => code(e) === 'validation_failed');
  });

  test('key material is stored only as barrier ciphertext bound to its key and version', async () => {
    await transit.create(root, 'prod/bound-a', { type: 'aes256-gcm96', exportable: true });
    await transit.create(root, 'prod/bound-b', { type: 'aes256-gcm96' });
    const material = Buffer.from((await transit.export(root, 'prod/bound-a')).keys['1']!, 'base64');
    const rows = await storage.db.selectFrom('transit_key_versions').selectAll().execute();
    for (const row of rows) assert.equal(row.sealed_material.includes(material), false);
    // swap key a's sealed material into key b's row: it must not open as b's
    const a = rows.find((r) => r.key_name === 'prod/bound-a')!;
    await storage.db.updateTable('transit_key_versions').set({ sealed_material: a.sealed_material }).where('key_name', '=', 'prod/bound-b').execute();
    barrier.seal(); // drops the cache of unsealed keys
    await barrier.submitUnsealShare(unsealKey);
    await assert.rejects(transit.encrypt(root, 'prod/bound-b', [{ plaintext: b64('x') }]), (e) => code(e) === 'internal_error');
  });

  test('sealed: every operation answers sealed', async () => {
    await transit.create(root, 'prod/sealme', { type: 'aes256-gcm96' });
    barrier.seal();
    try {
      await assert.rejects(transit.encrypt(root, 'prod/sealme', [{ plaintext: b64('x') }]), (e) => code(e) === 'sealed');
      await assert.rejects(transit.read(root, 'prod/sealme'), (e) => code(e) === 'sealed');
      await assert.rejects(transit.rotate(root, 'prod/sealme'), (e) => code(e) === 'sealed');
    } finally {
      await barrier.submitUnsealShare(unsealKey);
    }
    assert.equal((await transit.encrypt(root, 'prod/sealme', [{ plaintext: b64('x') }]))[0]!.ok, true);
  });
});

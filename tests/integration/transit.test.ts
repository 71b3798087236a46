import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { api, runCli, startServer, type RunningServer } from '../support/custos-server.js';
import { assertErrorBody, createToken, writePolicy } from '../support/http-helpers.js';

/**
 * Transit over the real server: HTTP shapes, policies and environment binding (abuse cases
 * first), batches, export, seal, the CLI, and a canary plaintext searched for in the database
 * files, the logs and the audit log.
 */
const b64 = (s: string) => Buffer.from(s).toString('base64');

function encodings(canary: string): Buffer[] {
  const bytes = Buffer.from(canary, 'utf8');
  const forms = [bytes, Buffer.from(bytes.toString('hex')), Buffer.from(canary, 'utf16le')];
  for (const pad of [0, 1, 2]) {
    for (const enc of ['base64', 'base64url'] as const) {
      const text = Buffer.concat([Buffer.alloc(pad), bytes]).toString(enc);
      forms.push(Buffer.from(text.slice(Math.ceil((pad * 4) / 3) + 1, -4)));
    }
  }
  return forms;
}
const filesUnder = (dir: string): string[] => readdirSync(dir).flatMap((e) => (statSync(path.join(dir, e)).isDirectory() ? filesUnder(path.join(dir, e)) : [path.join(dir, e)]));

describe('transit engine over HTTP', () => {
  let server: RunningServer;
  let root = '';
  const post = (urlPath: string, body: unknown, token = root) => api(server, 'POST', urlPath, { token, body });

  before(async () => {
    server = await startServer({ logLevel: 'trace' });
    root = server.token;
    for (const [name, type] of [['prod/app/pii', 'aes256-gcm96'], ['dev/app/pii', 'aes256-gcm96'], ['prod/app/signer', 'ed25519'], ['prod/app/mac', 'hmac']]) {
      assert.equal((await post(`/v1/transit/keys/${name}`, { type })).status, 201);
    }
  });
  after(async () => {
    await server.stop();
    server.cleanup();
  });

  test('abuse: an env-bound token cannot use prod keys, whatever its policies say', async () => {
    await writePolicy(server, 'transit-all', 'rules:\n  - path: "transit:**"\n    capabilities: [encrypt, decrypt, sign, verify, rewrap, rotate, admin, read]\n');
    const { token } = await createToken(server, { policies: ['transit-all'], env: 'dev' });
    assertErrorBody(await post('/v1/transit/encrypt/prod/app/pii', { plaintext: b64('x') }, token), 403, 'environment_denied');
    assertErrorBody(await post('/v1/transit/keys/prod/app/new', { type: 'hmac' }, token), 403, 'environment_denied');
    assertErrorBody(await api(server, 'GET', '/v1/transit/export/prod/app/pii', { token }), 403, 'environment_denied');
    assert.equal((await post('/v1/transit/encrypt/dev/app/pii', { plaintext: b64('x') }, token)).status, 200);
    const listed = await api(server, 'GET', '/v1/transit/keys', { token });
    assert.deepEqual(listed.body.keys, ['dev/app/pii'], 'listing shows no prod names');
  });

  test('abuse: a token with encrypt cannot decrypt, rewrap, rotate or read; secret globs grant nothing on transit', async () => {
    await writePolicy(server, 'enc-only', 'rules:\n  - path: "transit:prod/app/*"\n    capabilities: [encrypt]\n');
    await writePolicy(server, 'every-secret', 'rules:\n  - path: "**"\n    capabilities: [read, list, create, update, delete, stage, rotate]\n');
    const enc = (await createToken(server, { policies: ['enc-only'] })).token;
    const secretsOnly = (await createToken(server, { policies: ['every-secret'] })).token;
    const encrypted = await post('/v1/transit/encrypt/prod/app/pii', { plaintext: b64('hello') }, enc);
    assert.equal(encrypted.status, 200);
    assertErrorBody(await post('/v1/transit/decrypt/prod/app/pii', { ciphertext: encrypted.body.ciphertext }, enc), 403, 'permission_denied');
    assertErrorBody(await post('/v1/transit/rewrap/prod/app/pii', { ciphertext: encrypted.body.ciphertext }, enc), 403, 'permission_denied');
    assertErrorBody(await post('/v1/transit/rotate/prod/app/pii', {}, enc), 403, 'permission_denied');
    assertErrorBody(await api(server, 'GET', '/v1/transit/keys/prod/app/pii', { token: enc }), 403, 'permission_denied');
    // a denied caller learns nothing about existence: a missing key is denied the same way
    assertErrorBody(await post('/v1/transit/decrypt/prod/app/missing', { ciphertext: encrypted.body.ciphertext }, enc), 403, 'permission_denied');
    assertErrorBody(await post('/v1/transit/encrypt/prod/app/pii', { plaintext: b64('x') }, secretsOnly), 403, 'permission_denied');
    assertErrorBody(await api(server, 'GET', '/v1/transit/keys', { token: secretsOnly }), 403, 'permission_denied');
    const decrypted = await post('/v1/transit/decrypt/prod/app/pii', { ciphertext: encrypted.body.ciphertext });
    assert.equal(Buffer.from(decrypted.body.plaintext, 'base64').toString(), 'hello');
  });

  test('abuse: export of a non-exportable key is refused; batches over 10,000 items are refused whole', async () => {
    assertErrorBody(await api(server, 'GET', '/v1/transit/export/prod/app/pii', { token: root }), 403, 'transit_not_exportable');
    const tooMany = Array.from({ length: 10_001 }, () => ({ plaintext: 'AA==' }));
    assertErrorBody(await post('/v1/transit/encrypt/prod/app/pii', { batch_input: tooMany }), 413, 'transit_batch_too_large');
    assertErrorBody(await post('/v1/transit/encrypt/prod/app/pii', { batch_input: [{ plaintext: 'AA==', bogus: 1 }] }), 400, 'validation_failed');
    assertErrorBody(await post('/v1/transit/encrypt/prod/app/pii', { plaintext: 'AA==', batch_input: [{ plaintext: 'AA==' }] }), 400, 'validation_failed');
    assertErrorBody(await post('/v1/transit/encrypt/prod/app/nokey', { plaintext: 'AA==' }), 404, 'transit_key_not_found');
  });

  test('a batch of 10,000 keeps order, fails items on their own, and is one audit event with the count', async () => {
    const items = Array.from({ length: 10_000 }, (_, i) => ({ plaintext: b64(`row-${i}`) }));
    const encrypted = await post('/v1/transit/encrypt/prod/app/pii', { batch_input: items });
    assert.equal(encrypted.status, 200);
    const ciphertexts = encrypted.body.batch_results.map((r: { ciphertext: string }) => r.ciphertext);
    const mixed = ciphertexts.map((c: string, i: number) => ({ ciphertext: i === 7 ? c.slice(0, -6) + 'AAAA==' : c }));
    const seqBefore = (await api(server, 'GET', '/v1/audit/events?order=desc&limit=1', { token: root })).body.events[0].seq;
    const decrypted = await post('/v1/transit/decrypt/prod/app/pii', { batch_input: mixed });
    assert.equal(decrypted.status, 200);
    const results = decrypted.body.batch_results;
    assert.equal(results.length, 10_000);
    assert.equal(results[7].error.code, 'transit_decryption_failed');
    assert.equal(Buffer.from(results[9_999].plaintext, 'base64').toString(), 'row-9999');
    assert.equal(Buffer.from(results[8].plaintext, 'base64').toString(), 'row-8');
    const events = (await api(server, 'GET', `/v1/audit/events?after_seq=${seqBefore}&limit=100`, { token: root })).body.events.filter((e: { operation: string }) => e.operation === 'transit.decrypt');
    assert.equal(events.length, 1);
    assert.deepEqual(events[0].detail, { batch: true, count: 10_000, failed: 1 });
    assert.equal(events[0].secret, 'transit:prod/app/pii');
  });

  test('sign/verify, hmac/verify-hmac, datakey and rewrap after rotation over HTTP', async () => {
    const signed = await post('/v1/transit/sign/prod/app/signer', { input: b64('doc') });
    assert.match(signed.body.signature, /^custos:v1:/);
    assert.equal((await post('/v1/transit/verify/prod/app/signer', { input: b64('doc'), signature: signed.body.signature })).body.valid, true);
    const mac = await post('/v1/transit/hmac/prod/app/mac', { input: b64('doc') });
    assert.equal((await post('/v1/transit/verify-hmac/prod/app/mac', { input: b64('doc'), hmac: mac.body.hmac })).body.valid, true);
    const dk = await post('/v1/transit/datakey/plaintext/prod/app/pii', {});
    assert.equal(Buffer.from(dk.body.plaintext, 'base64').length, 32);
    const wrapped = await post('/v1/transit/datakey/wrapped/prod/app/pii', { bits: 128 });
    assert.equal(wrapped.body.plaintext, undefined);
    const old = await post('/v1/transit/encrypt/prod/app/pii', { plaintext: b64('x') });
    assert.equal((await post('/v1/transit/rotate/prod/app/pii', {})).body.latest_version, 2);
    const rewrapped = await post('/v1/transit/rewrap/prod/app/pii', { ciphertext: old.body.ciphertext });
    assert.deepEqual([rewrapped.body.key_version, rewrapped.body.ciphertext.startsWith('custos:v2:')], [2, true]);
    assertErrorBody(await post('/v1/transit/decrypt/prod/app/pii', { ciphertext: 'custos:v1:garbage!' }), 400, 'transit_invalid_ciphertext');
  });

  test('the CLI drives keys and every operation', async () => {
    const cli = async (args: string[], input?: string) => {
      const r = await runCli(['transit', ...args], { server, input });
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      return r.stdout.trim();
    };
    await cli(['create', 'prod/cli/k', '--type', 'chacha20-poly1305', '--derived']);
    const ciphertext = await cli(['encrypt', 'prod/cli/k', '-', '--context', 'tenant-1'], 'from stdin');
    assert.match(ciphertext, /^custos:v1:/);
    assert.equal(await cli(['decrypt', 'prod/cli/k', ciphertext, '--context', 'tenant-1']), 'from stdin');
    const wrong = await runCli(['transit', 'decrypt', 'prod/cli/k', ciphertext, '--context', 'tenant-2'], { server });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /transit_decryption_failed/);
    await cli(['rotate', 'prod/cli/k']);
    assert.match(await cli(['rewrap', 'prod/cli/k', ciphertext, '--context', 'tenant-1']), /^custos:v2:/);
    await cli(['config', 'prod/cli/k', '--min-decryption-version', '2', '--deletion-allowed', 'true']);
    await cli(['trim', 'prod/cli/k', '--min-available-version', '2']);
    assert.match(await cli(['read', 'prod/cli/k']), /min_available_version\s+2/);
    const batchFile = path.join(server.home, 'batch.json');
    writeFileSync(batchFile, JSON.stringify([{ plaintext: b64('a'), context: b64('t') }, { plaintext: b64('b'), context: b64('t') }]));
    assert.equal(JSON.parse(await cli(['encrypt', 'prod/cli/k', '--batch', batchFile])).length, 2);
    await cli(['create', 'prod/cli/sig', '--type', 'ecdsa-p256', '--exportable']);
    const signature = await cli(['sign', 'prod/cli/sig', 'payload']);
    assert.equal(await cli(['verify', 'prod/cli/sig', signature, 'payload']), 'valid');
    assert.equal((await runCli(['transit', 'verify', 'prod/cli/sig', signature, 'other'], { server })).code, 1);
    await cli(['create', 'prod/cli/mac', '--type', 'hmac']);
    const mac = await cli(['hmac', 'prod/cli/mac', 'payload', '--algorithm', 'sha2-512']);
    assert.equal(await cli(['verify-hmac', 'prod/cli/mac', mac, 'payload', '--algorithm', 'sha2-512']), 'valid');
    assert.match(JSON.parse(await cli(['export', 'prod/cli/sig'])).keys['1'], /BEGIN PRIVATE KEY/);
    assert.ok(JSON.parse(await cli(['datakey', 'prod/cli/k', 'wrapped', '--context', 't'])).ciphertext);
    assert.ok((await cli(['list', 'prod/cli/'])).split('\n').includes('prod/cli/sig'));
    await cli(['delete', 'prod/cli/k']);
  });

  test('canary: a plaintext never reaches the database files, the logs or the audit log; then seal makes transit unavailable', async () => {
    const canary = `TRANSIT-CANARY-${randomBytes(12).toString('hex')}`;
    await post('/v1/transit/keys/prod/canary/k', { type: 'aes256-gcm96', derived: true });
    const single = await post('/v1/transit/encrypt/prod/canary/k', { plaintext: b64(canary), context: b64('c'), associated_data: b64(canary) });
    assert.equal(single.status, 200);
    const batch = await post('/v1/transit/encrypt/prod/canary/k', { batch_input: [{ plaintext: b64(canary), context: b64('c') }, { plaintext: 'not base64!', context: b64('c') }] });
    await post('/v1/transit/decrypt/prod/canary/k', { ciphertext: single.body.ciphertext, context: b64('c'), associated_data: b64(canary) });
    await post('/v1/transit/decrypt/prod/canary/k', { ciphertext: single.body.ciphertext, context: b64('wrong') }); // a failure path too
    await post('/v1/transit/rewrap/prod/canary/k', { batch_input: [{ ciphertext: batch.body.batch_results[0].ciphertext, context: b64('c') }] });
    await post('/v1/transit/hmac/prod/app/mac', { input: b64(canary) });
    await post('/v1/transit/sign/prod/app/signer', { input: b64(canary) });
    // the same request as a dict the server cannot parse as JSON
    await api(server, 'POST', '/v1/transit/encrypt/prod/canary/k', { token: root, rawBody: `{"plaintext":"${canary}"` });

    const events = (await api(server, 'GET', '/v1/audit/events?limit=10000', { token: root })).body.events;
    const audit = Buffer.from(JSON.stringify(events));
    const needles = encodings(canary);
    assert.equal(needles.findIndex((n) => audit.includes(n)), -1, 'canary in the audit log');
    assert.equal(audit.includes(Buffer.from('custos:v')), false, 'a ciphertext in the audit log');
    assert.equal(needles.findIndex((n) => Buffer.from(server.output()).includes(n)), -1, 'canary in the logs');
    const files = filesUnder(server.dataDir);
    assert.ok(files.some((f) => f.endsWith('-wal')), 'the WAL is searched too');
    for (const file of files) assert.equal(needles.findIndex((n) => readFileSync(file).includes(n)), -1, `canary in ${file}`);

    assert.equal((await post('/v1/sys/seal', {})).status, 200);
    assertErrorBody(await post('/v1/transit/encrypt/prod/canary/k', { plaintext: b64('x'), context: b64('c') }), 503, 'sealed');
    assertErrorBody(await api(server, 'GET', '/v1/transit/keys/prod/canary/k', { token: root }), 503, 'sealed');
    const unseal = await api(server, 'POST', '/v1/sys/unseal', { body: { key: readFileSync(path.join(server.dataDir, 'unseal.key'), 'utf8').trim() } });
    assert.equal(unseal.body.sealed, false);
    const again = await post('/v1/transit/decrypt/prod/canary/k', { ciphertext: single.body.ciphertext, context: b64('c'), associated_data: b64(canary) });
    assert.equal(Buffer.from(again.body.plaintext, 'base64').toString(), canary);
  });
});

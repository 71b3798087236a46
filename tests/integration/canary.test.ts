import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { api, runCli, startServer, type RunningServer } from '../support/custos-server.js';
import { createToken, idempotencyToken, rawRequest, writePolicy } from '../support/http-helpers.js';

/**
 * A canary secret value is written through every write path (and sent in requests that fail),
 * then searched for in every file under the data dir (database, -wal, -shm, key file), the
 * server's log output, the audit events and every error body. It must be found nowhere.
 */

/** Every encoding in which a value could plausibly land on disk or in a log. */
function encodings(canary: string): Buffer[] {
  const bytes = Buffer.from(canary, 'utf8');
  const forms = [bytes, Buffer.from(bytes.toString('hex')), Buffer.from(canary, 'utf16le'), Buffer.from(JSON.stringify(canary).slice(1, -1))];
  // base64 / base64url at each of the three alignments a value can have inside a longer blob.
  for (const pad of [0, 1, 2]) {
    for (const enc of ['base64', 'base64url'] as const) {
      const text = Buffer.concat([Buffer.alloc(pad), bytes]).toString(enc);
      // Drop the characters that mix in the padding bytes or the unknown next bytes.
      forms.push(Buffer.from(text.slice(Math.ceil((pad * 4) / 3) + 1, -4)));
    }
  }
  return forms;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = path.join(dir, entry);
    return statSync(full).isDirectory() ? filesUnder(full) : [full];
  });
}

function findIn(haystack: Buffer, needles: Buffer[]): number {
  return needles.findIndex((n) => haystack.includes(n));
}

describe('canary: a secret value never reaches disk in plaintext, the logs, the audit log or an error', () => {
  let server: RunningServer;
  const canary = `CANARY-${randomBytes(12).toString('hex')}`;
  const needles = encodings(canary);
  const errorBodies: string[] = [];
  const cliOutputs: string[] = [];
  let rootToken = '';

  before(async () => {
    // trace: the most verbose logging the server can do.
    server = await startServer({ logLevel: 'trace' });
    rootToken = server.token;
  });
  after(async () => {
    await server.stop();
    server.cleanup();
  });

  const send = async (method: string, urlPath: string, body?: unknown, token = rootToken) => {
    const r = await api(server, method, urlPath, { token, body });
    if (r.status >= 400) errorBodies.push(JSON.stringify(r.body));
    return r;
  };

  test('write the canary through every path, and in failing requests', async () => {
    const name = 'prod/canary/db';
    const json = JSON.stringify({ username: 'etl', password: canary });
    // Create with a value (idempotent, then a retry), put text, put binary, put with labels.
    const createToken1 = idempotencyToken();
    assert.equal((await send('POST', '/v1/secrets', { name, value: canary, idempotency_token: createToken1, description: 'canary test' })).status, 201);
    assert.equal((await send('POST', '/v1/secrets', { name, value: canary, idempotency_token: createToken1 })).status, 201);
    const putToken = idempotencyToken();
    assert.equal((await send('POST', `/v1/values/${name}`, { value: `${canary}-2`, idempotency_token: putToken })).status, 201);
    assert.equal((await send('POST', `/v1/values/${name}`, { value: `${canary}-2`, idempotency_token: putToken })).status, 200);
    assert.equal((await send('POST', `/v1/values/${name}`, { value: `different-${canary}`, idempotency_token: putToken })).status, 409);
    assert.equal((await send('POST', `/v1/values/${name}`, { value_base64: Buffer.from(`bin:${canary}`).toString('base64') })).status, 201);
    const pending = await send('POST', `/v1/values/${name}`, { value: json, labels: ['PENDING'] });
    assert.equal(pending.status, 201);
    const described = await send('GET', `/v1/secrets/${name}`);
    const current = described.body.versions.find((v: { labels: string[] }) => v.labels.includes('CURRENT')).version_id;
    assert.equal((await send('POST', `/v1/labels/${name}`, { label: 'CURRENT', move_to_version_id: pending.body.version_id, remove_from_version_id: current })).status, 200);
    // Reads return it (it must be in responses, just nowhere else).
    const read = await send('GET', `/v1/values/${name}`);
    assert.equal(read.body.value, json);
    assert.equal((await send('GET', `/v1/values/${name}?label=PREVIOUS`)).body.value_base64, Buffer.from(`bin:${canary}`).toString('base64'));
    const batch = await send('POST', '/v1/batch/values', { secrets: [{ name }, { name, label: 'PREVIOUS' }, { name: 'prod/canary/missing' }] });
    assert.deepEqual([batch.body.values.length, batch.body.errors.length, batch.body.values[0].value], [2, 1, json]);
    // Key rotation, then more writes under the new term.
    assert.equal((await send('POST', '/v1/sys/rotate-key')).status, 200);
    assert.equal((await send('POST', `/v1/values/${name}`, { value: `${canary}-after-rotation` })).status, 201);
    // Delete and restore keep the values encrypted.
    assert.equal((await send('DELETE', `/v1/secrets/${name}?recovery_days=7`)).status, 200);
    assert.equal((await send('GET', `/v1/values/${name}`)).status, 409);
    assert.equal((await send('POST', `/v1/restore/${name}`)).status, 200);

    // CLI paths: --value, stdin, --field.
    for (const args of [['secret', 'put', 'prod/canary/cli', '--value', canary], ['secret', 'put', 'prod/canary/cli', '-'], ['secret', 'put', 'prod/canary/json', '--value', json]]) {
      const r = await runCli(args, { server, input: `${canary}-stdin\n` });
      assert.equal(r.code, 0, r.stderr);
      cliOutputs.push(r.stdout + r.stderr);
    }
    const field = await runCli(['secret', 'get', 'prod/canary/json', '--field', 'password'], { server });
    assert.equal(field.stdout, canary + '\n');

    // Failing requests carrying the canary in value positions.
    await writePolicy(server, 'canary-read', JSON.stringify({ rules: [{ path: 'prod/**', capabilities: ['read'] }] }));
    const reader = await createToken(server, { policies: ['canary-read'] });
    const devOnly = await createToken(server, { policies: ['root'], env: 'dev' });
    const failing: [code: string, method: string, path: string, body: unknown, token?: string][] = [
      ['permission_denied', 'POST', `/v1/values/${name}`, { value: canary }, reader.token],
      ['environment_denied', 'POST', `/v1/values/${name}`, { value: canary }, devOnly.token],
      ['secret_not_found', 'POST', '/v1/values/prod/canary/missing', { value: canary }],
      ['value_too_large', 'POST', `/v1/values/${name}`, { value: canary + 'x'.repeat(65_536) }],
      ['validation_failed', 'POST', `/v1/values/${name}`, { value: canary, value_base64: 'YQ==' }],
      ['invalid_label', 'POST', `/v1/values/${name}`, { value: canary, labels: ['bad label'] }],
      ['validation_failed', 'POST', `/v1/values/${name}`, { value: canary, colour: 'red' }],
      ['validation_failed', 'POST', `/v1/values/${name}`, { value: [canary] }],
      ['validation_failed', 'POST', `/v1/values/${name}`, { value: canary, idempotency_token: 'short' }],
      ['secret_exists', 'POST', '/v1/secrets', { name, value: canary }],
      ['invalid_name', 'POST', '/v1/secrets', { name: 'prod/canary/../x', value: canary }],
      ['validation_failed', 'POST', '/v1/secrets', { name: 'prod/canary/new', value: canary, tags: { 'aws:x': 'y' } }],
    ];
    for (const [code, method, urlPath, body, token] of failing) {
      const r = await send(method, urlPath, body, token);
      assert.equal(r.body?.error?.code, code, `${method} ${urlPath} ${JSON.stringify(r.body)}`);
    }
    assert.equal((await send('GET', `/v1/values/${name}`, undefined, 'cst_' + 'A'.repeat(43))).body.error.code, 'invalid_token');
    // Malformed and oversize bodies.
    const malformed: [code: string, body: string][] = [
      ['invalid_json', `{"value": "${canary}"`],
      ['invalid_json', `{"value": "${canary}", }`],
      ['invalid_json', `{"value": "${canary}" "labels": []}`],
      ['payload_too_large', JSON.stringify({ value: canary + 'y'.repeat(600 * 1024) })],
    ];
    for (const [code, body] of malformed) {
      const r = await rawRequest(server, 'POST', `/v1/values/${name}`, { headers: { authorization: `Bearer ${rootToken}`, 'content-type': 'application/json' }, body });
      assert.equal(JSON.parse(r.text).error.code, code, r.text);
      errorBodies.push(r.text);
    }
    const wrongType = await rawRequest(server, 'POST', `/v1/values/${name}`, { headers: { authorization: `Bearer ${rootToken}`, 'content-type': 'text/plain' }, body: canary });
    assert.equal(JSON.parse(wrongType.text).error.code, 'validation_failed', wrongType.text);
    errorBodies.push(wrongType.text);
    // The canary is still readable (so the searches below look for something that exists).
    assert.equal((await send('GET', `/v1/values/${name}?label=PENDING`)).body.value, json);
  });

  test('the search finds the canary wherever it is encoded (positive control)', () => {
    for (const prefix of ['', 'a', 'ab', 'abc']) {
      const raw = Buffer.from(`${prefix}${canary}tail`);
      for (const encoded of [raw, Buffer.from(raw.toString('base64')), Buffer.from(raw.toString('base64url')), Buffer.from(raw.toString('hex')), Buffer.from(`${prefix}${canary}`, 'utf16le')]) {
        assert.notEqual(findIn(Buffer.concat([randomBytes(50), encoded, randomBytes(50)]), needles), -1, `found in ${encoded.toString().slice(0, 40)}`);
      }
    }
    assert.equal(findIn(randomBytes(100_000), needles), -1);
  });

  test('the canary is in no error body and no CLI output of a write', () => {
    assert.ok(errorBodies.length >= 17);
    for (const body of errorBodies) assert.equal(findIn(Buffer.from(body), needles), -1, `error body leaks the canary: ${body.slice(0, 200)}`);
    for (const out of cliOutputs) assert.equal(findIn(Buffer.from(out), needles), -1, `CLI output leaks the canary: ${out}`);
  });

  test('the canary is in no audit event', async () => {
    const events = await api(server, 'GET', '/v1/audit/events?limit=10000', { token: rootToken });
    assert.equal(events.status, 200);
    assert.ok(events.body.events.length > 40);
    assert.equal(findIn(Buffer.from(JSON.stringify(events.body)), needles), -1);
  });

  test('the canary is in no file under the data dir while running (database, -wal, -shm) nor after shutdown, nor in the logs', async () => {
    const checkFiles = (when: string) => {
      const files = [...filesUnder(server.dataDir), ...filesUnder(server.home)];
      assert.ok(files.some((f) => f.endsWith('custos.db')), `${when}: the database file exists`);
      for (const file of files) assert.equal(findIn(readFileSync(file), needles), -1, `${when}: ${file} holds the canary`);
      return files;
    };
    const running = checkFiles('running');
    assert.ok(running.some((f) => f.endsWith('custos.db-wal')), 'the WAL was searched while it held the recent writes');
    assert.ok(running.some((f) => f.endsWith('custos.db-shm')));
    assert.equal(await server.stop(), 0);
    checkFiles('stopped');
    const logs = server.output();
    assert.match(logs, /"level":/, 'the logs were captured');
    assert.equal(findIn(Buffer.from(logs), needles), -1, 'the server logs hold the canary');
  });
});

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { api, runCli, startServer, type RunningServer } from '../support/custos-server.js';
import { assertErrorBody, createSecret, writePolicy } from '../support/http-helpers.js';
import { advanceClock, enableMount, eventsOf, login, requestIdOf, writeRole } from '../support/auth-helpers.js';

/** Response wrapping: single use, short TTL, sealed payload, and a second opening raises an alert. */
describe('response wrapping', () => {
  let server: RunningServer;
  let roleId: string;
  const CANARY = 'wrapped-canary-value-93f1c2';
  const wrap5m = { 'x-custos-wrap-ttl': '5m' };
  const unwrap = (token: string) => api(server, 'POST', '/v1/sys/wrapping/unwrap', { body: { token } });

  before(async () => {
    server = await startServer({ env: { CUSTOS_TESTING_CLOCK: '1' } });
    await writePolicy(server, 'dev-read', JSON.stringify({ rules: [{ path: 'dev/**', capabilities: ['read'] }] }));
    await createSecret(server, 'dev/wrapped', CANARY);
    await enableMount(server, 'approle', 'approle');
    await writeRole(server, 'approle', 'worker', { policies: ['dev-read'], env: 'dev' });
    roleId = (await api(server, 'GET', '/v1/auth/approle/role/worker/role-id', { token: server.token })).body.role_id;
  });
  after(async () => {
    await server.stop();
    server.cleanup();
  });

  test('a wrapped secret id: the answer holds only the wrapping token; one unwrap opens it, the second fails and raises an alert', async () => {
    const created = await api(server, 'POST', '/v1/auth/approle/role/worker/secret-id', { token: server.token, body: {}, headers: wrap5m });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(Object.keys(created.body), ['wrap_info']);
    const info = created.body.wrap_info;
    assert.match(info.token, /^cwt_/);
    assert.equal(info.ttl, 300);
    assert.match(info.creation_path, /secret-id/);
    const [createEvent] = await eventsOf(server, requestIdOf(created));
    assert.equal(createEvent.detail.wrap_accessor, info.accessor, 'the creation event names the wrapping accessor');
    const opened = await unwrap(info.token);
    assert.equal(opened.status, 200, JSON.stringify(opened.body));
    assert.match(opened.body.secret_id, /^csi_/);
    assert.equal((await login(server, 'approle', { role_id: roleId, secret_id: opened.body.secret_id })).status, 200);
    const again = await unwrap(info.token);
    assertErrorBody(again, 410, 'wrapping_token_used');
    const [event] = await eventsOf(server, requestIdOf(again));
    assert.equal(event.operation, 'wrapping.unwrap');
    assert.equal(event.detail.alert, 'wrapping_token_reused');
    assert.equal(event.detail.possible_interception, true);
    assert.equal(event.detail.wrap_accessor, info.accessor);
    assert.ok(!JSON.stringify(event).includes(info.token));
  });

  test('concurrent unwraps: exactly one wins', async () => {
    const created = await api(server, 'POST', '/v1/auth/approle/role/worker/secret-id', { token: server.token, body: {}, headers: wrap5m });
    const results = await Promise.all(Array.from({ length: 6 }, () => unwrap(created.body.wrap_info.token)));
    assert.equal(results.filter((r) => r.status === 200).length, 1, JSON.stringify(results.map((r) => r.status)));
    for (const r of results.filter((x) => x.status !== 200)) assertErrorBody(r, 410, 'wrapping_token_used');
  });

  test('a wrapped secret value, token and login; the value is never stored in plaintext', async () => {
    const read = await api(server, 'GET', '/v1/values/dev/wrapped', { token: server.token, headers: wrap5m });
    assert.equal(read.status, 200, JSON.stringify(read.body));
    assert.ok(!JSON.stringify(read.body).includes(CANARY));
    const db = () => ['custos.db', 'custos.db-wal'].map((f) => {
      try {
        return readFileSync(path.join(server.dataDir, f)).toString('latin1');
      } catch {
        return '';
      }
    }).join('');
    assert.ok(!db().includes(CANARY), 'the wrapped value is sealed in the database');
    assert.equal((await unwrap(read.body.wrap_info.token)).body.value, CANARY);
    const token = await api(server, 'POST', '/v1/tokens', { token: server.token, body: { policies: ['dev-read'] }, headers: wrap5m });
    assert.equal(token.status, 201);
    assert.match((await unwrap(token.body.wrap_info.token)).body.token, /^cst_/);
    const sid = (await api(server, 'POST', '/v1/auth/approle/role/worker/secret-id', { token: server.token, body: {} })).body.secret_id;
    const wrappedLogin = await login(server, 'approle', { role_id: roleId, secret_id: sid }, wrap5m);
    assert.equal(wrappedLogin.status, 200, JSON.stringify(wrappedLogin.body));
    assert.equal(wrappedLogin.body.token, undefined);
    const opened = await unwrap(wrappedLogin.body.wrap_info.token);
    assert.equal(opened.body.env, 'dev');
    assert.ok(!server.output().includes(CANARY));
  });

  test('expiry, forged tokens, unwrappable routes and bad TTLs', async () => {
    const short = await api(server, 'POST', '/v1/auth/approle/role/worker/secret-id', { token: server.token, body: {}, headers: { 'x-custos-wrap-ttl': '60' } });
    await advanceClock(server, '2m');
    assertErrorBody(await unwrap(short.body.wrap_info.token), 401, 'wrapping_token_expired');
    assertErrorBody(await unwrap('cwt_' + 'x'.repeat(43)), 401, 'invalid_wrapping_token');
    assertErrorBody(await unwrap(server.token), 401, 'invalid_wrapping_token', 'a normal token is no wrapping token');
    assertErrorBody(await api(server, 'GET', '/v1/tokens/self', { token: server.token, headers: wrap5m }), 400, 'wrapping_not_supported');
    assertErrorBody(await api(server, 'GET', '/v1/values/dev/wrapped', { token: server.token, headers: { 'x-custos-wrap-ttl': 'soon' } }), 400, 'validation_failed');
    assertErrorBody(await api(server, 'GET', '/v1/values/dev/wrapped', { token: server.token, headers: { 'x-custos-wrap-ttl': '2d' } }), 400, 'validation_failed');
  });

  test('CLI: secret-id create --wrap-ttl, then login approle unwraps the file; custos unwrap refuses a used token', async () => {
    const minted = await runCli(['approle', 'secret-id', 'create', 'worker', '--wrap-ttl', '5m'], { server });
    assert.equal(minted.code, 0, minted.stderr);
    const wrapped = minted.stdout.trim();
    assert.match(wrapped, /^cwt_/);
    const file = path.join(server.home, 'wrapped-secret-id');
    writeFileSync(file, wrapped);
    const logged = await runCli(['login', 'approle', '--role-id', roleId, '--secret-id-file', file, '--json'], { server });
    assert.equal(logged.code, 0, logged.stderr);
    assert.equal(JSON.parse(logged.stdout).auth_role, 'worker');
    const reused = await runCli(['unwrap', '--token-file', file], { server });
    assert.notEqual(reused.code, 0);
    assert.match(reused.stderr, /wrapping_token_used/);
  });
});

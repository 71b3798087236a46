import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { api, runCli, startServer, type RunningServer } from '../support/custos-server.js';
import { assertErrorBody, writePolicy } from '../support/http-helpers.js';
import { advanceClock, enableMount, eventsOf, login, requestIdOf, writeRole } from '../support/auth-helpers.js';

/** userpass: scrypt hashes, lockout with backoff, audited failures, no password anywhere. */
describe('userpass', () => {
  let server: RunningServer;
  const PASSWORD = 'correct horse battery staple 7';

  before(async () => {
    server = await startServer({ env: { CUSTOS_TESTING_CLOCK: '1' } });
    await writePolicy(server, 'dev-read', JSON.stringify({ rules: [{ path: 'dev/**', capabilities: ['read'] }] }));
    await enableMount(server, 'userpass', 'userpass', { lockout_threshold: 3, lockout_base_seconds: 30 });
    await writeRole(server, 'userpass', 'ana', { policies: ['dev-read'], env: 'dev', password: PASSWORD });
  });
  after(async () => {
    await server.stop();
    server.cleanup();
  });

  test('the right password logs in; the user record never shows the hash', async () => {
    const r = await login(server, 'userpass', { username: 'ana', password: PASSWORD });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.env, 'dev');
    assert.equal(r.body.auth_role, 'ana');
    const read = await api(server, 'GET', '/v1/auth/userpass/role/ana', { token: server.token });
    assert.equal(read.status, 200);
    assert.ok(!/scrypt|password/.test(JSON.stringify(read.body)), JSON.stringify(read.body));
    assertErrorBody(await api(server, 'PUT', '/v1/auth/userpass/role/bob', { token: server.token, body: { policies: ['dev-read'], password: 'short' } }), 400, 'validation_failed');
  });

  test('wrong passwords and unknown users answer alike, are audited without the password, and lock the user out with backoff', async () => {
    const unknown = await login(server, 'userpass', { username: 'nobody', password: 'whatever-password' });
    assertErrorBody(unknown, 401, 'invalid_credentials');
    for (let i = 0; i < 3; i++) {
      const r = await login(server, 'userpass', { username: 'ana', password: `wrong-password-${i}` });
      assertErrorBody(r, 401, 'invalid_credentials');
      const [event] = await eventsOf(server, requestIdOf(r));
      assert.equal(event.operation, 'auth.login');
      assert.equal(event.detail.method, 'userpass');
      assert.equal(event.detail.role, 'ana');
      assert.equal(event.detail.failures, String(i + 1));
      assert.ok(!JSON.stringify(event).includes(`wrong-password-${i}`));
    }
    const locked = await login(server, 'userpass', { username: 'ana', password: PASSWORD });
    assertErrorBody(locked, 429, 'account_locked', 'even the right password while locked');
    assert.ok(locked.body.error.details.retry_after_seconds <= 30);
    await advanceClock(server, '31s');
    assertErrorBody(await login(server, 'userpass', { username: 'ana', password: 'wrong-again-password' }), 401, 'invalid_credentials');
    const longer = await login(server, 'userpass', { username: 'ana', password: PASSWORD });
    assertErrorBody(longer, 429, 'account_locked', 'the next failure locks for longer');
    assert.ok(longer.body.error.details.retry_after_seconds > 30, JSON.stringify(longer.body));
    await advanceClock(server, '61s');
    assert.equal((await login(server, 'userpass', { username: 'ana', password: PASSWORD })).status, 200);
    assertErrorBody(await login(server, 'userpass', { username: 'ana', password: 'one-more-wrong' }), 401, 'invalid_credentials', 'a success resets the count');
    assert.equal((await login(server, 'userpass', { username: 'ana', password: PASSWORD })).status, 200);
  });

  test('CLI: userpass create and login userpass read the password from a file, never an argument', async () => {
    const file = path.join(server.home, 'pw');
    writeFileSync(file, 'another long password 42\n', { mode: 0o600 });
    const created = await runCli(['userpass', 'create', 'ben', '--policy', 'dev-read', '--env', 'dev', '--password-file', file], { server });
    assert.equal(created.code, 0, created.stderr);
    const logged = await runCli(['login', 'userpass', '--username', 'ben', '--password-file', file, '--json'], { server });
    assert.equal(logged.code, 0, logged.stderr);
    assert.equal(JSON.parse(logged.stdout).auth_role, 'ben');
  });

  test('no password in the database file or the server output', () => {
    const db = ['custos.db', 'custos.db-wal'].map((f) => {
      try {
        return readFileSync(path.join(server.dataDir, f)).toString('latin1');
      } catch {
        return '';
      }
    }).join('');
    for (const pw of [PASSWORD, 'another long password 42']) {
      assert.ok(!db.includes(pw));
      assert.ok(!server.output().includes(pw));
    }
  });
});

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { api, runCli, startServer, type RunningServer } from '../support/custos-server.js';
import { assertErrorBody, createSecret, createToken, writePolicy } from '../support/http-helpers.js';
import { advanceClock, enableMount, eventsOf, login, requestIdOf, writeRole } from '../support/auth-helpers.js';

/** AppRole end to end: logins, limits, TTLs, CIDRs, revocation, env binding, audit, and the abuse cases. */
describe('approle', () => {
  let server: RunningServer;
  const secretIds: string[] = [];

  async function roleId(role: string): Promise<string> {
    const r = await api(server, 'GET', `/v1/auth/approle/role/${role}/role-id`, { token: server.token });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.role_id;
  }
  async function mintSecretId(role: string, body: Record<string, unknown> = {}): Promise<{ secret_id: string; secret_id_accessor: string }> {
    const r = await api(server, 'POST', `/v1/auth/approle/role/${role}/secret-id`, { token: server.token, body });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    secretIds.push(r.body.secret_id);
    return r.body;
  }

  before(async () => {
    server = await startServer({ env: { CUSTOS_TESTING_CLOCK: '1' } });
    await writePolicy(server, 'dev-read', JSON.stringify({ rules: [{ path: 'dev/**', capabilities: ['read'] }] }));
    await writePolicy(server, 'all-read', JSON.stringify({ rules: [{ path: '**', capabilities: ['read'] }] }));
    await createSecret(server, 'dev/airflow/db', 'dev-value');
    await createSecret(server, 'prod/airflow/db', 'prod-value');
    await enableMount(server, 'approle', 'approle');
    await writeRole(server, 'approle', 'airflow', { policies: ['dev-read'], env: 'dev', token_ttl: '10m', token_max_ttl: '1h', secret_id_ttl: '1h', secret_id_num_uses: 2 });
    // Broad policies but bound to dev: the binding must still keep it out of prod.
    await writeRole(server, 'approle', 'dev-broad', { policies: ['all-read'], env: 'dev' });
  });
  after(async () => {
    await server.stop();
    server.cleanup();
  });

  test('a login answers a normal token with the role\'s policies, env, TTL and accessor, and one audit event without the secret id', async () => {
    const rid = await roleId('airflow');
    const { secret_id: sid, secret_id_accessor: sia } = await mintSecretId('airflow');
    const r = await login(server, 'approle', { role_id: rid, secret_id: sid });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.match(r.body.token, /^cst_/);
    assert.match(r.body.accessor, /^acc_/);
    assert.deepEqual(r.body.policies, ['dev-read']);
    assert.equal(r.body.env, 'dev');
    assert.equal(r.body.ttl_seconds, 600);
    assert.equal(r.body.auth_mount, 'approle');
    assert.equal(r.body.auth_role, 'airflow');
    const read = await api(server, 'GET', '/v1/values/dev/airflow/db', { token: r.body.token });
    assert.equal(read.body.value, 'dev-value');
    const events = await eventsOf(server, requestIdOf(r));
    assert.equal(events.length, 1);
    assert.equal(events[0].operation, 'auth.login');
    assert.equal(events[0].outcome, 'success');
    assert.equal(events[0].detail.method, 'approle');
    assert.equal(events[0].detail.role, 'airflow');
    assert.equal(events[0].detail.secret_id_accessor, sia);
    assert.equal(events[0].detail.created_accessor, r.body.accessor);
    assert.ok(!JSON.stringify(events).includes(sid), 'the secret id is not in the audit event');
  });

  test('use limit: the uses are spent exactly once each, also under concurrent replays', async () => {
    const rid = await roleId('airflow');
    const { secret_id: sid } = await mintSecretId('airflow');
    const results = await Promise.all(Array.from({ length: 8 }, () => login(server, 'approle', { role_id: rid, secret_id: sid })));
    assert.equal(results.filter((r) => r.status === 200).length, 2, JSON.stringify(results.map((r) => r.status)));
    for (const r of results.filter((x) => x.status !== 200)) assertErrorBody(r, 401, 'secret_id_exhausted');
    assertErrorBody(await login(server, 'approle', { role_id: rid, secret_id: sid }), 401, 'secret_id_exhausted', 'replay after the limit');
  });

  test('TTLs: an expired secret id and an expired login token are refused', async () => {
    const rid = await roleId('airflow');
    const { secret_id: sid } = await mintSecretId('airflow', { ttl: '30m' });
    const early = await login(server, 'approle', { role_id: rid, secret_id: sid });
    assert.equal(early.status, 200);
    await advanceClock(server, '11m');
    assertErrorBody(await api(server, 'GET', '/v1/tokens/self', { token: early.body.token }), 401, 'token_expired');
    await advanceClock(server, '20m');
    const expired = await login(server, 'approle', { role_id: rid, secret_id: sid });
    assertErrorBody(expired, 401, 'secret_id_expired');
    const events = await eventsOf(server, requestIdOf(expired));
    assert.equal(events[0].outcome, 'denied');
    assert.equal(events[0].error_code, 'secret_id_expired');
  });

  test('a revoked secret id is refused; list shows accessors and limits but never a secret id or its hash', async () => {
    const rid = await roleId('airflow');
    const { secret_id: sid, secret_id_accessor: sia } = await mintSecretId('airflow');
    const revoke = await api(server, 'POST', '/v1/auth/approle/role/airflow/secret-id/revoke', { token: server.token, body: { secret_id_accessor: sia } });
    assert.equal(revoke.status, 200, JSON.stringify(revoke.body));
    assertErrorBody(await login(server, 'approle', { role_id: rid, secret_id: sid }), 401, 'secret_id_revoked');
    const list = await api(server, 'GET', '/v1/auth/approle/role/airflow/secret-id', { token: server.token });
    assert.equal(list.status, 200);
    const mine = list.body.secret_ids.find((s: any) => s.secret_id_accessor === sia);
    assert.equal(mine.revoked, true);
    const text = JSON.stringify(list.body);
    for (const s of secretIds) assert.ok(!text.includes(s), 'no secret id in the listing');
    assert.ok(!/secret_id"|hash/.test(text), `no secret_id or hash field: ${text.slice(0, 200)}`);
    assertErrorBody(await api(server, 'POST', '/v1/auth/approle/role/airflow/secret-id/revoke', { token: server.token, body: { secret_id_accessor: sia } }), 404, 'secret_id_not_found');
  });

  test('forged and mixed credentials all answer invalid_credentials alike', async () => {
    const rid = await roleId('airflow');
    const other = await mintSecretId('dev-broad');
    const forged = 'csi_' + 'A'.repeat(43);
    for (const body of [{ role_id: rid, secret_id: forged }, { role_id: rid, secret_id: other.secret_id }, { role_id: 'rid_' + 'B'.repeat(24), secret_id: other.secret_id }, { role_id: 'x', secret_id: 'y' }]) {
      assertErrorBody(await login(server, 'approle', body), 401, 'invalid_credentials', JSON.stringify(body));
    }
    assertErrorBody(await login(server, 'approle', { role_id: rid }), 400, 'validation_failed');
    assertErrorBody(await login(server, 'approle', { role_id: rid, secret_id: forged, extra: 1 }), 400, 'validation_failed');
    assertErrorBody(await login(server, 'nowhere', { role_id: rid, secret_id: forged }), 404, 'auth_mount_not_found');
  });

  test('an env-bound (dev) role never reaches prod, even with policies that would allow it', async () => {
    const rid = await roleId('dev-broad');
    const { secret_id: sid } = await mintSecretId('dev-broad');
    const r = await login(server, 'approle', { role_id: rid, secret_id: sid });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal((await api(server, 'GET', '/v1/values/dev/airflow/db', { token: r.body.token })).status, 200);
    assertErrorBody(await api(server, 'GET', '/v1/values/prod/airflow/db', { token: r.body.token }), 403, 'environment_denied');
    // and it cannot mint itself an unbound child token (it holds no sys:tokens either)
    assertErrorBody(await api(server, 'POST', '/v1/tokens', { token: r.body.token, body: { policies: ['all-read'], env: 'prod' } }), 403, 'permission_denied');
  });

  test('CIDR binding: of the login source and of the issued token', async () => {
    await writeRole(server, 'approle', 'from-10', { policies: ['dev-read'], env: 'dev', secret_id_bound_cidrs: ['10.0.0.0/8'] });
    let sid = (await mintSecretId('from-10')).secret_id;
    assertErrorBody(await login(server, 'approle', { role_id: await roleId('from-10'), secret_id: sid }), 403, 'source_not_allowed');
    await writeRole(server, 'approle', 'token-10', { policies: ['dev-read'], env: 'dev', token_bound_cidrs: ['10.0.0.0/8'] });
    sid = (await mintSecretId('token-10')).secret_id;
    const bound = await login(server, 'approle', { role_id: await roleId('token-10'), secret_id: sid });
    assert.equal(bound.status, 200, JSON.stringify(bound.body));
    assert.deepEqual(bound.body.bound_cidrs, ['10.0.0.0/8']);
    assertErrorBody(await api(server, 'GET', '/v1/values/dev/airflow/db', { token: bound.body.token }), 403, 'source_not_allowed');
    await writeRole(server, 'approle', 'loopback', { policies: ['dev-read'], env: 'dev', token_bound_cidrs: ['127.0.0.0/8'], secret_id_bound_cidrs: ['127.0.0.1/32'] });
    sid = (await mintSecretId('loopback', { cidrs: ['127.0.0.1'] })).secret_id;
    const ok = await login(server, 'approle', { role_id: await roleId('loopback'), secret_id: sid });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal((await api(server, 'GET', '/v1/values/dev/airflow/db', { token: ok.body.token })).status, 200);
    sid = (await mintSecretId('loopback', { cidrs: ['192.168.0.0/16'] })).secret_id;
    assertErrorBody(await login(server, 'approle', { role_id: await roleId('loopback'), secret_id: sid }), 403, 'source_not_allowed', 'the secret id\'s own CIDRs apply too');
  });

  test('no privilege widening: roles only grant policies their author holds, never root, and env-bound tokens cannot manage auth', async () => {
    await writePolicy(server, 'role-admin', JSON.stringify({ rules: [{ path: 'sys:auth/**', capabilities: ['read', 'update', 'create', 'delete', 'list'] }] }));
    const admin = await createToken(server, { policies: ['role-admin', 'dev-read'] });
    const widen = await api(server, 'PUT', '/v1/auth/approle/role/sneaky', { token: admin.token, body: { policies: ['all-read'] } });
    assertErrorBody(widen, 403, 'permission_denied');
    const ok = await api(server, 'PUT', '/v1/auth/approle/role/narrow', { token: admin.token, body: { policies: ['dev-read'], env: 'dev' } });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assertErrorBody(await api(server, 'PUT', '/v1/auth/approle/role/rooty', { token: server.token, body: { policies: ['root'] } }), 400, 'validation_failed');
    const bound = await createToken(server, { policies: ['role-admin', 'dev-read'], env: 'dev' });
    assertErrorBody(await api(server, 'PUT', '/v1/auth/approle/role/x', { token: bound.token, body: { policies: ['dev-read'] } }), 403, 'environment_denied');
    const reader = await createToken(server, { policies: ['dev-read'] });
    assertErrorBody(await api(server, 'POST', '/v1/auth/approle/role/airflow/secret-id', { token: reader.token, body: {} }), 403, 'permission_denied');
    assertErrorBody(await api(server, 'GET', '/v1/auth/approle/role/airflow/role-id', { token: reader.token }), 403, 'permission_denied');
    const listed = await api(server, 'GET', '/v1/auth/approle/role', { token: admin.token });
    assert.equal(listed.status, 200);
  });

  test('CLI: approle create/read/list, secret-id create/list, login approle from a file, delete', async () => {
    const cli = (args: string[]) => runCli(args, { server });
    const created = await cli(['approle', 'create', 'spark', '--policy', 'dev-read', '--env', 'dev', '--token-ttl', '15m', '--secret-id-num-uses', '1', '--json']);
    assert.equal(created.code, 0, created.stderr);
    const roleIdValue = JSON.parse(created.stdout).role_id as string;
    assert.match(roleIdValue, /^rid_/);
    const minted = await cli(['approle', 'secret-id', 'create', 'spark']);
    assert.equal(minted.code, 0, minted.stderr);
    const sid = minted.stdout.trim();
    assert.match(sid, /^csi_/);
    secretIds.push(sid);
    const file = path.join(server.home, 'secret-id');
    writeFileSync(file, sid + '\n', { mode: 0o600 });
    const loggedIn = await cli(['login', 'approle', '--role-id', roleIdValue, '--secret-id-file', file]);
    assert.equal(loggedIn.code, 0, loggedIn.stderr);
    assert.match(loggedIn.stdout, /Logged in/);
    const saved = readFileSync(path.join(server.home, '.custos', 'token'), 'utf8').trim();
    assert.equal((await api(server, 'GET', '/v1/values/dev/airflow/db', { token: saved })).body.value, 'dev-value');
    const again = await cli(['login', 'approle', '--role-id', roleIdValue, '--secret-id-file', file]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /secret_id_exhausted/);
    // the saved token is the approle one now; log in as root again for the rest
    const rootFile = path.join(server.home, 'root-token');
    writeFileSync(rootFile, server.token + '\n', { mode: 0o600 });
    assert.equal((await cli(['login', '--token-file', rootFile])).code, 0);
    const list = await cli(['approle', 'secret-id', 'list', 'spark', '--json']);
    assert.equal(list.code, 0, list.stderr);
    assert.ok(!list.stdout.includes(sid));
    assert.equal((await cli(['approle', 'list'])).code, 0);
    assert.equal((await cli(['approle', 'delete', 'spark'])).code, 0);
    const gone = await cli(['approle', 'read', 'spark']);
    assert.match(gone.stderr, /role_not_found/);
  });

  test('disabling the mount revokes every token it issued', async () => {
    await enableMount(server, 'temp', 'approle');
    await writeRole(server, 'temp', 'r', { policies: ['dev-read'], env: 'dev' });
    const rid = (await api(server, 'GET', '/v1/auth/temp/role/r/role-id', { token: server.token })).body.role_id;
    const sid = (await api(server, 'POST', '/v1/auth/temp/role/r/secret-id', { token: server.token, body: {} })).body.secret_id;
    secretIds.push(sid);
    const t = await login(server, 'temp', { role_id: rid, secret_id: sid });
    assert.equal(t.status, 200);
    const off = await api(server, 'DELETE', '/v1/sys/auth/temp', { token: server.token });
    assert.equal(off.status, 200, JSON.stringify(off.body));
    assert.equal(off.body.revoked_tokens, 1);
    assertErrorBody(await api(server, 'GET', '/v1/tokens/self', { token: t.body.token }), 401, 'token_revoked');
    assertErrorBody(await login(server, 'temp', { role_id: rid, secret_id: sid }), 404, 'auth_mount_not_found');
  });

  test('no secret id appears in the database files or the server log', async () => {
    const dbText = ['custos.db', 'custos.db-wal'].map((f) => {
      try {
        return readFileSync(path.join(server.dataDir, f)).toString('latin1');
      } catch {
        return '';
      }
    }).join('');
    assert.ok(secretIds.length >= 5);
    for (const sid of secretIds) {
      assert.ok(!dbText.includes(sid), 'secret id in the database file');
      assert.ok(!server.output().includes(sid), 'secret id in the server output');
    }
  });
});

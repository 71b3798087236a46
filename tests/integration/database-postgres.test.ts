import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startPostgresCluster, type PostgresCluster } from '../support/postgres-cluster.js';
import { api, repoRoot, runCli, startServer, type RunningServer } from '../support/custos-server.js';
import { advanceClock } from '../support/auth-helpers.js';
import { createToken, eventually, writePolicy } from '../support/http-helpers.js';
import { adminValue, canLogin, rootToken, type PgCred } from '../support/rotation-fixture.js';
import { postgresDialect } from '../../src/engines/database/dialects.js';
import { renderStatement } from '../../src/engines/database/templates.js';

/**
 * Dynamic PostgreSQL users against a real cluster: issue, log in, renew, revoke (the user is
 * gone), expiry through the leader's sweeper, a restart with leases due, hostile names and
 * passwords, environment binding and policies, and the password canary.
 */
let cluster: PostgresCluster;
let server: RunningServer;
let token: string;
const issuedPasswords: string[] = [];
const CREATE = ['CREATE ROLE {{name}} WITH LOGIN PASSWORD {{password}} VALID UNTIL {{expiration}}', 'GRANT CONNECT ON DATABASE postgres TO {{name}}'];

const credOf = (body: { username: string; password: string }): PgCred => ({ host: cluster.host, port: cluster.port, dbname: 'postgres', username: body.username, password: body.password });

async function issue(role: string, as = token, ttl?: number) {
  const r = await api(server, 'POST', `/v1/database/creds/${role}`, { token: as, body: ttl ? { ttl } : {} });
  if (r.status === 200) issuedPasswords.push(r.body.password);
  return r;
}

async function roleExists(name: string): Promise<boolean> {
  const client = new pg.Client({ host: cluster.host, port: cluster.port, database: 'postgres', user: cluster.superuser, password: cluster.superPassword });
  await client.connect();
  try {
    return (await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).rowCount === 1;
  } finally {
    await client.end();
  }
}

async function writeRole(name: string, body: Record<string, unknown>) {
  const r = await api(server, 'POST', `/v1/database/roles/${name}`, { token, body: { connection: 'pg', creation_statements: CREATE, ...body } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
}

describe('database engine on PostgreSQL', () => {
  before(async () => {
    cluster = await startPostgresCluster();
    server = await startServer({ env: { CUSTOS_TESTING_CLOCK: '1', CUSTOS_LEASE_SWEEP_SECONDS: '0.2' } });
    token = server.token;
    assert.equal((await api(server, 'POST', '/v1/secrets', { token, body: { name: 'prod/pg-admin', value: adminValue(cluster) } })).status, 201);
    const c = await api(server, 'POST', '/v1/database/config/pg', { token, body: { plugin: 'postgresql', admin_secret: 'prod/pg-admin', allowed_roles: ['ro', 'prodonly', 'hostile', 'short', 'free', 'brief', 'failing'] } });
    assert.equal(c.status, 200, JSON.stringify(c.body));
    // A policy that grants nothing here, for tokens that must be refused.
    await writePolicy(server, 'nothing', JSON.stringify({ rules: [{ path: 'dev/unrelated', capabilities: ['read'] }] }));
    await writeRole('ro', { default_ttl: 60, max_ttl: 120 });
    await writeRole('prodonly', { env: 'prod' });
    await writeRole('free', {});
  });

  after(async () => {
    await server?.stop();
    // Canary: no issued password in the server's log, its audit log, or its database files.
    const files = readdirSync(server.dataDir, { recursive: true }).map(String).map((f) => path.join(server.dataDir, f)).filter((f) => !f.endsWith('/') && !readdirSafe(f));
    for (const p of issuedPasswords) {
      assert.ok(!server.output().includes(p), 'an issued password reached the server log');
      for (const f of files) assert.ok(!readFileSync(f).includes(Buffer.from(p)), `an issued password is in ${f} in plaintext`);
    }
    assert.ok(!server.output().includes(cluster.superPassword), 'the admin password reached the server log');
    server?.cleanup();
    await cluster?.stop();
  });

  test('a connection is verified on write: a wrong admin password is refused and nothing is stored', async () => {
    await api(server, 'POST', '/v1/secrets', { token, body: { name: 'prod/pg-wrong', value: JSON.stringify({ host: cluster.host, port: cluster.port, username: cluster.superuser, password: 'not-it' }) } });
    const r = await api(server, 'POST', '/v1/database/config/wrong', { token, body: { plugin: 'postgresql', admin_secret: 'prod/pg-wrong', allowed_roles: ['*'] } });
    assert.equal(r.status, 502);
    assert.equal(r.body.error.code, 'database_connection_failed');
    assert.ok(!r.body.error.message.includes('not-it'));
    assert.equal((await api(server, 'GET', '/v1/database/config/wrong', { token })).status, 404);
  });

  test('issue, log in, renew, revoke: after revocation the user is gone and cannot log in', async () => {
    const r = await issue('ro');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.match(r.body.lease_id, /^database\/creds\/ro\//);
    assert.equal(r.body.lease_duration, 60);
    const cred = credOf(r.body);
    assert.equal(await canLogin(cred), true, 'the issued user logs in');

    const metrics = await fetch(`${server.address}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    assert.match(await metrics.text(), /^custos_leases\{state="active"\} [1-9]/m, 'the lease is counted in /metrics');
    const renewed = await api(server, 'POST', '/v1/leases/renew', { token, body: { lease_id: r.body.lease_id, increment: 30 } });
    assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
    assert.equal(await canLogin(cred), true);

    const revoked = await api(server, 'POST', '/v1/leases/revoke', { token, body: { lease_id: r.body.lease_id } });
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    assert.equal(revoked.body.state, 'revoked');
    assert.equal(await canLogin(cred), false, 'the revoked user no longer logs in');
    assert.equal(await roleExists(r.body.username), false, 'the role was dropped');
    const again = await api(server, 'POST', '/v1/leases/revoke', { token, body: { lease_id: r.body.lease_id } });
    assert.equal(again.status, 200, 'revoking twice succeeds');

    // Audit: issue and revoke name the lease; no event carries the password.
    const events = await api(server, 'GET', '/v1/audit/events?order=desc&limit=200', { token });
    const mine = (events.body.events as any[]).filter((e) => e.detail?.lease_id === r.body.lease_id);
    assert.ok(mine.some((e) => e.operation === 'database.creds'), 'issue audited with the lease id');
    assert.ok(mine.some((e) => e.operation === 'lease.revoke'), 'revoke audited with the lease id');
    assert.ok(!JSON.stringify(events.body).includes(r.body.password), 'no password in audit events');
  });

  test('renewal never goes past the max TTL; at the max it is refused', async () => {
    const r = await issue('ro');
    assert.equal(r.status, 200);
    await advanceClock(server, '50s');
    const capped = await api(server, 'POST', '/v1/leases/renew', { token, body: { lease_id: r.body.lease_id, increment: 3600 } });
    assert.equal(capped.status, 200, JSON.stringify(capped.body));
    assert.equal(capped.body.expires_at, capped.body.max_expires_at, 'capped at the max TTL');
    const refused = await api(server, 'POST', '/v1/leases/renew', { token, body: { lease_id: r.body.lease_id, increment: 10 } });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error.code, 'lease_max_ttl_reached');
    await api(server, 'POST', '/v1/leases/revoke', { token, body: { lease_id: r.body.lease_id } });
  });

  test('an expired lease is revoked by the sweeper: the user is dropped', async () => {
    const r = await issue('ro', token, 30);
    assert.equal(r.status, 200);
    const cred = credOf(r.body);
    assert.equal(await canLogin(cred), true);
    await advanceClock(server, '31s');
    await eventually('the expired user is dropped', async () => !(await roleExists(r.body.username)));
    assert.equal(await canLogin(cred), false);
    const lookup = await api(server, 'GET', `/v1/leases/lookup?lease_id=${encodeURIComponent(r.body.lease_id)}`, { token });
    assert.equal(lookup.body.state, 'revoked');
  });

  test('hostile names and passwords: quotes and backslashes are quoted, never executed', async () => {
    // The renderer against the real server, with values no generator would produce.
    const name = `o'neil"\\x;--`;
    const password = `p'a"s\\s;--$$'); DROP ROLE postgres; --`;
    const sql = renderStatement(postgresDialect, 'CREATE ROLE {{name}} WITH LOGIN PASSWORD {{password}}', { name, password });
    const admin = new pg.Client({ host: cluster.host, port: cluster.port, database: 'postgres', user: cluster.superuser, password: cluster.superPassword });
    await admin.connect();
    try {
      await admin.query(sql);
      assert.equal(await canLogin({ host: cluster.host, port: cluster.port, dbname: 'postgres', username: name, password }), true, 'the exact hostile name and password log in');
      await admin.query(renderStatement(postgresDialect, 'DROP ROLE {{name}}', { name }));
    } finally {
      await admin.end();
    }
    // Through the engine: a username template with quotes and a backslash, a display name with quotes.
    await writeRole('hostile', { username_template: `q'"\\_{{display_name}}_{{random}}`, password_length: 64 });
    await writePolicy(server, 'hostile-creds', JSON.stringify({ rules: [{ path: 'database:creds/hostile', capabilities: ['read'] }] }));
    const t = await createToken(server, { display_name: `it's "me"`, policies: ['hostile-creds'] });
    for (let i = 0; i < 3; i++) {
      const r = await issue('hostile', t.token);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.ok(r.body.username.startsWith(`q'"\\_`), r.body.username);
      assert.equal(await canLogin(credOf(r.body)), true, `user ${r.body.username} logs in with its generated password`);
      await api(server, 'POST', '/v1/leases/revoke', { token: t.token, body: { lease_id: r.body.lease_id } });
      assert.equal(await roleExists(r.body.username), false);
    }
    // A template that quotes a placeholder itself is refused.
    const bad = await api(server, 'POST', '/v1/database/roles/bad', { token, body: { connection: 'pg', creation_statements: ["CREATE ROLE {{name}} PASSWORD '{{password}}'"] } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'invalid_template');
  });

  test('policies and environments: read on database:creds/ROLE issues; a dev-bound token never gets a prod role', async () => {
    const none = await createToken(server, { policies: ['nothing'] });
    const denied = await issue('prodonly', none.token);
    assert.equal(denied.status, 403);
    assert.equal(denied.body.error.code, 'permission_denied');

    await writePolicy(server, 'db-creds', JSON.stringify({ rules: [{ path: 'database:creds/*', capabilities: ['read'] }] }));
    const dev = await createToken(server, { policies: ['db-creds'], env: 'dev' });
    const refused = await issue('prodonly', dev.token);
    assert.equal(refused.status, 403, JSON.stringify(refused.body));
    assert.equal(refused.body.error.code, 'environment_denied');
    const unbound = await issue('free', dev.token);
    assert.equal(unbound.status, 403, 'a bound token gets nothing from an unbound role');
    assert.equal((await api(server, 'GET', '/v1/database/config/pg', { token: dev.token })).status, 403, 'connections span environments');

    const prod = await createToken(server, { policies: ['db-creds'], env: 'prod' });
    const ok = await issue('prodonly', prod.token);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    // The issuing token may revoke its own lease; another token without sys:leases may not.
    assert.equal((await api(server, 'POST', '/v1/leases/revoke', { token: none.token, body: { lease_id: ok.body.lease_id } })).status, 403);
    assert.equal((await api(server, 'POST', '/v1/leases/revoke', { token: prod.token, body: { lease_id: ok.body.lease_id } })).status, 200);
    assert.equal((await api(server, 'GET', '/v1/leases', { token: prod.token })).status, 403, 'listing leases needs sys:leases');
  });

  test('a lease never outlives its token: revoking the token drops the users it asked for', async () => {
    await writePolicy(server, 'free-creds', JSON.stringify({ rules: [{ path: 'database:creds/free', capabilities: ['read'] }] }));
    const job = await createToken(server, { policies: ['free-creds'] });
    const r = await issue('free', job.token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(await canLogin(credOf(r.body)), true);
    const revoked = await api(server, 'POST', '/v1/tokens/revoke', { token, body: { accessor: job.accessor } });
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    await eventually('the token\'s user is dropped', async () => !(await roleExists(r.body.username)));
    assert.equal(await canLogin(credOf(r.body)), false);
  });

  test('rotate-root: the admin password changes in the database and in the secret; the connection keeps working', async () => {
    const admin = new pg.Client({ host: cluster.host, port: cluster.port, database: 'postgres', user: cluster.superuser, password: cluster.superPassword });
    await admin.connect();
    await admin.query(`CREATE ROLE rootrot WITH LOGIN CREATEROLE PASSWORD 'first-password'`);
    await admin.end();
    await api(server, 'POST', '/v1/secrets', { token, body: { name: 'prod/pg-rootrot', value: JSON.stringify({ host: cluster.host, port: cluster.port, dbname: 'postgres', username: 'rootrot', password: 'first-password' }) } });
    assert.equal((await api(server, 'POST', '/v1/database/config/rr', { token, body: { plugin: 'postgresql', admin_secret: 'prod/pg-rootrot', allowed_roles: [] } })).status, 200);
    const r = await api(server, 'POST', '/v1/database/rotate-root/rr', { token });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const value = JSON.parse((await api(server, 'GET', '/v1/values/prod/pg-rootrot', { token })).body.value);
    issuedPasswords.push(value.password);
    assert.notEqual(value.password, 'first-password');
    assert.equal(await canLogin({ host: cluster.host, port: cluster.port, dbname: 'postgres', username: 'rootrot', password: 'first-password' }), false);
    assert.equal(await canLogin({ host: cluster.host, port: cluster.port, dbname: 'postgres', username: 'rootrot', password: value.password }), true);
  });

  test('the CLI: database creds, lease list and revoke take --json; errors read error: <code>: <message>', async () => {
    const creds = await runCli(['database', 'creds', 'free', '--json'], { server });
    assert.equal(creds.code, 0, creds.stderr);
    const c = JSON.parse(creds.stdout);
    issuedPasswords.push(c.password);
    assert.equal(await canLogin(credOf(c)), true);
    const listed = await runCli(['lease', 'list', '--prefix', 'database/creds/free/', '--json'], { server });
    assert.ok((JSON.parse(listed.stdout) as { lease_id: string }[]).some((l) => l.lease_id === c.lease_id));
    const revoked = await runCli(['lease', 'revoke', c.lease_id, '--json'], { server });
    assert.equal(JSON.parse(revoked.stdout).state, 'revoked');
    assert.equal(await canLogin(credOf(c)), false);
    const missing = await runCli(['database', 'creds', 'no-such-role'], { server });
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /^error: database_role_not_found: /m);
  });

  test('custos run hands the child its own database user and drops it when the child exits', async () => {
    const script = `const pg = require('pg');
      const c = new pg.Client({ host: '${cluster.host}', port: ${cluster.port}, database: 'postgres', user: process.env.DB_USER, password: process.env.DB_PASSWORD });
      c.connect().then(() => c.query('SELECT current_user AS u')).then((r) => { console.log('connected as ' + r.rows[0].u); return c.end(); })
        .catch((e) => { console.error(e.message); process.exit(2); });`;
    const r = await runCli(['run', '--env', 'DB_USER=secret://database/creds/free#username', '--env', 'DB_PASSWORD=secret://database/creds/free#password',
      '--env', 'LEASE=secret://database/creds/free#lease_id', '--', process.execPath, '-e', script], { server, cwd: repoRoot });
    assert.equal(r.code, 0, r.stderr);
    const user = /connected as (\S+)/.exec(r.stdout)?.[1];
    assert.ok(user?.startsWith('v_free_'), r.stdout);
    assert.equal(await roleExists(user!), false, 'the user was dropped when the child exited');
    const leases = await api(server, 'GET', '/v1/leases?prefix=database/creds/free/&include_revoked=true', { token });
    const mine = (leases.body.leases as { state: string }[]);
    assert.ok(mine.length >= 1 && mine.every((l) => l.state === 'revoked'), JSON.stringify(mine));

    const refused = await runCli(['run', '--env', 'X=secret://database/creds/no-such-role#password', '--', 'true'], { server });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /^error: database_role_not_found: /m);
  });

  test('custos run renews the lease while the child outlives its TTL', async () => {
    await writeRole('brief', { default_ttl: 6, max_ttl: 600 });
    // The child connects only after 8 s: without renewals the 6 s lease would have been swept.
    const script = `setTimeout(() => {
      const pg = require('pg');
      const c = new pg.Client({ host: '${cluster.host}', port: ${cluster.port}, database: 'postgres', user: process.env.DB_USER, password: process.env.DB_PASSWORD });
      c.connect().then(() => c.query('SELECT current_user AS u')).then((r) => { console.log('connected as ' + r.rows[0].u); return c.end(); })
        .catch((e) => { console.error(e.message); process.exit(2); });
    }, 8000);`;
    const r = await runCli(['run', '--env', 'DB_USER=secret://database/creds/brief#username', '--env', 'DB_PASSWORD=secret://database/creds/brief#password', '--', process.execPath, '-e', script], { server, cwd: repoRoot });
    assert.equal(r.code, 0, r.stderr);
    const user = /connected as (\S+)/.exec(r.stdout)?.[1];
    assert.ok(user?.startsWith('v_brief_'), r.stdout + r.stderr);
    assert.equal(await roleExists(user!), false, 'revoked when the child exited');
    const events = await api(server, 'GET', '/v1/audit/events?order=desc&limit=200', { token });
    assert.ok((events.body.events as { operation: string; outcome: string }[]).some((e) => e.operation === 'lease.renew' && e.outcome === 'success'), 'renewed at least once');
  });

  test('TLS to the database: verify-full with the CA connects where plain connections are refused; a wrong trust anchor is refused', async () => {
    const admin = new pg.Client({ host: cluster.host, port: cluster.port, database: 'postgres', user: cluster.superuser, password: cluster.superPassword });
    await admin.connect();
    try {
      // Serve TLS with the test certificate (IP SAN 127.0.0.1) and refuse non-TLS logins of tls_admin.
      const dir = mkdtempSync(path.join(os.tmpdir(), 'custos-pg-tls-'));
      const fixtures = path.join(repoRoot, 'tests/fixtures/tls');
      for (const f of ['localhost-cert.pem', 'localhost-key.pem']) copyFileSync(path.join(fixtures, f), path.join(dir, f));
      chmodSync(path.join(dir, 'localhost-key.pem'), 0o600);
      if (process.getuid?.() === 0) {
        const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
        const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
        for (const f of ['', 'localhost-cert.pem', 'localhost-key.pem']) chownSync(path.join(dir, f), uid, gid);
      }
      await admin.query(`ALTER SYSTEM SET ssl_cert_file = '${path.join(dir, 'localhost-cert.pem')}'`);
      await admin.query(`ALTER SYSTEM SET ssl_key_file = '${path.join(dir, 'localhost-key.pem')}'`);
      await admin.query('ALTER SYSTEM SET ssl = on');
      const hba = (await admin.query('SHOW hba_file')).rows[0].hba_file as string;
      writeFileSync(hba, 'hostnossl all tls_admin 0.0.0.0/0 reject\n' + readFileSync(hba, 'utf8'));
      await admin.query('SELECT pg_reload_conf()');
      await admin.query("CREATE ROLE tls_admin WITH LOGIN SUPERUSER PASSWORD 'tls-admin-pw'");
    } finally {
      await admin.end();
    }
    const base = { host: cluster.host, port: cluster.port, dbname: 'postgres', username: 'tls_admin', password: 'tls-admin-pw' };
    const ca = readFileSync(path.join(repoRoot, 'tests/fixtures/tls/localhost-cert.pem'), 'utf8');
    const configure = async (secret: string, value: object) => {
      await api(server, 'POST', '/v1/secrets', { token, body: { name: secret, value: JSON.stringify(value) } });
      return api(server, 'POST', '/v1/database/config/tls', { token, body: { plugin: 'postgresql', admin_secret: secret, allowed_roles: ['tlsrole'] } });
    };
    await eventually('TLS is served', async () => (await configure('prod/pg-tls-probe', { ...base, sslmode: 'require' })).status === 200);
    const plain = await configure('prod/pg-tls-plain', base);
    assert.equal(plain.status, 502, 'without TLS the server refuses tls_admin');
    const untrusted = await configure('prod/pg-tls-untrusted', { ...base, sslmode: 'verify-full' });
    assert.equal(untrusted.status, 502, 'verify-full without the CA does not trust the self-signed certificate');
    const verified = await configure('prod/pg-tls', { ...base, sslmode: 'verify-full', sslrootcert: ca });
    assert.equal(verified.status, 200, JSON.stringify(verified.body));
    const role = await api(server, 'POST', '/v1/database/roles/tlsrole', { token, body: { connection: 'tls', creation_statements: CREATE } });
    assert.equal(role.status, 200, JSON.stringify(role.body));
    const r = await issue('tlsrole');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(await canLogin(credOf(r.body)), true);
    assert.equal((await api(server, 'POST', '/v1/leases/revoke', { token, body: { lease_id: r.body.lease_id } })).status, 200);
    assert.equal(await roleExists(r.body.username), false);
    const bad = await configure('prod/pg-tls-bad', { ...base, sslmode: 'maybe' });
    assert.equal(bad.status, 400);
  });

  test('a creation that fails part-way leaves no user, hands its lease to the sweeper and is audited as abandoned', async () => {
    await writeRole('failing', { creation_statements: ['CREATE ROLE {{name}} WITH LOGIN PASSWORD {{password}}', 'SELECT 1/0'] });
    const r = await api(server, 'POST', '/v1/database/creds/failing', { token, body: {} });
    assert.equal(r.status, 502);
    assert.equal(r.body.error.code, 'database_statement_failed');
    assert.match(r.body.error.message, /division by zero/);
    const list = await api(server, 'GET', '/v1/leases?prefix=database/creds/failing/&include_revoked=true', { token });
    assert.equal(list.body.leases.length, 1);
    await eventually('the abandoned lease is revoked', async () =>
      (await api(server, 'GET', '/v1/leases?prefix=database/creds/failing/&include_revoked=true', { token })).body.leases[0].state === 'revoked');
    await eventually('the abandonment is audited', async () => {
      const events = await api(server, 'GET', `/v1/audit/events?secret=${encodeURIComponent('database:creds/failing')}&limit=200`, { token });
      return (events.body.events as any[]).some((e) => e.operation === 'lease.abandon' && e.detail?.lease_id === list.body.leases[0].lease_id);
    });
    const orphans = await api(server, 'POST', '/v1/database/orphans/pg', { token, body: {} });
    assert.ok(!(orphans.body.orphans as { username: string }[]).some((o) => o.username.startsWith('v_failing_')), 'the transaction left no user');
  });

  test('orphan scan: users that look issued but have no lease are listed, and dropped only when asked', async () => {
    const live = await issue('free');
    assert.equal(live.status, 200);
    const admin = new pg.Client({ host: cluster.host, port: cluster.port, database: 'postgres', user: cluster.superuser, password: cluster.superPassword });
    await admin.connect();
    await admin.query('CREATE ROLE v_free_left_behind LOGIN');
    await admin.end();
    const listed = await api(server, 'POST', '/v1/database/orphans/pg', { token, body: {} });
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    const names = (listed.body.orphans as { username: string; role: string }[]).map((o) => o.username);
    assert.ok(names.includes('v_free_left_behind'), JSON.stringify(listed.body));
    assert.ok(!names.includes(live.body.username), 'a user with a lease is not an orphan');
    assert.ok(!names.includes(cluster.superuser));
    assert.equal(await roleExists('v_free_left_behind'), true, 'listing drops nothing');
    const none = await createToken(server, { policies: ['nothing'] });
    assert.equal((await api(server, 'POST', '/v1/database/orphans/pg', { token: none.token, body: { drop: true } })).status, 403);
    const dropped = await runCli(['database', 'orphans', 'pg', '--drop', '--json'], { server });
    assert.equal(dropped.code, 0, dropped.stderr);
    assert.ok((JSON.parse(dropped.stdout) as { username: string; dropped: boolean }[]).some((o) => o.username === 'v_free_left_behind' && o.dropped));
    assert.equal(await roleExists('v_free_left_behind'), false);
    assert.equal(await roleExists(live.body.username), true, 'the leased user is untouched');
    await api(server, 'POST', '/v1/leases/revoke', { token, body: { lease_id: live.body.lease_id } });
  });

  test('kill -9 with leases due, restart: the sweeper revokes every due lease from the database', async () => {
    await writeRole('short', { default_ttl: 60, max_ttl: 600 });
    const users: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await issue('short');
      assert.equal(r.status, 200);
      users.push(r.body.username);
    }
    const { dataDir, home, port } = server;
    const old = server;
    await old.kill();
    for (const u of users) assert.equal(await roleExists(u), true, 'still there while the server is down');
    server = await startServer({ dataDir, home, port, env: { CUSTOS_TESTING_CLOCK: '1', CUSTOS_LEASE_SWEEP_SECONDS: '0.2' } });
    server.token = rootToken({ token: '', home });
    token = server.token;
    // The new process's clock passes the leases' expiry (they fell due while nothing ran).
    await advanceClock(server, '5m');
    for (const u of users) await eventually(`user ${u} dropped after the restart`, async () => !(await roleExists(u)));
    const list = await api(server, 'GET', '/v1/leases?prefix=database/creds/short/&include_revoked=true', { token });
    assert.equal(list.status, 200);
    assert.equal(list.body.leases.length, 3);
    for (const l of list.body.leases) assert.equal(l.state, 'revoked');
    // Both runs' outputs are checked by the canary in after().
    issuedPasswords.forEach((p) => assert.ok(!old.output().includes(p)));
  });
});

function readdirSafe(f: string): boolean {
  try {
    readdirSync(f);
    return true;
  } catch {
    return false;
  }
}

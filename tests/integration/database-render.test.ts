import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { parse as parseYaml } from 'yaml';
import { startPostgresCluster, type PostgresCluster } from '../support/postgres-cluster.js';
import { api, runCli, startServer, type RunningServer } from '../support/custos-server.js';
import { adminValue, canLogin } from '../support/rotation-fixture.js';

/**
 * `custos render` with `secret://database/creds/ROLE` against a real PostgreSQL cluster: a dbt
 * profiles.yml gets its own database user, both fields from one lease; the lease is reported and
 * listed; revoking it drops the user. A render that fails takes back what it issued, and
 * --check issues nothing.
 */
describe('custos render with dynamic database credentials', () => {
  let cluster: PostgresCluster;
  let server: RunningServer;
  let dir: string;
  const custos = (args: string[]) => runCli(args, { server });

  const profiles = () => `# dbt profiles.yml: a database user of its own for this job
analytics:
  target: prod
  outputs:
    prod:
      type: postgres
      host: ${cluster.host}
      port: ${cluster.port}
      user: secret://database/creds/dbt#username
      password: secret://database/creds/dbt#password
      dbname: postgres
      schema: public
      # lease: "secret://database/creds/dbt#lease_id"
`;

  async function users(): Promise<string[]> {
    const client = new pg.Client({ host: cluster.host, port: cluster.port, database: 'postgres', user: cluster.superuser, password: cluster.superPassword });
    await client.connect();
    try {
      return (await client.query("SELECT rolname FROM pg_roles WHERE rolname LIKE 'v_dbt_%' ORDER BY 1")).rows.map((r) => r.rolname as string);
    } finally {
      await client.end();
    }
  }

  async function activeLeases(): Promise<string[]> {
    const r = await api(server, 'GET', '/v1/leases?prefix=database/creds/dbt/', { token: server.token });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return (r.body.leases as { lease_id: string }[]).map((l) => l.lease_id);
  }

  before(async () => {
    cluster = await startPostgresCluster();
    server = await startServer({ logLevel: 'warn' });
    dir = mkdtempSync(path.join(os.tmpdir(), 'custos-render-db-'));
    const token = server.token;
    assert.equal((await api(server, 'POST', '/v1/secrets', { token, body: { name: 'prod/pg-admin', value: adminValue(cluster) } })).status, 201);
    const c = await api(server, 'POST', '/v1/database/config/pg', { token, body: { plugin: 'postgresql', admin_secret: 'prod/pg-admin', allowed_roles: ['dbt'] } });
    assert.equal(c.status, 200, JSON.stringify(c.body));
    const role = await api(server, 'POST', '/v1/database/roles/dbt', {
      token, body: { connection: 'pg', default_ttl: 900, creation_statements: ['CREATE ROLE {{name}} WITH LOGIN PASSWORD {{password}} VALID UNTIL {{expiration}}', 'GRANT CONNECT ON DATABASE postgres TO {{name}}'] },
    });
    assert.equal(role.status, 200, JSON.stringify(role.body));
  });

  after(async () => {
    await server?.stop();
    server?.cleanup();
    await cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('--check issues no user and still checks the field names', async () => {
    const template = path.join(dir, 'check.yml');
    writeFileSync(template, profiles());
    const ok = await custos(['render', '--check', template]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /2 database credential reference\(s\) checked for shape only/);
    writeFileSync(template, profiles().replace('#password', '#passwort'));
    const bad = await custos(['render', '--check', template]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /secret:\/\/database\/creds\/dbt#passwort/);
    assert.deepEqual(await users(), [], 'no database user was created');
    assert.deepEqual(await activeLeases(), []);
  });

  test('a profiles.yml renders one user from one lease (0600); the user logs in; the lease is listed; revoking it refuses the login', async () => {
    const template = path.join(dir, 'profiles.yml');
    const target = path.join(dir, 'rendered.yml');
    writeFileSync(template, profiles());
    const r = await custos(['render', template, '-o', target, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    assert.equal(summary.leases.length, 1, 'username and password of one role come from one lease');
    const lease = summary.leases[0];
    assert.equal(lease.role, 'dbt');
    assert.match(lease.lease_id, /^database\/creds\/dbt\//);
    assert.equal(lease.lease_duration, 900);
    assert.ok(Date.parse(lease.expires_at) > Date.now());
    assert.equal(statSync(target).mode & 0o777, 0o600);

    const prod = (parseYaml(readFileSync(target, 'utf8')) as { analytics: { outputs: { prod: Record<string, unknown> } } }).analytics.outputs.prod;
    const password = prod.password as string;
    assert.match(prod.user as string, /^v_dbt_/);
    assert.ok(!r.stdout.includes(password) && !r.stderr.includes(password), 'the summary carries no password');
    assert.match(readFileSync(target, 'utf8'), /# lease: "secret:\/\/database\/creds\/dbt#lease_id"/, 'comments are left alone');
    const cred = { host: cluster.host, port: cluster.port, dbname: 'postgres', username: prod.user as string, password };
    assert.equal(await canLogin(cred), true, 'the rendered user logs in');
    assert.deepEqual(await users(), [prod.user]);

    const listed = await custos(['lease', 'list', '--prefix', 'database/creds/dbt/']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok(listed.stdout.includes(lease.lease_id), 'the lease is listed');

    const revoked = await custos(['lease', 'revoke', lease.lease_id]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal(await canLogin(cred), false, 'after revocation the rendered credentials are refused');
    assert.deepEqual(await users(), []);
  });

  test('rendering to stdout reports the lease on stderr with the command that revokes it', async () => {
    const template = path.join(dir, 'stdout.yml');
    writeFileSync(template, profiles());
    const r = await custos(['render', template]);
    assert.equal(r.code, 0, r.stderr);
    const [leaseId] = await activeLeases();
    assert.ok(leaseId);
    assert.ok(r.stderr.includes(`custos lease revoke ${leaseId}`), r.stderr);
    assert.ok(!r.stdout.includes(leaseId!), 'stdout is the rendered file only');
    const password = (parseYaml(r.stdout) as any).analytics.outputs.prod.password as string;
    assert.ok(!r.stderr.includes(password));
    assert.equal((await api(server, 'POST', '/v1/leases/revoke', { token: server.token, body: { lease_id: leaseId } })).status, 200);
  });

  test('a render that fails on another reference writes nothing and revokes the lease it issued', async () => {
    const template = path.join(dir, 'broken.yml');
    const target = path.join(dir, 'broken-out.yml');
    writeFileSync(template, profiles() + '      extra: secret://prod/does-not-exist\n');
    const everIssued = async () => (await api(server, 'GET', '/v1/leases?prefix=database/creds/dbt/&include_revoked=true', { token: server.token })).body.leases as { lease_id: string; state: string }[];
    const before = (await everIssued()).length;
    const r = await custos(['render', template, '-o', target]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /secret:\/\/prod\/does-not-exist/);
    assert.throws(() => statSync(target), /ENOENT/, 'nothing written');
    const all = await everIssued();
    assert.equal(all.length, before + 1, 'the render did issue a lease');
    assert.deepEqual(await activeLeases(), [], 'the issued lease was revoked');
    assert.deepEqual(await users(), [], 'and its user dropped');
  });
});

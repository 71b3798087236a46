import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { eventually } from '../support/http-helpers.js';
import { sharedDatabaseForNodes } from '../support/shared-database.js';
import { api, startServer, type RunningServer } from '../support/custos-server.js';
import { adminValue } from '../support/rotation-fixture.js';

/**
 * Two real nodes on PostgreSQL storage, issuing dynamic users on the same cluster. Leases are
 * issued through the follower; the leader is killed (SIGKILL) with them outstanding; the follower
 * takes the leader lock, its (testing) clock passes their expiry, and its sweeper revokes every
 * lease, each exactly once, from the rows.
 */
test('a leader change on PostgreSQL storage continues the lease sweep', { timeout: 150_000 }, async (t) => {
  const { cluster, database, servers, inspector } = await sharedDatabaseForNodes(t);
  const baseEnv = { CUSTOS_STORAGE_PASSWORD: database.password, CUSTOS_LEASE_SWEEP_SECONDS: '0.3' };
  const start = async (nodeId: string, env: Record<string, string> = {}): Promise<RunningServer> => {
    const server = await startServer({ dev: false, args: ['--storage', database.url], env: { ...baseEnv, CUSTOS_NODE_ID: nodeId, ...env } });
    servers.push(server);
    return server;
  };
  const lockHolders = async () =>
    (await inspector.query(`SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.objid = 7236002 AND l.granted`)).rows.map((r) => String(r.application_name).replace(/^custos-leader /, ''));
  const admin = new pg.Client({ host: cluster.host, port: cluster.port, database: 'postgres', user: cluster.superuser, password: cluster.superPassword });
  admin.on('error', () => undefined); // the shared cluster stops (an earlier after hook) before this client ends
  await admin.connect();
  t.after(() => admin.end());
  const roleExists = async (name: string) => (await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).rowCount === 1;

  const a = await start('node-a');
  const init = await api(a, 'POST', '/v1/sys/init', { body: { shares: 1, threshold: 1 } });
  assert.equal(init.status, 200, JSON.stringify(init.body));
  const token: string = init.body.root_token;
  const unsealKey: string = init.body.keys[0];
  await api(a, 'POST', '/v1/sys/unseal', { body: { key: unsealKey } });
  await inspector.connect();
  await eventually('node A holds the leader lock', async () => (await lockHolders()).join() === 'node-a');
  const b = await start('node-b', { CUSTOS_UNSEAL_KEY: unsealKey, CUSTOS_TESTING_CLOCK: '1' });

  assert.equal((await api(b, 'POST', '/v1/secrets', { token, body: { name: 'prod/pg-admin', value: adminValue(cluster) } })).status, 201);
  assert.equal((await api(b, 'POST', '/v1/database/config/pg', { token, body: { plugin: 'postgresql', admin_secret: 'prod/pg-admin', allowed_roles: ['job'] } })).status, 200);
  const role = await api(b, 'POST', '/v1/database/roles/job', { token, body: { connection: 'pg', default_ttl: 60, max_ttl: 600, creation_statements: ['CREATE ROLE {{name}} WITH LOGIN PASSWORD {{password}}'] } });
  assert.equal(role.status, 200, JSON.stringify(role.body));

  const issued: { username: string; lease_id: string }[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await api(b, 'POST', '/v1/database/creds/job', { token, body: {} });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    issued.push(r.body);
  }
  await a.kill(); // the leader dies with the leases outstanding
  for (const u of issued) assert.equal(await roleExists(u.username), true);

  await eventually('node B takes the leader lock', async () => (await lockHolders()).join() === 'node-b', 30_000);
  // B's clock moves past the leases' expiry (A never saw them due).
  assert.equal((await api(b, 'POST', '/v1/sys/testing/clock', { token, body: { advance: '2m' } })).status, 200);
  for (const u of issued) await eventually(`${u.username} dropped by the new leader`, async () => !(await roleExists(u.username)), 30_000);
  // The sweeper marks a lease revoked just after its user is dropped: wait for the rows, then check them.
  const leaseRows = async () => (await inspector.query(`SELECT id, state FROM leases WHERE id LIKE 'database/creds/job/%'`)).rows;
  await eventually('every lease row is marked revoked', async () => (await leaseRows()).every((row) => row.state === 'revoked'), 30_000);
  const rows = await leaseRows();
  assert.equal(rows.length, 4);
  for (const row of rows) assert.equal(row.state, 'revoked');
  const revocations = async () => (await inspector.query(`SELECT request_id, source FROM audit_events WHERE operation = 'lease.revoke' AND outcome = 'success' AND request_id LIKE 'lease:%'`)).rows;
  // The sweeper's audit events are group-committed just after the rows change: wait for them, then count.
  await eventually('every revocation is in the audit log', async () => new Set((await revocations()).map((e) => e.request_id)).size === issued.length, 30_000);
  const events = await revocations();
  for (const u of issued) {
    const mine = events.filter((e) => e.request_id === `lease:${u.lease_id}`);
    assert.equal(mine.length, 1, `lease ${u.lease_id} revoked exactly once`);
    assert.equal(mine[0].source, 'node:node-b');
  }
});

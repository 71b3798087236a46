import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startPostgresCluster, type PostgresCluster } from '../support/postgres-cluster.js';
import { api, startServer, type RunningServer } from '../support/custos-server.js';
import { advanceClock } from '../support/auth-helpers.js';
import { eventually } from '../support/http-helpers.js';
import { adminValue, canLogin } from '../support/rotation-fixture.js';

/**
 * The target database goes down while a lease is due: the sweeper's revocation fails, the lease
 * stays `revoking` with its attempts counted and its retry pushed out with doubling backoff
 * (driven by the server's testing clock, not by waiting), it is alerted after the 5th failure,
 * and once the database is back the retry drops the user.
 */
describe('database engine: a revocation while the database is down', () => {
  let cluster: PostgresCluster;
  let server: RunningServer;

  const lookup = async (id: string) => {
    const r = await api(server, 'GET', `/v1/leases/lookup?lease_id=${encodeURIComponent(id)}`, { token: server.token });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body as { state: string; revoke_attempts: number; next_attempt_at: string | null; last_error: string | null };
  };

  async function roleExists(name: string): Promise<boolean> {
    const client = new pg.Client({ host: cluster.host, port: cluster.port, database: 'postgres', user: cluster.superuser, password: cluster.superPassword });
    await client.connect();
    try {
      return (await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).rowCount === 1;
    } finally {
      await client.end();
    }
  }

  before(async () => {
    cluster = await startPostgresCluster();
    server = await startServer({ env: { CUSTOS_TESTING_CLOCK: '1', CUSTOS_LEASE_SWEEP_SECONDS: '0.2' } });
    const token = server.token;
    assert.equal((await api(server, 'POST', '/v1/secrets', { token, body: { name: 'prod/pg-admin', value: adminValue(cluster) } })).status, 201);
    const c = await api(server, 'POST', '/v1/database/config/pg', { token, body: { plugin: 'postgresql', admin_secret: 'prod/pg-admin', allowed_roles: ['etl'] } });
    assert.equal(c.status, 200, JSON.stringify(c.body));
    const role = await api(server, 'POST', '/v1/database/roles/etl', {
      token, body: { connection: 'pg', default_ttl: 60, max_ttl: 120, creation_statements: ['CREATE ROLE {{name}} WITH LOGIN PASSWORD {{password}}', 'GRANT CONNECT ON DATABASE postgres TO {{name}}'] },
    });
    assert.equal(role.status, 200, JSON.stringify(role.body));
  });

  after(async () => {
    await server?.stop();
    server?.cleanup();
    await cluster?.resume().catch(() => undefined); // in case a failed test left it paused
    await cluster?.stop();
  });

  test('failed revocations are retried with backoff and never dropped; when the database returns the user is dropped', async () => {
    const issued = await api(server, 'POST', '/v1/database/creds/etl', { token: server.token, body: {} });
    assert.equal(issued.status, 200, JSON.stringify(issued.body));
    const { username, password, lease_id: leaseId } = issued.body as { username: string; password: string; lease_id: string };
    const cred = { host: cluster.host, port: cluster.port, dbname: 'postgres', username, password };
    assert.equal(await canLogin(cred), true);

    await cluster.pause();
    await advanceClock(server, '61s'); // the lease is now due
    await eventually('the first revocation attempt fails', async () => (await lookup(leaseId)).revoke_attempts === 1);
    let lease = await lookup(leaseId);
    assert.equal(lease.state, 'revoking', 'kept for a retry, not dropped');
    assert.ok(lease.last_error, 'the failure is recorded on the lease');
    assert.ok(!lease.last_error!.includes(password));

    // Each retry waits twice as long: 5 s, 10 s, 20 s, 40 s of the server's clock.
    let retryAt = Date.parse(lease.next_attempt_at!);
    for (let attempt = 2, backoff = 5; attempt <= 5; attempt++, backoff *= 2) {
      await advanceClock(server, `${backoff}s`);
      await eventually(`attempt ${attempt} fails`, async () => (await lookup(leaseId)).revoke_attempts === attempt);
      lease = await lookup(leaseId);
      assert.equal(lease.state, 'revoking');
      const next = Date.parse(lease.next_attempt_at!);
      assert.ok(next - retryAt >= backoff * 2 * 1000, `retry ${attempt} is scheduled at least ${backoff * 2} s after the previous one (${next - retryAt} ms)`);
      retryAt = next;
    }
    const listed = await api(server, 'GET', '/v1/leases?prefix=database/creds/etl/', { token: server.token });
    assert.deepEqual((listed.body.leases as { lease_id: string }[]).map((l) => l.lease_id), [leaseId], 'still listed as outstanding');
    const metrics = await (await fetch(`${server.address}/metrics`, { headers: { authorization: `Bearer ${server.token}` } })).text();
    assert.match(metrics, /^custos_leases\{state="revoking"\} 1$/m);
    const events = await api(server, 'GET', '/v1/audit/events?order=desc&limit=200', { token: server.token });
    const failures = (events.body.events as any[]).filter((e) => e.operation === 'lease.revoke' && e.outcome === 'failure' && e.detail?.lease_id === leaseId);
    assert.equal(failures.length, 5, 'one audit event per failed attempt');
    assert.ok(failures.some((e) => e.detail?.alert === 'lease_revocation_failing' && e.detail?.attempts === 5), 'the 5th failure raises the alert');

    await cluster.resume();
    assert.equal(await roleExists(username), true, 'the user outlived the outage');
    await advanceClock(server, '80s');
    await eventually('the retry after the outage revokes the lease', async () => (await lookup(leaseId)).state === 'revoked');
    assert.equal(await roleExists(username), false, 'the user is gone');
    assert.equal(await canLogin(cred), false);
    const after = await api(server, 'GET', '/v1/audit/events?order=desc&limit=200', { token: server.token });
    const success = (after.body.events as any[]).find((e) => e.operation === 'lease.revoke' && e.outcome === 'success' && e.detail?.lease_id === leaseId);
    assert.equal(success?.detail?.attempts, 6, 'revoked on the 6th attempt');
  });
});

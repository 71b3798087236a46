import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgresCluster, type PostgresCluster } from '../support/postgres-cluster.js';
import { api, startServer, type RunningServer } from '../support/custos-server.js';
import { adminValue, canLogin, createAlternatingUsers, credValue, labelsOf, readCred, waitRotationDone, type PgCred } from '../support/rotation-fixture.js';

let cluster: PostgresCluster;
let server: RunningServer;
let token: string;
const secretsSeen: string[] = [];

before(async () => {
  cluster = await startPostgresCluster();
  server = await startServer({ env: { CUSTOS_ROTATION_TICK_SECONDS: '0.3' } });
  token = server.token;
  secretsSeen.push(cluster.superPassword);
  const r = await api(server, 'POST', '/v1/secrets', { token, body: { name: 'prod/pg-admin', value: adminValue(cluster) } });
  assert.equal(r.status, 201);
});

after(async () => {
  await server?.stop();
  // No credential ever reaches a log line (server stdout/stderr holds the pino logs).
  for (const s of secretsSeen) assert.ok(!server.output().includes(s), 'a credential leaked into the server log');
  server?.cleanup();
  await cluster?.stop();
});

async function rotateNow(name: string) {
  const r = await api(server, 'POST', `/v1/rotate/${name}?wait=60`, { token });
  assert.ok(r.status === 200 || r.status === 202, JSON.stringify(r.body));
  return r.body;
}

test('postgres single user (self-service ALTER ROLE): new password logs in, old one does not, labels move', async () => {
  const db = await cluster.createDatabase('single_self');
  const initial: PgCred = { host: cluster.host, port: cluster.port, dbname: db.database, username: db.user, password: db.password };
  assert.equal((await api(server, 'POST', '/v1/secrets', { token, body: { name: 'prod/app/db', value: credValue(initial) } })).status, 201);
  const set = await api(server, 'PUT', '/v1/rotation/prod/app/db', { token, body: { settings: { rotator: 'postgres', password: { length: 40 } } } });
  assert.equal(set.status, 200, JSON.stringify(set.body));

  let old = initial;
  for (let i = 0; i < 2; i++) {
    const before = await labelsOf(server, token, 'prod/app/db');
    const run = await rotateNow('prod/app/db');
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    const now = await readCred(server, token, 'prod/app/db');
    secretsSeen.push(now.cred!.password);
    assert.equal(now.versionId, run.token, 'the rotation token is the new version id');
    assert.equal(now.cred!.password.length, 40);
    assert.doesNotMatch(now.cred!.password, /[/@"' \\]/);
    assert.notEqual(now.cred!.password, old.password);
    assert.equal(await canLogin(now.cred!), true, 'new password logs in');
    assert.equal(await canLogin(old), false, 'old password no longer logs in');
    const labels = await labelsOf(server, token, 'prod/app/db');
    assert.equal(labels.PREVIOUS, before.CURRENT);
    assert.equal(labels.PENDING, undefined, 'no PENDING left');
    old = now.cred!;
  }

  const history = await api(server, 'GET', '/v1/rotation-history/prod/app/db', { token });
  assert.equal(history.body.rotations.length, 2);
  const events = await api(server, 'GET', '/v1/audit/events?secret=prod/app/db&limit=200', { token });
  const ops = events.body.events.map((e: { operation: string }) => e.operation);
  for (const op of ['rotation.start', 'rotation.create', 'rotation.set', 'rotation.test', 'rotation.finish', 'rotation.complete']) assert.ok(ops.includes(op), `audited ${op}`);
  assert.ok(!JSON.stringify(events.body).includes(old.password), 'no credential in audit events');
});

test('postgres-alternating: flips users; the old user works until the grace period ends, then is revoked', async () => {
  const { a, b } = await createAlternatingUsers(cluster, 'alt');
  assert.equal((await api(server, 'POST', '/v1/secrets', { token, body: { name: 'prod/etl/db', value: credValue(a) } })).status, 201);
  const set = await api(server, 'PUT', '/v1/rotation/prod/etl/db', {
    token, body: { settings: { rotator: 'postgres-alternating', users: [a.username, b.username], admin_secret: 'prod/pg-admin', grace_seconds: 2 } },
  });
  assert.equal(set.status, 200, JSON.stringify(set.body));

  const run = await rotateNow('prod/etl/db');
  assert.equal(run.status, 'grace', JSON.stringify(run));
  const now = await readCred(server, token, 'prod/etl/db');
  secretsSeen.push(now.cred!.password);
  assert.equal(now.cred!.username, b.username, 'CURRENT flipped to the other user');
  assert.equal(await canLogin(now.cred!), true);
  assert.equal(await canLogin(a), true, 'the old user still works during the grace period');
  assert.equal(await canLogin(b), false, "the other user's old password was replaced");

  // Grace ends: the scheduler revokes the old user's password and completes the run.
  const deadline = Date.now() + 15_000;
  let status;
  do {
    await new Promise((r) => setTimeout(r, 200));
    status = await api(server, 'GET', '/v1/rotation-status/prod/etl/db', { token });
  } while (status.body.latest.status !== 'succeeded' && Date.now() < deadline);
  assert.equal(status.body.latest.status, 'succeeded');
  assert.equal(await canLogin(a), false, 'old user revoked after grace');
  assert.equal(await canLogin(now.cred!), true);

  // The next rotation re-passwords user a and flips back to it.
  const again = await rotateNow('prod/etl/db');
  assert.equal(again.status, 'grace');
  const third = await readCred(server, token, 'prod/etl/db');
  secretsSeen.push(third.cred!.password);
  assert.equal(third.cred!.username, a.username);
  assert.equal(await canLogin(third.cred!), true);
  assert.equal(await canLogin(now.cred!), true, 'b still works in its grace period');
});

test('a failing test phase rolls back: CURRENT still logs in, PENDING removed, failure recorded and alerted', async () => {
  const db = await cluster.createDatabase('rollback_db');
  const cred: PgCred = { host: cluster.host, port: cluster.port, dbname: db.database, username: db.user, password: db.password };
  assert.equal((await api(server, 'POST', '/v1/secrets', { token, body: { name: 'prod/fragile/db', value: credValue(cred) } })).status, 201);
  await api(server, 'PUT', '/v1/rotation/prod/fragile/db', { token, body: { settings: { rotator: 'postgres', admin_secret: 'prod/pg-admin', test_query: 'SELECT 1/0' } } });
  const before = await labelsOf(server, token, 'prod/fragile/db');

  const run = await rotateNow('prod/fragile/db');
  assert.equal(run.status, 'failed');
  assert.equal(run.step, 'test');
  assert.match(run.error, /division by zero/);
  assert.equal(await canLogin(cred), true, 'the target is back on the CURRENT password');
  const labels = await labelsOf(server, token, 'prod/fragile/db');
  assert.equal(labels.CURRENT, before.CURRENT);
  assert.equal(labels.PENDING, undefined, 'no PENDING left behind');
  const alerts = await api(server, 'GET', '/v1/audit/events?secret=prod/fragile/db&operation=rotation.alert', { token });
  assert.equal(alerts.body.events.length, 1);
  assert.equal(alerts.body.events[0].error_code, 'rotation_failed');
  assert.match(server.output(), /rotation failed and was rolled back/);

  // Alternating: the user that was re-passworded gets PREVIOUS's password back or, with no
  // PREVIOUS, no password at all; CURRENT's user is untouched.
  const { a, b } = await createAlternatingUsers(cluster, 'altfail');
  await api(server, 'POST', '/v1/secrets', { token, body: { name: 'prod/altfail/db', value: credValue(a) } });
  await api(server, 'PUT', '/v1/rotation/prod/altfail/db', { token, body: { settings: { rotator: 'postgres-alternating', users: [a.username, b.username], admin_secret: 'prod/pg-admin', test_query: 'SELECT 1/0' } } });
  const altRun = await rotateNow('prod/altfail/db');
  assert.equal(altRun.status, 'failed');
  assert.equal(await canLogin(a), true, 'CURRENT still logs in');
  assert.equal(await canLogin(b), false, 'the touched user has no password no version knows');
  assert.equal((await labelsOf(server, token, 'prod/altfail/db')).PENDING, undefined);

  const verify = await api(server, 'POST', '/v1/audit/verify', { token });
  assert.equal(verify.body.ok, true, 'rotation events keep the audit chain intact');
});

test('one rotation at a time per secret; rotate needs the rotate capability; unconfigured secrets refuse', async () => {
  const { a, b } = await createAlternatingUsers(cluster, 'busy');
  await api(server, 'POST', '/v1/secrets', { token, body: { name: 'prod/busy/db', value: credValue(a) } });
  await api(server, 'PUT', '/v1/rotation/prod/busy/db', { token, body: { settings: { rotator: 'postgres-alternating', users: [a.username, b.username], admin_secret: 'prod/pg-admin', grace_seconds: 0 } } });
  // Hold an exclusive lock on b's role so ALTER ROLE blocks: the first rotation stays in flight.
  const pgmod = (await import('pg')).default;
  const blocker = new pgmod.Client({ host: cluster.host, port: cluster.port, database: 'postgres', user: cluster.superuser, password: cluster.superPassword });
  await blocker.connect();
  await blocker.query('BEGIN');
  await blocker.query(`ALTER ROLE ${b.username} VALID UNTIL 'infinity'`);
  const first = await api(server, 'POST', '/v1/rotate/prod/busy/db', { token });
  assert.equal(first.status, 202);
  const second = await api(server, 'POST', '/v1/rotate/prod/busy/db', { token });
  assert.equal(second.status, 409);
  assert.equal(second.body.error.code, 'rotation_in_progress');
  const reconfigure = await api(server, 'PUT', '/v1/rotation/prod/busy/db', { token, body: { settings: null } });
  assert.equal(reconfigure.body.error.code, 'rotation_in_progress', 'settings are frozen while a run is in flight');
  await blocker.query('COMMIT');
  await blocker.end();

  await api(server, 'POST', '/v1/secrets', { token, body: { name: 'prod/plain', value: 'x' } });
  const unconfigured = await api(server, 'POST', '/v1/rotate/prod/plain', { token });
  assert.equal(unconfigured.body.error.code, 'rotation_not_configured');

  await api(server, 'PUT', '/v1/policies/reader', { token, body: { document: JSON.stringify({ rules: [{ path: 'prod/**', capabilities: ['read'] }] }) } });
  const reader = await api(server, 'POST', '/v1/tokens', { token, body: { policies: ['reader'] } });
  const denied = await api(server, 'POST', '/v1/rotate/prod/busy/db', { token: reader.body.token });
  assert.equal(denied.status, 403);
  const deniedSet = await api(server, 'PUT', '/v1/rotation/prod/busy/db', { token: reader.body.token, body: { settings: null } });
  assert.equal(deniedSet.status, 403);
  const allowedStatus = await api(server, 'GET', '/v1/rotation-status/prod/busy/db', { token: reader.body.token });
  assert.equal(allowedStatus.status, 200);

  await waitRotationDone(server, token, 'prod/busy/db');
  // `rotate` on a secret does not allow running commands on the server.
  await api(server, 'PUT', '/v1/policies/rotator', { token, body: { document: JSON.stringify({ rules: [{ path: 'prod/**', capabilities: ['read', 'rotate'] }] }) } });
  const rotatorToken = (await api(server, 'POST', '/v1/tokens', { token, body: { policies: ['rotator'] } })).body.token;
  const sneaky = await api(server, 'PUT', '/v1/rotation/prod/busy/db', { token: rotatorToken, body: { settings: { rotator: 'command', command: { path: '/bin/sh' } } } });
  assert.equal(sneaky.status, 403);
  const fine = await api(server, 'PUT', '/v1/rotation/prod/busy/db', { token: rotatorToken, body: { settings: { rotator: 'postgres-alternating', users: [a.username, b.username], admin_secret: 'prod/pg-admin', every_seconds: 86400 } } });
  assert.equal(fine.status, 200, JSON.stringify(fine.body));
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../support/http-helpers.js';
import pg from 'pg';
import { sharedDatabaseForNodes } from '../support/shared-database.js';
import { api, startServer, type RunningServer } from '../support/custos-server.js';
import { canLogin, credValue, labelsOf, readCred, waitRotationDone, type PgCred } from '../support/rotation-fixture.js';

/**
 * Rotation on three real `dev: false` nodes sharing one PostgreSQL (also the end-to-end test of
 * the rotation engine on PostgreSQL storage). Node A leads and carries the documented fault
 * CUSTOS_ROTATION_FAULT=crash-after:set, so the leader SIGKILLs itself in the middle of a due
 * rotation (after the target's password was changed, before `test`). B or C takes over the
 * leader lock; the interrupted run (leased to A) is taken over once A is seen gone and completed
 * exactly once by the new leader, and a rotation that becomes due after the kill is driven by
 * the new leader alone.
 */


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('three nodes on one PostgreSQL: due rotations run exactly once, also when the leader is killed mid-rotation', { timeout: 150_000 }, async (t) => {
  const { cluster, database, servers, inspector } = await sharedDatabaseForNodes(t);

  const baseEnv = { CUSTOS_STORAGE_PASSWORD: database.password, CUSTOS_ROTATION_TICK_SECONDS: '0.5' };
  const ids = new Map<RunningServer, string>();
  const start = async (nodeId: string, env: Record<string, string> = {}) => {
    const server = await startServer({ dev: false, args: ['--storage', database.url], env: { ...baseEnv, CUSTOS_NODE_ID: nodeId, ...env } });
    servers.push(server);
    ids.set(server, nodeId);
    return server;
  };
  const lockHolders = async () =>
    (await inspector.query(`SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.objid = 7236002 AND l.granted`)).rows.map((r) => String(r.application_name).replace(/^custos-leader /, ''));
  const rotationRows = async (name: string) =>
    (await inspector.query(`SELECT id, token, status, step, trigger, owner_node, lease_until FROM rotations WHERE secret_name = $1 ORDER BY started_at`, [name])).rows;
  /** Rotation audit events of one secret: operation, the node that drove it, and the run. */
  const rotationEvents = async (name: string) =>
    (await inspector.query(`SELECT operation, source, request_id, detail FROM audit_events WHERE secret_name = $1 AND operation LIKE 'rotation.%' AND request_id LIKE 'rotation:%' ORDER BY seq`, [name])).rows
      .map((r) => ({ operation: r.operation as string, source: r.source as string, run: String(r.request_id).slice('rotation:'.length), node: JSON.parse(r.detail).node as string }));
  const makeDue = async (name: string) => {
    const at = Date.now();
    await inspector.query(`UPDATE rotation_schedules SET next_due_at = $1 WHERE secret_id = (SELECT id FROM secrets WHERE name = $2 AND deleted_at IS NULL)`, [at, name]);
    return at;
  };

  // Node A starts alone, is initialized through its API and takes the leader lock before B and
  // C exist, so the node carrying the fault is the one doing singleton work.
  const a = await start('node-a', { CUSTOS_ROTATION_FAULT: 'crash-after:set' });
  const init = await api(a, 'POST', '/v1/sys/init', { body: { shares: 1, threshold: 1 } });
  assert.equal(init.status, 200, JSON.stringify(init.body));
  const root: string = init.body.root_token;
  const unsealKey: string = init.body.keys[0];
  assert.equal((await api(a, 'POST', '/v1/sys/unseal', { body: { key: unsealKey } })).body.sealed, false);
  await inspector.connect();
  await eventually('node A holds the leader lock', async () => (await lockHolders()).join() === 'node-a');
  const b = await start('node-b', { CUSTOS_UNSEAL_KEY: unsealKey });
  const c = await start('node-c', { CUSTOS_UNSEAL_KEY: unsealKey });
  for (const node of [b, c]) assert.equal((await api(node, 'GET', '/v1/sys/seal-status')).body.sealed, false);
  assert.deepEqual(await lockHolders(), ['node-a'], 'B and C follow');

  // Two rotation targets: real PostgreSQL roles with scram passwords (self-service ALTER ROLE).
  const targets: Record<string, PgCred> = {};
  for (const [name, db] of [['prod/mn/inflight', 'mnr_inflight'], ['prod/mn/after', 'mnr_after']] as const) {
    const created = await cluster.createDatabase(db);
    targets[name] = { host: cluster.host, port: cluster.port, dbname: created.database, username: created.user, password: created.password };
    assert.equal(await canLogin(targets[name]!), true);
    // Written and configured through a follower: any node serves the API.
    assert.equal((await api(b, 'POST', '/v1/secrets', { token: root, body: { name, value: credValue(targets[name]!) } })).status, 201);
    const set = await api(c, 'PUT', `/v1/rotation/${name}`, { token: root, body: { settings: { rotator: 'postgres', every_seconds: 3600, settle_seconds: 0 } } });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.ok(Date.parse(set.body.next_due_at) > Date.now() + 3_000_000, 'not due yet');
  }
  const passwords: string[] = [database.password, ...Object.values(targets).map((c) => c.password)];

  const takeovers = (s: RunningServer) => s.output().split('\n').filter((l) => l.includes('taking over a rotation whose node is gone'));
  let newLeader!: RunningServer;
  let aDiedAt = 0;
  let otherFollower!: RunningServer;

  await t.test('the leader dies mid-rotation (kill -9 after set); another node takes the lock before the run\'s lease ends', async () => {
    const name = 'prod/mn/inflight';
    const original = targets[name]!;
    const aDied = new Promise<number>((resolve) => a.process.once('exit', () => resolve(Date.now())));
    await makeDue(name);
    const diedAt = aDiedAt = await Promise.race([aDied, sleep(20_000).then(() => assert.fail('the leader did not reach the fault'))]);
    assert.equal(a.process.signalCode, 'SIGKILL');
    assert.match(a.output(), /rotation fault injection \(crash-after:set\)/);

    await eventually('a follower takes the leader lock', async () => {
      const holders = await lockHolders();
      return holders.length === 1 && holders[0] !== 'node-a';
    }, 20_000);
    const tookLockAt = Date.now();
    t.diagnostic(`leader takeover after the leader was SIGKILLed mid-rotation: ${tookLockAt - diedAt} ms`);
    const holder = (await lockHolders())[0]!;
    newLeader = holder === 'node-b' ? b : c;
    otherFollower = newLeader === b ? c : b;
    assert.equal(ids.get(newLeader), holder);

    // The run is where A left it: `set` done (the role already has the PENDING password), at `test`.
    const [run, ...more] = await rotationRows(name);
    assert.equal(more.length, 0, 'one run');
    assert.deepEqual([run.status, run.step, run.trigger, run.owner_node], ['running', 'test', 'schedule', 'node-a']);
    // Order, not speed: the lock moved while A's lease on the run still held, so what follows
    // is a takeover of a gone node's run, not a lease that merely ran out.
    assert.ok(tookLockAt < Number(run.lease_until), 'a follower took the lock before the dead leader\'s lease ended');
    const pending = await readCred(newLeader, root, name, `?version_id=${run.token}`);
    assert.equal(pending.status, 200, 'the PENDING version is stored');
    passwords.push(pending.cred!.password);
    assert.deepEqual(pending.labels, ['PENDING']);
    assert.equal(await canLogin(pending.cred!), true, 'A set the PENDING password on the role before dying');
    assert.equal(await canLogin(original), false);
  });

  await t.test('the interrupted run is taken over from the gone node and completed exactly once by the new leader', async () => {
    const name = 'prod/mn/inflight';
    const [run] = await rotationRows(name);
    // The run is leased to node A for 5 minutes; the leader sees that A has no session left in
    // the database (confirmed over 5 s, to ride out a reconnect) and takes the run over early.
    const status = await waitRotationDone(newLeader, root, name, 30_000);
    t.diagnostic(`interrupted rotation completed ${Date.now() - aDiedAt} ms after its node was killed`);
    assert.equal(status.latest.status, 'succeeded', JSON.stringify(status.latest));
    assert.equal(status.latest.id, run.id, 'the same run, not a new one');
    assert.deepEqual(takeovers(newLeader).map((l) => [JSON.parse(l).from, JSON.parse(l).rotation, JSON.parse(l).step]), [['node-a', run.id, 'test']]);
    assert.equal(takeovers(otherFollower).length, 0);

    const rows = await rotationRows(name);
    assert.equal(rows.length, 1, 'exactly one run for this due period');
    assert.equal(rows[0].owner_node, ids.get(newLeader));
    const history = await api(otherFollower, 'GET', `/v1/rotation-history/${name}`, { token: root });
    assert.deepEqual(history.body.rotations.map((r: { id: string }) => r.id), [run.id]);

    const current = await readCred(otherFollower, root, name);
    assert.equal(current.versionId, run.token, 'CURRENT is the version A created');
    assert.equal(await canLogin(current.cred!), true, 'CURRENT logs in');
    assert.equal(await canLogin(targets[name]!), false, 'the old password does not');
    const labels = await labelsOf(newLeader, root, name);
    assert.equal(labels.PENDING, undefined, 'no PENDING left');
    assert.equal(labels.CURRENT, run.token);

    // Each phase ran once: create/set on A (which died), test/finish/complete on the new leader alone.
    const events = await rotationEvents(name);
    assert.ok(events.every((e) => e.run === run.id));
    const byOp = (op: string) => events.filter((e) => e.operation === op).map((e) => e.node);
    assert.deepEqual(byOp('rotation.start'), ['node-a']);
    assert.deepEqual(byOp('rotation.create'), ['node-a']);
    assert.deepEqual(byOp('rotation.set'), ['node-a']);
    for (const op of ['rotation.test', 'rotation.finish', 'rotation.complete']) assert.deepEqual(byOp(op), [ids.get(newLeader)], op);
    assert.ok(!events.some((e) => e.node === ids.get(otherFollower)), 'the follower drove nothing');
    for (const e of events) assert.equal(e.source, `node:${e.node}`);

    // The schedule moved a full period on: no second run for this due period.
    assert.ok(Date.parse(status.next_due_at) > Date.now() + 3_000_000, JSON.stringify(status));
    await sleep(1_500);
    assert.equal((await rotationRows(name)).length, 1);
  });

  await t.test('a rotation that becomes due after the kill is driven by the new leader alone, once', async () => {
    const name = 'prod/mn/after';
    const dueAt = await makeDue(name);
    const status = await waitRotationDone(otherFollower, root, name, 20_000);
    assert.equal(status.latest.status, 'succeeded', JSON.stringify(status.latest));
    assert.equal(status.latest.trigger, 'schedule');
    assert.ok(Date.parse(status.latest.started_at) >= dueAt);
    await sleep(1_500); // three more ticks on every node
    const rows = await rotationRows(name);
    assert.equal(rows.length, 1, 'exactly one run for the due period');
    assert.equal(rows[0].owner_node, ids.get(newLeader));

    const events = await rotationEvents(name);
    assert.deepEqual(events.map((e) => e.operation), ['rotation.start', 'rotation.create', 'rotation.set', 'rotation.test', 'rotation.finish', 'rotation.complete']);
    assert.deepEqual([...new Set(events.map((e) => e.node))], [ids.get(newLeader)], 'one node drove it');

    const current = await readCred(b, root, name);
    passwords.push(current.cred!.password);
    assert.equal(current.versionId, rows[0].token);
    assert.equal(await canLogin(current.cred!), true, 'the new password logs in (scram)');
    assert.equal(await canLogin(targets[name]!), false, 'the old one does not');
    assert.equal((await labelsOf(c, root, name)).PENDING, undefined, 'no PENDING left');
  });

  await t.test('a rotation driven by a live follower is never taken over by the leader', async () => {
    const name = 'prod/mn/after';
    // Hold a lock on the target role's row so the follower's ALTER ROLE (phase `set`) blocks.
    const blocker = new pg.Client({ host: cluster.host, port: cluster.port, database: 'postgres', user: cluster.superuser, password: cluster.superPassword });
    await blocker.connect();
    let runId = '';
    try {
      await blocker.query('BEGIN');
      // A row lock without a change: the waiting ALTER ROLE then proceeds (no concurrent update).
      await blocker.query(`SELECT 1 FROM pg_authid WHERE rolname = $1 FOR UPDATE`, [targets[name]!.username]);
      const started = await api(otherFollower, 'POST', `/v1/rotate/${name}`, { token: root });
      assert.equal(started.status, 202, JSON.stringify(started.body));
      runId = started.body.id;
      await eventually('the follower reaches set', async () => (await rotationRows(name)).find((r) => r.id === runId)?.step === 'set');
      await sleep(7_000); // past the leader's gone-confirmation time: many leader ticks see this run
      const run = (await rotationRows(name)).find((r) => r.id === runId);
      assert.deepEqual([run.status, run.step, run.owner_node], ['running', 'set', ids.get(otherFollower)], 'still the follower\'s');
    } finally {
      await blocker.query('COMMIT').catch(() => undefined);
      await blocker.end();
    }
    const status = await waitRotationDone(otherFollower, root, name, 20_000);
    assert.equal(status.latest.id, runId);
    assert.equal(status.latest.status, 'succeeded', JSON.stringify(status.latest));
    assert.equal(takeovers(newLeader).length, 1, 'only the gone node\'s run was ever taken over');
    const events = (await rotationEvents(name)).filter((e) => e.run === runId);
    assert.deepEqual([...new Set(events.map((e) => e.node))], [ids.get(otherFollower)], 'one node drove it: ' + JSON.stringify(events));
    const current = await readCred(b, root, name);
    passwords.push(current.cred!.password);
    assert.equal(await canLogin(current.cred!), true);
  });

  await t.test("every node's audit events verify as one chain; no credential in any log or audit event", async () => {
    for (const node of [b, c]) {
      const verify = await api(node, 'POST', '/v1/audit/verify', { token: root });
      assert.equal(verify.body.ok, true, JSON.stringify(verify.body.problem));
    }
    const nodes = (await inspector.query(`SELECT detail FROM audit_events WHERE detail IS NOT NULL`)).rows.map((r) => JSON.parse(r.detail).node as string);
    for (const id of ['node-a', 'node-b', 'node-c']) assert.ok(nodes.includes(id), `events from ${id} are in the chain`);
    const auditText = JSON.stringify((await inspector.query(`SELECT * FROM audit_events`)).rows);
    for (const secret of passwords) {
      assert.ok(!auditText.includes(secret), 'no credential in audit events');
      for (const s of servers) assert.ok(!s.output().includes(secret), 'no credential in logs');
    }
  });
});

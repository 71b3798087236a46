import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../support/http-helpers.js';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { sharedDatabaseForNodes } from '../support/shared-database.js';
import { api, startServer, type RunningServer } from '../support/custos-server.js';

/**
 * Three real server processes on one real PostgreSQL (scram auth; password via env, never a
 * flag). Init once through node A's API; B and C unseal themselves from CUSTOS_UNSEAL_KEY.
 */


async function ok(pending: ReturnType<typeof api>) {
  const response = await pending;
  assert.ok(response.status >= 200 && response.status < 300, `${response.status} ${JSON.stringify(response.body)}`);
  return response;
}

const leaderLines = (server: RunningServer) =>
  server.output().split('\n').filter((l) => l.includes('"leader":true')).length;

test('three nodes on one PostgreSQL: shared reads and writes, propagation, leader failover, one audit chain', { timeout: 180_000 }, async (t) => {
  const { cluster, database, servers, inspector } = await sharedDatabaseForNodes(t);

  const canary = `mn-canary-${randomBytes(8).toString('hex')}`;
  const baseEnv = { CUSTOS_STORAGE_PASSWORD: database.password, CUSTOS_MAINTENANCE_INTERVAL_SECONDS: '1' };
  const start = async (nodeId: string, env: Record<string, string> = {}) => {
    const server = await startServer({ dev: false, args: ['--storage', database.url], env: { ...baseEnv, CUSTOS_NODE_ID: nodeId, ...env } });
    servers.push(server);
    return server;
  };

  // The password never appears on a command line.
  const a = await start('node-a');
  assert.ok(!(a.process.spawnargs.join(' ').includes(database.password)));
  const init = await api(a, 'POST', '/v1/sys/init', { body: { shares: 1, threshold: 1 } });
  assert.equal(init.status, 200, JSON.stringify(init.body));
  const root: string = init.body.root_token;
  const unsealKey: string = init.body.keys[0];
  assert.equal((await api(a, 'POST', '/v1/sys/unseal', { body: { key: unsealKey } })).body.sealed, false);
  const b = await start('node-b', { CUSTOS_UNSEAL_KEY: unsealKey });
  const c = await start('node-c', { CUSTOS_UNSEAL_KEY: unsealKey });
  for (const node of [b, c]) assert.equal((await api(node, 'GET', '/v1/sys/seal-status')).body.sealed, false);

  // A node without the unseal key serves health only.
  const sealed = await start('node-sealed');
  const health = await api(sealed, 'GET', '/v1/health'); // answers, with 503 so load balancers skip it
  assert.equal(health.status, 503);
  assert.deepEqual([health.body.initialized, health.body.sealed], [true, true]);
  assert.equal((await api(sealed, 'GET', '/v1/values/x', { token: root })).body.error.code, 'sealed');
  await sealed.kill();

  await t.test('a write on one node is read on another at once', async () => {
    const name = 'prod/etl/warehouse';
    await ok(api(a, 'POST', '/v1/secrets', { token: root, body: { name, value: `${canary}-1` } }));
    assert.equal((await api(b, 'GET', `/v1/values/${name}`, { token: root })).body.value, `${canary}-1`);
    for (let i = 2; i <= 5; i++) {
      const writer = [a, b, c][i % 3]!;
      const reader = [a, b, c][(i + 1) % 3]!;
      await ok(api(writer, 'POST', `/v1/values/${name}`, { token: root, body: { value: `${canary}-${i}` } }));
      // No wait between the write and the read on the other node.
      assert.equal((await api(reader, 'GET', `/v1/values/${name}`, { token: root })).body.value, `${canary}-${i}`);
    }
    // Concurrent writes and reads on all three nodes (each request also appends to the one audit chain).
    const burst = await Promise.all([a, b, c].flatMap((node, n) => Array.from({ length: 15 }, (_, i) =>
      i % 3 === 0 ? api(node, 'POST', `/v1/values/${name}`, { token: root, body: { value: `${canary}-burst-${n}-${i}` } }) : api(node, 'GET', `/v1/values/${name}`, { token: root }))));
    for (const r of burst) assert.ok(r.status < 300, JSON.stringify(r.body));
    const verify = await api(c, 'POST', '/v1/audit/verify', { token: root });
    assert.equal(verify.body.ok, true, JSON.stringify(verify.body.problem));
  });

  await t.test('token revocation and policy changes on one node take effect on the others', async () => {
    const policy = JSON.stringify({ rules: [{ path: 'prod/etl/**', capabilities: ['read'] }] });
    await ok(api(a, 'PUT', '/v1/policies/etl-read', { token: root, body: { document: policy } }));
    const created = await api(a, 'POST', '/v1/tokens', { token: root, body: { policies: ['etl-read'] } });
    const token: string = created.body.token;
    // Warm B's and C's token and policy caches.
    await ok(api(b, 'GET', '/v1/values/prod/etl/warehouse', { token }));
    await ok(api(c, 'GET', '/v1/values/prod/etl/warehouse', { token }));

    const narrowed = JSON.stringify({ rules: [{ path: 'prod/other/**', capabilities: ['read'] }] });
    await ok(api(c, 'PUT', '/v1/policies/etl-read', { token: root, body: { document: narrowed } }));
    await eventually('policy change on C denies the read on B', async () => (await api(b, 'GET', '/v1/values/prod/etl/warehouse', { token })).status === 403);
    await eventually('and on A', async () => (await api(a, 'GET', '/v1/values/prod/etl/warehouse', { token })).status === 403);

    await ok(api(a, 'POST', '/v1/tokens/revoke', { token: root, body: { accessor: created.body.accessor } }));
    for (const node of [b, c]) {
      await eventually('revocation on A rejects the token elsewhere', async () => (await api(node, 'GET', '/v1/tokens/self', { token })).body?.error?.code === 'token_revoked');
    }
  });

  await t.test('keyring rotation on one node: every node writes and reads the new term', async () => {
    const rotated = await api(b, 'POST', '/v1/sys/rotate-key', { token: root });
    assert.equal(rotated.status, 200);
    const term: number = rotated.body.key_term;
    await eventually('node C sees the new key term', async () => (await api(c, 'GET', '/v1/sys/seal-status')).body.key_term === term);
    await ok(api(c, 'POST', '/v1/values/prod/etl/warehouse', { token: root, body: { value: 'after-rotation' } }));
    assert.equal((await api(a, 'GET', '/v1/values/prod/etl/warehouse', { token: root })).body.value, 'after-rotation');
  });

  await t.test('exactly one leader; kill -9 it and another takes over within 15 s and runs the singleton job once', async () => {
    await inspector.connect();
    const lockHolders = async () =>
      (await inspector.query(`SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.objid = 7236002 AND l.granted`)).rows.map((r) => r.application_name as string);
    await eventually('one node holds the leader lock', async () => (await lockHolders()).length === 1);
    const holders = await lockHolders();
    assert.equal(holders.length, 1);
    const leader = [a, b, c].find((s) => holders[0]!.endsWith(s === a ? 'node-a' : s === b ? 'node-b' : 'node-c'))!;
    assert.equal(leaderLines(leader), 1);
    const followers = [a, b, c].filter((s) => s !== leader);
    for (const f of followers) assert.equal(leaderLines(f), 0);

    const killedAt = Date.now();
    await leader.kill();
    await eventually('a follower takes the leader lock', async () => {
      const now = await lockHolders();
      return now.length === 1 && now[0] !== holders[0];
    }, 20_000);
    const takeoverMs = Date.now() - killedAt;
    assert.ok(takeoverMs <= 15_000, `takeover took ${takeoverMs} ms`);
    t.diagnostic(`leader takeover after kill -9: ${takeoverMs} ms`);
    await eventually('the new leader logs it', async () => followers.some((f) => leaderLines(f) === 1));
    const newLeader = followers.find((f) => leaderLines(f) === 1)!;
    const other = followers.find((f) => f !== newLeader)!;
    assert.equal(leaderLines(other), 0, 'only one follower became leader');

    // Singleton work: secrets whose recovery window ended are purged by the leader alone.
    for (let i = 0; i < 3; i++) {
      await ok(api(other, 'POST', '/v1/secrets', { token: root, body: { name: `tmp/expired-${i}`, value: 'x' } }));
      await ok(api(other, 'DELETE', `/v1/secrets/tmp/expired-${i}`, { token: root }));
    }
    await inspector.query(`UPDATE secrets SET delete_after = 1 WHERE name LIKE 'tmp/expired-%'`);
    await eventually('the leader purges them', async () => Number((await inspector.query(`SELECT count(*) AS n FROM secrets WHERE name LIKE 'tmp/expired-%'`)).rows[0].n) === 0);
    await new Promise((r) => setTimeout(r, 1500)); // one more job interval on every node
    const purgeLines = (s: RunningServer) => s.output().split('\n').filter((l) => l.includes('purged secrets past their recovery window'));
    assert.equal(purgeLines(other).length, 0, 'a follower never runs the purge job');
    assert.deepEqual(purgeLines(newLeader).map((l) => JSON.parse(l).purged), [3]);
  });

  await t.test("every node's audit events verify as one chain", async () => {
    const alive = servers.filter((s) => s.process.exitCode === null && s.process.signalCode === null);
    // Concurrent writes on every live node.
    await Promise.all(alive.flatMap((node, n) => Array.from({ length: 20 }, (_, i) => api(node, 'GET', '/v1/values/prod/etl/warehouse', { token: root }).then((r) => assert.equal(r.status, 200, `node ${n} read ${i}`)))));
    for (const node of alive) {
      const verify = await api(node, 'POST', '/v1/audit/verify', { token: root });
      assert.equal(verify.body.ok, true, JSON.stringify(verify.body.problem));
      assert.ok(verify.body.checked > 60);
    }
    const rows = (await inspector.query(`SELECT detail FROM audit_events WHERE detail IS NOT NULL`)).rows.map((r) => JSON.parse(r.detail).node as string);
    for (const id of ['node-a', 'node-b', 'node-c']) assert.ok(rows.includes(id), `events from ${id} are in the chain`);
  });

  await t.test('no value or storage password in any log, audit event or table in plaintext', async () => {
    for (const s of servers) {
      assert.ok(!s.output().includes(canary), 'no value in logs');
      assert.ok(!s.output().includes(database.password), 'no storage password in logs');
    }
    const tables = (await inspector.query(`SELECT tablename FROM pg_tables WHERE schemaname = current_schema()`)).rows.map((r) => r.tablename as string);
    assert.ok(tables.includes('audit_events') && tables.includes('secret_versions'));
    for (const table of tables) {
      const dump = await inspector.query(`SELECT string_agg(encode(convert_to(t::text, 'UTF8'), 'escape'), '\n') AS all FROM ${inspector.escapeIdentifier(table)} t`);
      const text = String(dump.rows[0].all ?? '');
      // bytea renders as hex in row text, so look for the hex form too.
      assert.ok(!text.includes(canary) && !text.includes(Buffer.from(canary).toString('hex')), `no plaintext value in ${table}`);
    }
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, startServer } from '../support/custos-server.js';
import { eventually, uniqueName } from '../support/http-helpers.js';
import { sharedDatabaseForNodes } from '../support/shared-database.js';
import { freshRequest, pinWorkers, type WorkerClient } from '../support/worker-clients.js';

/**
 * `custos server --workers 2` on a real PostgreSQL: each worker is a node of its own
 * (`<node>-w<i>`, LISTEN/NOTIFY, advisory-lock leadership), unsealed together, on one chain.
 */

async function ok(pending: ReturnType<WorkerClient['request']>) {
  const response = await pending;
  assert.ok(response.status >= 200 && response.status < 300, `${response.status} ${JSON.stringify(response.body)}`);
  return response;
}

test("--workers 2 on PostgreSQL: unseal and seal reach both, a worker reads its own writes at once and the other worker's once notified, one valid audit chain", { timeout: 240_000 }, async (t) => {
  const { database, servers } = await sharedDatabaseForNodes(t);
  const server = await startServer({ dev: false, args: ['--storage', database.url, '--workers', '2'], env: { CUSTOS_STORAGE_PASSWORD: database.password, CUSTOS_NODE_ID: 'pgw' } });
  servers.push(server);
  const clients = await pinWorkers(server, 2);
  t.after(() => [...clients.values()].forEach((c) => c.close()));
  const [a, b] = [clients.get('0')!, clients.get('1')!];

  const init = await ok(b.request('POST', '/v1/sys/init', { body: { shares: 1, threshold: 1 } }));
  const root: string = init.body.root_token;
  assert.equal((await ok(a.request('POST', '/v1/sys/unseal', { body: { key: init.body.keys[0] } }))).body.sealed, false);
  assert.equal((await b.request('GET', '/v1/sys/seal-status')).body.sealed, false);

  const name = uniqueName('prod/pg-workers');
  await ok(a.request('POST', '/v1/secrets', { token: root, body: { name, value: 'v-0' } }));
  for (let i = 1; i <= 20; i++) {
    const [writer, reader] = i % 2 ? [a, b] : [b, a];
    await ok(writer.request('POST', `/v1/values/${name}`, { token: root, body: { value: `v-${i}` } }));
    assert.equal((await writer.request('GET', `/v1/values/${name}`, { token: root })).body.value, `v-${i}`);
    // The other worker is another node: its label cache empties when the NOTIFY arrives.
    await eventually(`the other worker reads v-${i}`, async () => (await reader.request('GET', `/v1/values/${name}`, { token: root })).body.value === `v-${i}`, 10_000);
    assert.equal((await freshRequest(server, 'GET', `/v1/values/${name}`, { token: root })).body.value, `v-${i}`);
  }

  const burst = await Promise.all(Array.from({ length: 45 }, (_, i) => i % 3 === 0
    ? freshRequest(server, 'POST', `/v1/values/${name}`, { token: root, body: { value: `burst-${i}` } })
    : freshRequest(server, 'GET', `/v1/values/${name}`, { token: root })));
  for (const r of burst) assert.ok(r.status < 300, JSON.stringify(r.body));
  assert.deepEqual(new Set(burst.map((r) => r.worker)), new Set(['0', '1']));

  // Each worker is its own node in the audit trail.
  const events = (await ok(a.request('GET', '/v1/audit/events?limit=200&order=desc', { token: root }))).body.events as { detail: { node?: string } | null }[];
  assert.deepEqual(new Set(events.map((e) => e.detail?.node).filter(Boolean)), new Set(['pgw-w0', 'pgw-w1']));
  const verify = await runCli(['audit', 'verify', '--json'], { env: { CUSTOS_ADDR: server.address, HOME: server.home, CUSTOS_TOKEN: root } });
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  assert.equal(JSON.parse(verify.stdout).ok, true);
  assert.doesNotMatch(server.output(), /audit_tampered|AUDIT LOG TAMPERED/);
  // Exactly one worker leads singleton work.
  const leaders = () => server.output().split('\n').filter((l) => l.includes('"leader":true')).length;
  await eventually('a worker leads', () => leaders() >= 1);
  assert.equal(leaders(), 1);
  // Sealing one worker seals both; unsealing the other unseals both.
  await ok(b.request('POST', '/v1/sys/seal', { token: root }));
  assert.equal((await a.request('GET', '/v1/sys/seal-status')).body.sealed, true);
  assert.equal((await ok(a.request('POST', '/v1/sys/unseal', { body: { key: init.body.keys[0] } }))).body.sealed, false);
  assert.equal((await b.request('GET', `/v1/values/${name}`, { token: root })).status, 200);
  assert.ok(!server.output().includes(init.body.keys[0]), 'the unseal key never reaches the logs');
  assert.equal(await server.stop(), 0);
});

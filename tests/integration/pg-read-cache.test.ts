import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sharedDatabaseForNodes } from '../support/shared-database.js';
import { api, startServer } from '../support/custos-server.js';
import { eventually } from '../support/http-helpers.js';
import { advanceClock } from '../support/auth-helpers.js';

/**
 * The per-node read cache on PostgreSQL: another node's write reaches it through LISTEN/NOTIFY;
 * a change that sends no notification (as if it were lost) is served stale for at most
 * `read_cache_max_age_ms`, measured on the node's own (test-moved) clock.
 */
test('PostgreSQL read cache: invalidated by other nodes\' writes, and never older than its bound when a notification is lost', { timeout: 120_000 }, async (t) => {
  const { database, servers, inspector } = await sharedDatabaseForNodes(t);
  const env = { CUSTOS_STORAGE_PASSWORD: database.password, CUSTOS_READ_CACHE_MAX_AGE_MS: '60000', CUSTOS_TESTING_CLOCK: '1' };
  const start = async (nodeId: string, extra: Record<string, string> = {}) => {
    const server = await startServer({ dev: false, args: ['--storage', database.url], env: { ...env, CUSTOS_NODE_ID: nodeId, ...extra } });
    servers.push(server);
    return server;
  };
  const a = await start('node-a');
  const init = await api(a, 'POST', '/v1/sys/init', { body: { shares: 1, threshold: 1 } });
  const root: string = init.body.root_token;
  await api(a, 'POST', '/v1/sys/unseal', { body: { key: init.body.keys[0] } });
  const b = await start('node-b', { CUSTOS_UNSEAL_KEY: init.body.keys[0] });
  b.token = root;
  const name = 'prod/etl/cached';
  const readOnB = async () => {
    const r = await api(b, 'GET', `/v1/values/${name}`, { token: root });
    if (process.env.DEBUG_PG_CACHE) console.error('read on b', r.status, JSON.stringify(r.body).slice(0, 200));
    return r.body.value as string;
  };

  assert.equal((await api(a, 'POST', '/v1/secrets', { token: root, body: { name, value: 'v1' } })).status, 201);
  await eventually('node b reads v1', async () => (await readOnB()) === 'v1', 10_000);
  // A write on A empties B's cache through the change bus.
  assert.equal((await api(a, 'POST', `/v1/values/${name}`, { token: root, body: { value: 'v2' } })).status, 201);
  await eventually('node b sees v2 after the notification', async () => (await readOnB()) === 'v2', 10_000);

  // A change that sends no notification: CURRENT moved under the nodes' feet, straight in SQL.
  // (The bound is a minute of the node's own clock, so a slow machine cannot expire the entry early.)
  // Staged through B itself: B drops its entry at once, and no notification is left in flight
  // that could empty the cache again after the re-read below (a node ignores its own NOTIFY).
  const staged = await api(b, 'POST', `/v1/values/${name}`, { token: root, body: { value: 'v3', labels: ['STAGED'] } });
  assert.equal(staged.status, 201, JSON.stringify(staged.body));
  assert.equal(await readOnB(), 'v2', 'node b has v2 cached again');
  await inspector.connect();
  await inspector.query(
    `UPDATE version_labels SET version_id = $1 WHERE label = 'CURRENT' AND secret_id = (SELECT secret_id FROM version_labels WHERE version_id = $1 AND label = 'STAGED')`,
    [staged.body.version_id],
  );
  assert.equal(await readOnB(), 'v2', 'served from the cache: no notification came');
  await advanceClock(b, '61s');
  assert.equal(await readOnB(), 'v3', 'past read_cache_max_age_ms the entry is not served');
});

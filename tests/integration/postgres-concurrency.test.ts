import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, startServer, type RunningServer } from '../support/custos-server.js';
import { startPostgresCluster, type PostgresCluster } from '../support/postgres-cluster.js';
import { idempotencyToken } from '../support/http-helpers.js';

/**
 * The same server on PostgreSQL, where writers really run concurrently (SQLite serializes
 * them): racing creates and retried writes must give their documented answers, never a 500.
 */
describe('PostgreSQL: concurrent writes', () => {
  let cluster: PostgresCluster;
  let server: RunningServer;
  before(async () => {
    cluster = await startPostgresCluster();
    const db = await cluster.createDatabase('custos_concurrency');
    server = await startServer({ args: ['--storage', db.url], env: { CUSTOS_STORAGE_PASSWORD: db.password } });
  });
  after(async () => {
    await server?.stop();
    server?.cleanup();
    await cluster?.stop();
  });

  test('racing creates of one name: one 201, the rest secret_exists', async () => {
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => api(server, 'POST', '/v1/secrets', { token: server.token, body: { name: 'prod/race/create', value: `v${i}` } })));
    const statuses = results.map((r) => `${r.status}:${r.body.error?.code ?? ''}`).sort();
    assert.deepEqual(statuses, ['201:', ...Array(11).fill('409:secret_exists')], JSON.stringify(results.map((r) => r.body)));
  });

  test('racing retries of one idempotent create: all answer the same version', async () => {
    const token = idempotencyToken();
    const results = await Promise.all(Array.from({ length: 8 }, () => api(server, 'POST', '/v1/secrets', { token: server.token, body: { name: 'prod/race/idem', value: 'same', idempotency_token: token } })));
    assert.deepEqual(results.map((r) => r.status), Array(8).fill(201), JSON.stringify(results.map((r) => r.body)));
    assert.ok(results.every((r) => r.body.version_id === token));
  });

  test('racing retries of one idempotent put: one version, the same answer for all', async () => {
    assert.equal((await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name: 'prod/race/put', value: 'v0' } })).status, 201);
    const token = idempotencyToken();
    const results = await Promise.all(Array.from({ length: 12 }, () => api(server, 'POST', '/v1/values/prod/race/put', { token: server.token, body: { value: 'same', idempotency_token: token } })));
    assert.deepEqual(results.map((r) => r.status).filter((s) => s !== 200 && s !== 201), [], JSON.stringify(results.map((r) => r.body)));
    assert.ok(results.every((r) => r.body.version_id === token));
    const d = await api(server, 'GET', '/v1/secrets/prod/race/put', { token: server.token });
    assert.equal(d.body.versions.length, 2);
  });

  test('racing puts leave exactly one CURRENT and one PREVIOUS', async () => {
    assert.equal((await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name: 'prod/race/labels', value: 'v0' } })).status, 201);
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => api(server, 'POST', '/v1/values/prod/race/labels', { token: server.token, body: { value: `c${i}` } })));
    assert.ok(results.every((r) => r.status === 201), JSON.stringify(results.map((r) => r.body)));
    const d = await api(server, 'GET', '/v1/secrets/prod/race/labels', { token: server.token });
    assert.equal(d.body.versions.filter((v: { labels: string[] }) => v.labels.includes('CURRENT')).length, 1);
    assert.equal(d.body.versions.filter((v: { labels: string[] }) => v.labels.includes('PREVIOUS')).length, 1);
  });
});

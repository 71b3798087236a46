import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startPostgresCluster, type PostgresCluster } from '../support/postgres-cluster.js';
import { api, startServer, type RunningServer } from '../support/custos-server.js';
import { adminValue, createAlternatingUsers, credValue, labelsOf, type PgCred } from '../support/rotation-fixture.js';

/**
 * Zero downtime: 32 clients run queries in a loop, each query on a fresh connection (so
 * every query authenticates) with credentials fetched from Custos, while 20 rotations run
 * back to back.
 */
let cluster: PostgresCluster;
let server: RunningServer;
let token: string;

before(async () => {
  cluster = await startPostgresCluster();
  server = await startServer({ logLevel: 'warn' });
  token = server.token;
  await api(server, 'POST', '/v1/secrets', { token, body: { name: 'prod/pg-admin', value: adminValue(cluster) } });
});

after(async () => {
  await server?.stop();
  server?.cleanup();
  await cluster?.stop();
});

const CLIENTS = 32;
const ROTATIONS = 20;

async function fetchCred(name: string, label = 'CURRENT'): Promise<{ versionId: string; cred: PgCred } | null> {
  const r = await api(server, 'GET', `/v1/values/${name}?label=${label}`, { token });
  if (r.status === 404) return null;
  assert.equal(r.status, 200);
  return { versionId: r.body.version_id, cred: JSON.parse(r.body.value) as PgCred };
}

async function query(c: PgCred): Promise<void> {
  const client = new pg.Client({ host: c.host, port: c.port, database: c.dbname, user: c.username, password: c.password, connectionTimeoutMillis: 20_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end().catch(() => undefined);
  }
}

const isAuthError = (e: unknown) => (e as { code?: string }).code === '28P01';

interface Counts { ok: number; firstTryAuthErrors: number; failed: number; errors: string[]; slowestMs: number }

/**
 * One client: fetch CURRENT, connect and query. With `retry` (the single-user client), an
 * authentication error re-fetches CURRENT and, if it is unchanged, PENDING (the window
 * between `set` and `finish`), then retries once; that is the SDK pool helper's rule.
 */
async function clientLoop(name: string, retry: boolean, stop: () => boolean, counts: Counts): Promise<void> {
  while (!stop()) {
    const began = Date.now();
    const held = (await fetchCred(name))!;
    try {
      await query(held.cred);
      counts.ok++;
      continue;
    } catch (error) {
      if (!isAuthError(error) || !retry) {
        counts.failed++;
        counts.errors.push((error as Error).message);
        continue;
      }
      counts.firstTryAuthErrors++;
    }
    let next = (await fetchCred(name))!;
    if (next.versionId === held.versionId) next = (await fetchCred(name, 'PENDING')) ?? (await fetchCred(name))!;
    try {
      await query(next.cred);
      counts.ok++;
    } catch (error) {
      counts.failed++;
      counts.errors.push(`${(error as Error).message} (iteration took ${Date.now() - began} ms)`);
    }
    counts.slowestMs = Math.max(counts.slowestMs, Date.now() - began);
  }
}

async function runScenario(name: string, retry: boolean): Promise<Counts> {
  const counts: Counts = { ok: 0, firstTryAuthErrors: 0, failed: 0, errors: [], slowestMs: 0 };
  let stopping = false;
  const clients = Array.from({ length: CLIENTS }, () => clientLoop(name, retry, () => stopping, counts));
  try {
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < ROTATIONS; i++) {
      const r = await api(server, 'POST', `/v1/rotate/${name}?wait=60`, { token });
      assert.ok(['succeeded', 'grace'].includes(r.body.status), `rotation ${i}: ${JSON.stringify(r.body)}`);
    }
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    stopping = true;
    await Promise.all(clients);
  }
  return counts;
}

test('postgres-alternating: zero failed queries across 20 back-to-back rotations with 32 clients', async (t) => {
  const { a, b } = await createAlternatingUsers(cluster, 'zd');
  await api(server, 'POST', '/v1/secrets', { token, body: { name: 'prod/zd/alt', value: credValue(a) } });
  const set = await api(server, 'PUT', '/v1/rotation/prod/zd/alt', { token, body: { settings: { rotator: 'postgres-alternating', users: [a.username, b.username], admin_secret: 'prod/pg-admin' } } });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  const started = Date.now();
  const counts = await runScenario('prod/zd/alt', false);
  t.diagnostic(`alternating: 20 rotations in ${Date.now() - started} ms under load`);
  t.diagnostic(`alternating: ${counts.ok} queries ok, ${counts.failed} failed`);
  assert.deepEqual(counts.errors.slice(0, 3), []);
  assert.equal(counts.failed, 0);
  assert.ok(counts.ok > CLIENTS * 2, 'the clients really ran queries during the rotations');
  const history = await api(server, 'GET', '/v1/rotation-history/prod/zd/alt?limit=50', { token });
  assert.equal(history.body.rotations.length, ROTATIONS);
  assert.equal((await labelsOf(server, token, 'prod/zd/alt')).PENDING, undefined);
});

// settle_seconds must exceed a client's slowest fetch-connect-retry; on a shared 2-core CI
// machine with 32 clients in this process that reaches ~1.6 s, so the test uses 3 s.
test('postgres single user: zero failed queries after the single re-fetch-and-retry', async (t) => {
  const db = await cluster.createDatabase('zd_single');
  const cred: PgCred = { host: cluster.host, port: cluster.port, dbname: db.database, username: db.user, password: db.password };
  await api(server, 'POST', '/v1/secrets', { token, body: { name: 'prod/zd/single', value: credValue(cred) } });
  await api(server, 'PUT', '/v1/rotation/prod/zd/single', { token, body: { settings: { rotator: 'postgres', admin_secret: 'prod/pg-admin', settle_seconds: 3 } } });
  const counts = await runScenario('prod/zd/single', true);
  t.diagnostic(`single user: ${counts.ok} queries ok, ${counts.firstTryAuthErrors} first-try auth errors recovered, ${counts.failed} failed, slowest retried iteration ${counts.slowestMs} ms`);
  assert.deepEqual(counts.errors.slice(0, 3), []);
  assert.equal(counts.failed, 0);
  assert.ok(counts.ok > CLIENTS * 2);
});

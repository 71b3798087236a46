import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createApiClient } from '../../src/sdk/api-client.js';
import {
  AccessDeniedError, CustosClient, CustosClientError, SecretNotFoundError, StaleLimitExceededError, TransientError, type StaleEvent,
} from '../../src/sdk/index.js';
import { api, startServer, type RunningServer } from '../support/custos-server.js';

const HOSTILE_PASSWORD = 'p@ss/w:rd?#%&=+ "\'\\';

describe('CustosClient against a real server', () => {
  let server: RunningServer;
  let root: ReturnType<typeof createApiClient>;
  /** secret.read events the server audited for a name: how we count requests at the server. */
  const reads = async (name: string) => (await root.auditEvents({ secret: name, operation: 'secret.read', limit: 1000 })).events.length;
  const client = (options: ConstructorParameters<typeof CustosClient>[0] = {}) => new CustosClient({ address: server.address, token: server.token, ...options });

  before(async () => {
    server = await startServer({ logLevel: 'warn' });
    root = createApiClient({ address: server.address, token: server.token });
    for (const name of ['prod/app/cache', 'prod/app/flight', 'prod/app/ttl', 'prod/app/refresh']) await root.createSecret({ name, value: `${name}-v1` });
    await root.createSecret({ name: 'prod/app/db', value: JSON.stringify({ engine: 'postgres', host: 'db.internal', port: 5432, dbname: 'analytics', username: 'etl', password: HOSTILE_PASSWORD }) });
    await root.createSecret({ name: 'dev/app/db', value: 'dev-value' });
  });
  after(async () => {
    await server.stop();
    server.cleanup();
  });

  test('cache hits make no request at the server', async () => {
    const c = client();
    const before = await reads('prod/app/cache');
    for (let i = 0; i < 5; i++) assert.equal(await c.getSecret('prod/app/cache'), 'prod/app/cache-v1');
    assert.equal(await reads('prod/app/cache'), before + 1);
    assert.deepEqual(c.stats(), { hits: 4, misses: 1, requests: 1, staleServed: 0 });
  });

  test('single-flight: 25 concurrent callers of one name make one request', async () => {
    const c = client();
    const before = await reads('prod/app/flight');
    const values = await Promise.all(Array.from({ length: 25 }, () => c.getSecret('prod/app/flight')));
    assert.ok(values.every((v) => v === 'prod/app/flight-v1'));
    assert.equal(await reads('prod/app/flight'), before + 1);
    assert.equal(c.stats().requests, 1);
  });

  test('getSecrets: one request for many secrets, errors per secret, a cache shared with getSecret', async () => {
    const c = client();
    const batches = async () => (await root.auditEvents({ operation: 'secret.read_batch', limit: 1000 })).events.length;
    const batchesBefore = await batches();
    const readsBefore = await reads('prod/app/refresh');
    const results = await c.getSecrets([{ name: 'prod/app/refresh' }, { name: 'prod/app/missing' }, { name: 'prod/app/db' }, { name: 'prod/app/refresh' }, { name: 'dev/app/db' }]);
    assert.equal((results[0] as { value: string }).value, 'prod/app/refresh-v1');
    assert.ok(results[1] instanceof SecretNotFoundError);
    assert.equal((results[1] as SecretNotFoundError).options.secret, 'prod/app/missing');
    assert.equal(JSON.parse((results[2] as { value: string }).value).password, HOSTILE_PASSWORD);
    assert.equal(results[3], results[0], 'the same secret twice is read once');
    assert.equal((results[4] as { value: string }).value, 'dev-value');
    assert.equal(await batches(), batchesBefore + 1, 'one request at the server');
    assert.equal(await reads('prod/app/refresh'), readsBefore + 1);
    assert.equal(c.stats().requests, 1);

    // Now cached, for both APIs: no request.
    assert.equal(await c.getSecret('prod/app/db', {}), (results[2] as { value: string }).value);
    const again = await c.getSecrets([{ name: 'prod/app/refresh' }, { name: 'dev/app/db' }]);
    assert.deepEqual(again.map((r) => (r as { value: string }).value), ['prod/app/refresh-v1', 'dev-value']);
    assert.equal(c.stats().requests, 1);
    // A miss the cache never kept is asked again (not found is not cached).
    assert.ok((await c.getSecrets([{ name: 'prod/app/missing' }, { name: 'prod/app/refresh' }]))[0] instanceof SecretNotFoundError);
    assert.equal(c.stats().requests, 2);

    // A token refused as a whole: every secret carries the refusal, typed.
    const denied = await new CustosClient({ address: server.address, token: 'cst_not-a-token' }).getSecrets([{ name: 'prod/app/refresh' }, { name: 'prod/app/db' }]);
    assert.ok(denied.every((r) => r instanceof AccessDeniedError));
    assert.deepEqual(denied.map((r) => (r as AccessDeniedError).options.secret), ['prod/app/refresh', 'prod/app/db']);
  });

  test('getSecrets against a server without batch reads falls back to one read per secret', async () => {
    // What a server that predates POST /v1/batch/values answers: its router's 404 not_found.
    const olderServer: typeof fetch = (input, init) => {
      const url = new URL(String(input));
      return fetch(url.pathname === '/v1/batch/values' ? new URL('/v1/batch-values-unknown-here', url) : url, init);
    };
    const c = client({ fetch: olderServer });
    const readsBefore = await reads('prod/app/ttl');
    const results = await c.getSecrets([{ name: 'prod/app/ttl' }, { name: 'prod/app/missing' }, { name: 'dev/app/db' }]);
    assert.equal((results[0] as { value: string }).value, 'prod/app/ttl-v1');
    assert.ok(results[1] instanceof SecretNotFoundError);
    assert.equal((results[2] as { value: string }).value, 'dev-value');
    assert.equal(await reads('prod/app/ttl'), readsBefore + 1);
    // One refused batch request, then single reads; later calls go straight to single reads.
    assert.equal(c.stats().requests, 4);
    await c.getSecrets([{ name: 'prod/app/cache' }, { name: 'prod/app/flight' }], { forceRefresh: true });
    assert.equal(c.stats().requests, 6);
  });

  test('TTL expiry fetches again', async () => {
    const c = client({ ttlMs: 250 });
    const before = await reads('prod/app/ttl');
    await c.getSecret('prod/app/ttl');
    await c.getSecret('prod/app/ttl');
    assert.equal(await reads('prod/app/ttl'), before + 1);
    await sleep(350);
    await c.getSecret('prod/app/ttl');
    assert.equal(await reads('prod/app/ttl'), before + 2);
  });

  test('forceRefresh and invalidate see a rotation; labels and versions are cached separately', async () => {
    const c = client();
    assert.equal(await c.getSecret('prod/app/refresh'), 'prod/app/refresh-v1');
    await root.putValue('prod/app/refresh', { value: 'prod/app/refresh-v2' });
    assert.equal(await c.getSecret('prod/app/refresh'), 'prod/app/refresh-v1', 'still cached');
    assert.equal(await c.getSecret('prod/app/refresh', { forceRefresh: true }), 'prod/app/refresh-v2');
    assert.equal(await c.getSecret('prod/app/refresh', { label: 'PREVIOUS' }), 'prod/app/refresh-v1');
    const current = await c.getSecretResult('prod/app/refresh');
    assert.equal(await c.getSecret('prod/app/refresh', { versionId: current.versionId }), 'prod/app/refresh-v2');
    await root.putValue('prod/app/refresh', { value: 'prod/app/refresh-v3' });
    const before = await reads('prod/app/refresh');
    c.invalidate('prod/app/refresh');
    assert.equal(await c.getSecret('prod/app/refresh'), 'prod/app/refresh-v3');
    assert.equal(await c.getSecret('prod/app/refresh', { label: 'PREVIOUS' }), 'prod/app/refresh-v2');
    assert.equal(await reads('prod/app/refresh'), before + 2);
  });

  test('getJson, resolveRef and connectionUrl with a hostile password', async () => {
    const c = client();
    assert.equal((await c.getJson<{ username: string }>('prod/app/db')).username, 'etl');
    assert.equal(await c.resolveRef('secret://prod/app/db#password'), HOSTILE_PASSWORD);
    const url = new URL(await c.connectionUrl('prod/app/db'));
    assert.equal(decodeURIComponent(url.password), HOSTILE_PASSWORD);
    assert.equal(url.hostname, 'db.internal');
    assert.equal(url.pathname, '/analytics');
    assert.equal(new URL(await c.connectionUrl('prod/app/db', { driver: 'postgresql+psycopg2' })).protocol, 'postgresql+psycopg2:');
    await assert.rejects(c.getJson('prod/app/cache'), (e: unknown) => e instanceof CustosClientError && e.code === 'not_json');
  });

  test('configuration errors are typed and never retried', async () => {
    await root.writePolicy('only-cache', 'rules:\n  - path: prod/app/cache\n    capabilities: [read]\n  - path: "dev/**"\n    capabilities: [read]\n');
    const limited = await root.createToken({ policies: ['only-cache'] });
    const devBound = await root.createToken({ policies: ['only-cache'], env: 'dev' });
    const cases: [CustosClient, string, new (...a: never[]) => Error, string][] = [
      [client({ retry: { attempts: 5, baseDelayMs: 1 } }), 'prod/app/missing', SecretNotFoundError, 'secret_not_found'],
      [client({ token: limited.token, retry: { attempts: 5, baseDelayMs: 1 } }), 'prod/app/db', AccessDeniedError, 'permission_denied'],
      [client({ token: devBound.token, retry: { attempts: 5, baseDelayMs: 1 } }), 'prod/app/cache', AccessDeniedError, 'environment_denied'],
      [client({ token: 'cst_not_a_real_token', retry: { attempts: 5, baseDelayMs: 1 } }), 'prod/app/cache', AccessDeniedError, 'invalid_token'],
    ];
    for (const [c, name, type, code] of cases) {
      await assert.rejects(c.getSecret(name), (e: unknown) => e instanceof type && (e as CustosClientError).code === code && !(e as CustosClientError).transient, code);
      assert.equal(c.stats().requests, 1, `${code} was not retried`);
    }
    // The limited token can read what its policy allows.
    assert.equal(await client({ token: limited.token }).getSecret('prod/app/cache'), 'prod/app/cache-v1');
  });

  test('unreachable is transient: bounded retries with backoff, then a TransientError', async () => {
    const delays: number[] = [];
    const sleep = async (ms: number) => void delays.push(ms);
    const c = new CustosClient({ address: 'http://127.0.0.1:9', token: 'x', retry: { attempts: 3, baseDelayMs: 40, maxDelayMs: 100, sleep } });
    await assert.rejects(c.getSecret('prod/app/cache'), (e: unknown) => e instanceof TransientError && (e as TransientError).code === 'unreachable');
    assert.equal(c.stats().requests, 3);
    // Two backoff sleeps between three attempts, each at least half its (doubling) step and at most the step.
    assert.equal(delays.length, 2, `delays: ${delays.join(', ')}`);
    assert.ok(delays[0]! >= 20 && delays[0]! <= 40, `first delay ${delays[0]}`);
    assert.ok(delays[1]! >= 40 && delays[1]! <= 80, `second delay ${delays[1]}`);
  });
});

describe('CustosClient outage fallback', () => {
  test('serves the last good value while sealed or down, until maxStale, then fails clearly', async () => {
    const server = await startServer({ logLevel: 'warn' });
    try {
      const root = createApiClient({ address: server.address, token: server.token });
      await root.createSecret({ name: 'prod/etl/api-key', value: 'key-v1' });
      const warnings: StaleEvent[] = [];
      const c = new CustosClient({ address: server.address, token: server.token, ttlMs: 100, maxStaleMs: 1_500, retry: { attempts: 2, baseDelayMs: 10 }, onStale: (e) => warnings.push(e) });
      assert.equal(await c.getSecret('prod/etl/api-key'), 'key-v1');
      const fetchedAt = Date.now();

      // Sealed (503): the cached value is served, flagged stale, with a warning.
      const sealed = await api(server, 'POST', '/v1/sys/seal', { token: server.token });
      assert.equal(sealed.status, 200);
      await sleep(150);
      const whileSealed = await c.getSecretResult('prod/etl/api-key');
      assert.equal(whileSealed.value, 'key-v1');
      assert.equal(whileSealed.stale, true);
      assert.equal(warnings.at(-1)?.code, 'sealed');

      // Down (connection refused): still served.
      await server.kill();
      assert.equal(await c.getSecret('prod/etl/api-key'), 'key-v1');
      assert.equal(warnings.at(-1)?.code, 'unreachable');
      assert.equal(c.stats().staleServed, 2);
      assert.ok(warnings.every((w) => !JSON.stringify(w).includes('key-v1')), 'warnings never carry the value');

      // A secret never fetched has nothing to fall back on.
      await assert.rejects(c.getSecret('prod/etl/other'), (e: unknown) => e instanceof TransientError && !(e instanceof StaleLimitExceededError));
      // Batch reads fall back per secret the same way.
      await sleep(150);
      const [cached, never] = await c.getSecrets([{ name: 'prod/etl/api-key' }, { name: 'prod/etl/other' }]);
      assert.equal((cached as { value: string; stale: boolean }).value, 'key-v1');
      assert.equal((cached as { stale: boolean }).stale, true);
      assert.ok(never instanceof TransientError && !(never instanceof StaleLimitExceededError));

      // Past maxStale: a clear error instead of an ever-older value.
      await sleep(Math.max(0, fetchedAt + 1_600 - Date.now()));
      await assert.rejects(c.getSecret('prod/etl/api-key'), (e: unknown) => e instanceof StaleLimitExceededError && /older than maxStale/.test((e as Error).message) && !(e as Error).message.includes('key-v1'));
    } finally {
      await server.kill();
      server.cleanup();
    }
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { awsClient, awsError } from '../support/aws.js';
import { api, startServer, type RunningServer } from '../support/custos-server.js';
import { startPostgresCluster, type PostgresCluster } from '../support/postgres-cluster.js';

/**
 * The PostgreSQL request pool under trouble (docs/postgresql.md, "Connections"): PostgreSQL
 * restarting under load, PostgreSQL too slow for a tiny pool, a statement past its timeout.
 * Every refusal is a 503 with a stable code and a Retry-After; nothing acknowledged is lost.
 */
const STORAGE_CODES = new Set(['storage_unavailable', 'storage_busy', 'storage_timeout', 'audit_unavailable']);

interface Outcome { status: number; code: string | null; retryAfter: string | null }

async function call(server: RunningServer, method: string, path: string, body?: unknown): Promise<Outcome & { body: any }> {
  const r = await api(server, method, path, { token: server.token, body });
  return { status: r.status, code: r.body?.error?.code ?? null, retryAfter: r.headers.get('retry-after'), body: r.body };
}

/** Every failure a client saw was a clean, retryable refusal. */
function assertCleanRefusals(failures: Outcome[]): void {
  for (const f of failures) {
    assert.equal(f.status, 503, JSON.stringify(f));
    assert.ok(f.code !== null && STORAGE_CODES.has(f.code), `stable code: ${JSON.stringify(f)}`);
    assert.ok(f.retryAfter !== null && Number(f.retryAfter) >= 1, `Retry-After: ${JSON.stringify(f)}`);
  }
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    if (await condition()) return;
    await sleep(20);
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe('PostgreSQL connection hygiene', () => {
  let cluster: PostgresCluster;
  const servers: RunningServer[] = [];
  const admins: pg.Client[] = [];

  before(async () => {
    cluster = await startPostgresCluster();
  });
  after(async () => {
    for (const s of servers) {
      await s.stop();
      s.cleanup();
    }
    for (const a of admins) await a.end().catch(() => undefined);
    await cluster?.stop();
  });

  /** A superuser connection to `database` (to hold locks and look at rows). */
  const connectAdmin = async (database: string) => {
    const admin = new pg.Client({ host: cluster.host, port: cluster.port, user: cluster.superuser, password: cluster.superPassword, database });
    admin.on('error', () => undefined); // the restart test drops it
    await admin.connect();
    admins.push(admin);
    return admin;
  };

  /** A dev server on a fresh database of its own. */
  const start = async (env: Record<string, string>) => {
    const db = await cluster.createDatabase();
    const admin = await connectAdmin(db.database);
    // The harness runs PostgreSQL with synchronous_commit=off for speed; an acknowledged commit
    // must survive a crash here, as in production.
    await admin.query(`ALTER DATABASE ${db.database} SET synchronous_commit = on`);
    const server = await startServer({ args: ['--storage', db.url], env: { CUSTOS_STORAGE_PASSWORD: db.password, ...env }, logLevel: 'warn' });
    servers.push(server);
    return { server, admin, database: db.database };
  };

  test('PostgreSQL restarts (clean and crash) under writes and reads: the node recovers by itself and loses no acknowledged write', async () => {
    // With the default settings: audit_fsync is on with PostgreSQL, so read events are committed
    // synchronously too. Without it, a PostgreSQL crash can lose the last audit batches, and the
    // node then sees its chain's head go back (docs/postgresql.md, "Connections").
    const { server } = await start({ CUSTOS_STORAGE_POOL_MAX: '4' });
    assert.equal((await call(server, 'POST', '/v1/secrets', { name: 'load/fixed', value: 'fixed-value' })).status, 201);

    const acknowledged = new Map<string, string>();
    const failures: Outcome[] = [];
    const successes = { write: 0, read: 0 };
    let running = true;
    const writer = async (w: number) => {
      for (let n = 0; running; n++) {
        const name = `load/w${w}/${n}`;
        const value = `value-${w}-${n}`;
        const r = await call(server, 'POST', '/v1/secrets', { name, value });
        if (r.status === 201) {
          acknowledged.set(name, value);
          successes.write += 1;
        } else failures.push(r);
      }
    };
    const reader = async () => {
      while (running) {
        const r = await call(server, 'GET', '/v1/values/load/fixed');
        if (r.status === 200 && r.body.value === 'fixed-value') successes.read += 1;
        else if (r.status === 200) assert.fail(`read another value: ${JSON.stringify(r.body)}`);
        else failures.push(r);
      }
    };
    const load = Promise.all([writer(0), writer(1), writer(2), reader(), reader()]);
    try {
      for (const mode of ['fast', 'immediate'] as const) {
        const before = { ...successes };
        await waitFor('load before the restart', () => successes.write >= before.write + 5 && successes.read >= before.read + 5);
        const failuresBefore = failures.length;
        // While PostgreSQL is down the load keeps going, and is refused (not left hanging).
        await cluster.restart(mode, () => waitFor('refusals while PostgreSQL is down', () => failures.length >= failuresBefore + 5));
        const restarted = { ...successes };
        // No restart of Custos: the same process serves reads and writes again.
        await waitFor(`recovery after the ${mode} restart`, () => successes.write >= restarted.write + 10 && successes.read >= restarted.read + 10);
      }
    } finally {
      running = false;
      await load;
    }

    assert.ok(failures.length >= 10);
    assertCleanRefusals(failures);
    for (const [name, value] of acknowledged) {
      const r = await call(server, 'GET', `/v1/values/${name}`);
      assert.equal(r.status, 200, `acknowledged write ${name} is readable: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.value, value);
    }
    const verify = await call(server, 'POST', '/v1/audit/verify');
    assert.equal(verify.body.ok, true, JSON.stringify(verify.body));
    assert.doesNotMatch(server.output(), /"level":(50|60).*(fixed-value|value-\d)/, 'no value in error logs');
  });

  test('PostgreSQL too slow for a tiny pool: callers get 503 storage_busy with Retry-After instead of queueing', async () => {
    // The read cache off: every read below must reach PostgreSQL (a cached label would not).
    const { server, admin, database } = await start({ CUSTOS_STORAGE_POOL_MAX: '1', CUSTOS_STORAGE_POOL_WAIT_MS: '300', CUSTOS_STORAGE_POOL_QUEUE_MAX: '2', CUSTOS_STORAGE_STATEMENT_TIMEOUT_MS: '0', CUSTOS_READ_CACHE_MAX_AGE_MS: '0' });
    assert.equal((await call(server, 'POST', '/v1/secrets', { name: 'slow/one', value: 'slow-value' })).status, 201);
    assert.equal((await call(server, 'GET', '/v1/values/slow/one')).status, 200); // token and key caches warm

    await admin.query('BEGIN');
    await admin.query('LOCK TABLE version_labels IN ACCESS EXCLUSIVE MODE');
    let blockedDone = false;
    const blocked = call(server, 'GET', '/v1/values/slow/one').finally(() => (blockedDone = true));
    // The pool's only connection now waits on the lock.
    await waitFor('the read waiting on the lock', async () => (await admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`, [database])).rows[0].n === 1);
    const [refused, awsRefusal] = await Promise.all([
      Promise.all(Array.from({ length: 6 }, () => call(server, 'GET', '/v1/values/slow/one'))),
      awsError(awsClient(server).send(new GetSecretValueCommand({ SecretId: 'slow/one' }))),
    ]);
    assert.equal(blockedDone, false, 'the refusals came back while the lock is still held');
    // The AWS SDKs retry a 503 ServiceUnavailableException by themselves.
    assert.deepEqual([awsRefusal.name, awsRefusal.status], ['ServiceUnavailableException', 503]);
    for (const r of refused) assert.equal(r.code, 'storage_busy', JSON.stringify(r));
    assertCleanRefusals(refused);
    await admin.query('COMMIT');
    const unblocked = await blocked;
    assert.equal(unblocked.status, 200);
    assert.equal(unblocked.body.value, 'slow-value');
    assert.equal((await call(server, 'GET', '/v1/values/slow/one')).status, 200, 'serves again once PostgreSQL keeps up');
  });

  test('a statement past statement_timeout: 503 storage_timeout, the transaction rolled back, a retry succeeds', async () => {
    const { server, admin } = await start({ CUSTOS_STORAGE_STATEMENT_TIMEOUT_MS: '300' });
    assert.equal((await call(server, 'POST', '/v1/secrets', { name: 'timeout/one', value: 'first' })).status, 201);
    const { rows: [secret] } = await admin.query(`SELECT id FROM secrets WHERE name = 'timeout/one'`);
    const versions = async () => (await admin.query('SELECT count(*)::int AS n FROM secret_versions WHERE secret_id = $1', [secret.id])).rows[0].n as number;
    assert.equal(await versions(), 1);

    // Holding the CURRENT label's row: the write inserts its version, then waits to move the label.
    await admin.query('BEGIN');
    await admin.query(`SELECT * FROM version_labels WHERE secret_id = $1 AND label = 'CURRENT' FOR UPDATE`, [secret.id]);
    let refused;
    try {
      refused = await call(server, 'POST', '/v1/values/timeout/one', { value: 'second' });
    } finally {
      await admin.query('COMMIT');
    }
    assert.equal(refused.code, 'storage_timeout', JSON.stringify(refused));
    assertCleanRefusals([refused]);
    assert.doesNotMatch(JSON.stringify(refused.body), /second|statement timeout|version_labels/, 'neither the value nor the driver message reaches the client');

    assert.equal(await versions(), 1, 'the version inserted before the timeout was rolled back');
    assert.equal((await call(server, 'GET', '/v1/values/timeout/one')).body.value, 'first');
    const retried = await call(server, 'POST', '/v1/values/timeout/one', { value: 'second' });
    assert.equal(retried.status, 201, JSON.stringify(retried.body));
    assert.equal((await call(server, 'GET', '/v1/values/timeout/one')).body.value, 'second');
    assert.equal(await versions(), 2);
    const verify = await call(server, 'POST', '/v1/audit/verify');
    assert.equal(verify.body.ok, true, JSON.stringify(verify.body));
  });
});

import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import pg from 'pg';
import { AppError } from '../errors/app-error.js';
import { createPgPoolGuard, storageErrorOf, type PgReachability } from './pg-pool-guard.js';

/** A port nothing listens on (the OS handed it out a moment ago and it was closed). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

const limits = { max: 2, acquireTimeoutMs: 1000, maxWaiting: 1, statementTimeoutMs: 0 };

test('connection refused: storage_unavailable, then fails fast during a doubling backoff without touching the network', async () => {
  const port = await closedPort();
  const pool = new pg.Pool({ host: '127.0.0.1', port, user: 'nobody', database: 'none', max: 2 });
  pool.on('error', () => undefined);
  let clock = 1_000_000;
  const changes: PgReachability[] = [];
  const guard = createPgPoolGuard(pool, limits, { now: () => clock, backoff: { baseMs: 100, maxMs: 400 }, onReachability: (c) => changes.push(c) });
  const attempt = () => guard.connect().then(() => assert.fail('connected to a closed port'), (e: unknown) => e as AppError);
  try {
    const first = await attempt();
    assert.equal(first.code, 'storage_unavailable');
    assert.equal(first.status, 503);
    assert.equal(first.retryAfterSeconds, 1);
    assert.equal(changes.length, 1, 'one report for the outage, not one per request');
    assert.equal(changes[0]!.reachable, false);

    // Inside the backoff window: refused at once (the pool never saw an attempt).
    clock += 50;
    const refused = await attempt();
    assert.equal(refused.code, 'storage_unavailable');
    assert.match(String((refused.cause as Error).message), /backoff/);

    // After the window one probe goes out, fails, and the next window is twice as long.
    clock += 60;
    assert.doesNotMatch(String(((await attempt()).cause as Error).message), /backoff/);
    clock += 150;
    assert.match(String(((await attempt()).cause as Error).message), /backoff/, 'second window is 200 ms');
    clock += 60;
    assert.doesNotMatch(String(((await attempt()).cause as Error).message), /backoff/);
    // Capped at maxMs: however many failures, the window never exceeds 400 ms.
    for (let i = 0; i < 5; i++) {
      clock += 401;
      assert.doesNotMatch(String(((await attempt()).cause as Error).message), /backoff/);
    }
    assert.equal(changes.length, 1);
  } finally {
    await guard.end();
  }
});

test('errors that describe the database, not the request, get stable codes; others pass through', () => {
  const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code });
  assert.equal(storageErrorOf(pgError('57014', 'canceling statement due to statement timeout'))?.code, 'storage_timeout');
  assert.equal(storageErrorOf(pgError('55P03'))?.code, 'storage_timeout');
  assert.equal(storageErrorOf(pgError('57P01', 'terminating connection due to administrator command'))?.code, 'storage_unavailable');
  assert.equal(storageErrorOf(pgError('08006'))?.code, 'storage_unavailable');
  assert.equal(storageErrorOf(pgError('ECONNREFUSED'))?.code, 'storage_unavailable');
  assert.equal(storageErrorOf(new Error('Connection terminated unexpectedly'))?.code, 'storage_unavailable');
  assert.equal(storageErrorOf(pgError('53300'))?.code, 'storage_busy');
  for (const code of ['storage_timeout', 'storage_unavailable', 'storage_busy'] as const) {
    const e = storageErrorOf(pgError(code === 'storage_timeout' ? '57014' : code === 'storage_busy' ? '53300' : '08006', 'secret-looking detail'));
    assert.equal(e?.retryAfterSeconds, 1);
    assert.doesNotMatch(e!.message, /secret-looking/, 'the driver message stays internal');
  }
  // Constraint violations belong to the stores (secret_exists, ...), and AppErrors are final.
  assert.equal(storageErrorOf(pgError('23505')), null);
  assert.equal(storageErrorOf(new AppError('sealed', 'sealed')), null);
  assert.equal(storageErrorOf(undefined), null);
});

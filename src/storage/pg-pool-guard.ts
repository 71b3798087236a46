import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type pg from 'pg';
import { AppError } from '../errors/app-error.js';

/** How the request pool behaves when PostgreSQL is slow, saturated or gone. */
export interface PgPoolLimits {
  /** Connections in the pool. */
  max: number;
  /** The longest a query waits for a free connection (or for a new one to open). */
  acquireTimeoutMs: number;
  /** Queries already waiting beyond which another is refused at once. */
  maxWaiting: number;
  /** PostgreSQL cancels any statement that runs longer (set per connection); 0 for none. */
  statementTimeoutMs: number;
}

export interface PgReconnectBackoff {
  /** The pause after the first failed connection attempt; doubles per failure ... */
  baseMs: number;
  /** ... up to this. */
  maxMs: number;
}

export const DEFAULT_RECONNECT_BACKOFF: PgReconnectBackoff = { baseMs: 100, maxMs: 5000 };

/** What the guard saw happen to PostgreSQL's reachability (for one log line per change, not per request). */
export type PgReachability = { reachable: false; error: unknown; retryInMs: number } | { reachable: true };

export interface PgPoolGuardOptions {
  backoff?: PgReconnectBackoff;
  now?: () => number;
  onReachability?: (change: PgReachability) => void;
}

const RETRY_BUSY_SECONDS = 1;
const ignoreClientError = () => undefined;
const translateAndThrow = (error: unknown): never => {
  throw storageErrorOf(error) ?? error;
};

// Node socket errors and PostgreSQL SQLSTATEs that mean "the server is not there (right now)":
// class 08 (connection exception), 57P01-57P03 (shutting down, crashed, starting up).
const UNREACHABLE_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
const UNREACHABLE_MESSAGES = /^(Connection terminated|Client has encountered a connection error|Client was closed|Connection timeout)/;

/**
 * The public error for a failure that says nothing about the request itself, only about the
 * database's state; null for every other error (constraint violations and the like pass
 * through untouched for the stores to interpret). The pg message never reaches the client.
 */
export function storageErrorOf(error: unknown): AppError | null {
  if (error instanceof AppError) return null;
  const e = error as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  // 57014 query_canceled: statement_timeout fired (PostgreSQL rolls the transaction back); 55P03: lock_timeout.
  if (code === '57014' || code === '55P03') {
    return new AppError('storage_timeout', 'the database did not answer in time; the change was not made; retry shortly', { cause: error, retryAfterSeconds: RETRY_BUSY_SECONDS });
  }
  // 53300 too_many_connections, 53400 configuration_limit_exceeded: PostgreSQL itself is full.
  if (code === '53300' || code === '53400') return busyError(error);
  if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || UNREACHABLE_ERRNOS.has(code)
    || (typeof e?.message === 'string' && UNREACHABLE_MESSAGES.test(e.message))) {
    return unavailableError(error, RETRY_BUSY_SECONDS);
  }
  return null;
}

function busyError(cause: unknown): AppError {
  return new AppError('storage_busy', 'the database is busy; retry shortly', { cause, retryAfterSeconds: RETRY_BUSY_SECONDS });
}

function unavailableError(cause: unknown, retryAfterSeconds: number): AppError {
  return new AppError('storage_unavailable', 'the database is unreachable; retry shortly', { cause, retryAfterSeconds });
}

/**
 * Puts limits in front of a pg.Pool for Kysely: a bounded wait for a connection (then
 * `storage_busy`, never an unbounded queue), a cap on waiters, and reconnection with backoff:
 * after a failed connection attempt, further attempts wait `baseMs`, doubling to `maxMs`,
 * while queries fail at once with `storage_unavailable` and a Retry-After of the time left.
 * When the backoff ends one attempt probes; its success ends the outage. Every error a client
 * raises that means "database busy, slow or gone" becomes the matching AppError.
 */
export function createPgPoolGuard(pool: pg.Pool, limits: PgPoolLimits, options: PgPoolGuardOptions = {}): PostgresPool {
  const now = options.now ?? Date.now;
  const backoff = options.backoff ?? DEFAULT_RECONNECT_BACKOFF;
  let failures = 0;
  let retryAt = 0;
  let probing = false;
  // One wrapper per client, so Kysely (which keys its connections by client) sees a stable object.
  const wrappers = new WeakMap<pg.PoolClient, PostgresPoolClient>();

  const wrap = (client: pg.PoolClient): PostgresPoolClient => {
    let wrapper = wrappers.get(client);
    if (!wrapper) {
      // pg-pool listens for errors only on idle clients. A checked-out client between two
      // queries (a transaction awaiting other work) that loses its server ("terminating
      // connection due to administrator command") would otherwise emit an unhandled 'error'
      // and crash the process. Its next query fails instead, and the pool discards it.
      client.on('error', ignoreClientError);
      // Kysely uses only query and release: a plain object built once per client (no Proxy on the hot path).
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      wrapper = {
        query: ((...args: unknown[]) => {
          const result = query(...args);
          // A submittable (a cursor) is returned as is; promises get their errors translated.
          return result instanceof Promise ? result.catch(translateAndThrow) : result;
        }) as PostgresPoolClient['query'],
        release: () => client.release(),
      };
      wrappers.set(client, wrapper);
    }
    return wrapper;
  };

  const failed = (error: unknown) => {
    failures += 1;
    const pause = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(failures - 1, 20));
    retryAt = now() + pause;
    if (failures === 1) options.onReachability?.({ reachable: false, error, retryInMs: pause });
  };

  return {
    async connect() {
      const waitRemaining = retryAt - now();
      if (waitRemaining > 0 || probing) {
        throw unavailableError(new Error('reconnect backoff'), Math.max(1, Math.ceil(waitRemaining / 1000)));
      }
      // Only a pool with every connection taken makes a caller wait behind others.
      const saturated = pool.totalCount >= limits.max && pool.idleCount === 0;
      if (saturated && pool.waitingCount >= limits.maxWaiting) throw busyError(new Error('pool wait queue full'));
      const probe = failures > 0;
      if (probe) probing = true;
      try {
        const client = await pool.connect();
        if (failures > 0) options.onReachability?.({ reachable: true });
        failures = 0;
        retryAt = 0;
        return wrap(client);
      } catch (error) {
        // pg-pool says the same "timeout exceeded" whether the wait was for a busy pool or a slow connect.
        const timedOut = /timeout exceeded when trying to connect/.test(String((error as Error)?.message));
        if (timedOut && saturated) throw busyError(error);
        const translated = timedOut ? unavailableError(error, RETRY_BUSY_SECONDS) : storageErrorOf(error);
        if (translated?.code === 'storage_unavailable') failed(error);
        // Anything else (a wrong password, an unknown database) is a configuration error: keep its message.
        throw translated ?? error;
      } finally {
        if (probe) probing = false;
      }
    },
    end: () => pool.end(),
  };
}

import pg from 'pg';
import { AccessDeniedError, CustosClientError, SecretNotFoundError, type CustosClient, type SecretResult } from './custos-client.js';

/**
 * A rotation-aware `pg` pool (the only SDK module that imports `pg`; it is exported as
 * `custos/client/pg` so users without `pg` can use the rest of the SDK).
 *
 * Credentials come from a JSON connection secret (host, port, dbname, username, password,
 * ssl_mode). When PostgreSQL rejects the credentials (SQLSTATE 28P01 / 28000):
 *  1. re-fetch CURRENT, bypassing the cache; if it names another version, switch to it;
 *  2. if CURRENT is unchanged, try PENDING: during single-user rotation the database
 *     already holds the new password between the `set` and `finish` steps while CURRENT
 *     still names the old one. PENDING is used only if a test connection with it succeeds;
 *  3. retry the failed query once with the new credentials (the query never ran: the
 *     failure happened while connecting).
 * A credential change builds a new pg.Pool and ends the old one gracefully (clients that
 * are checked out finish their work). Connections older than `maxConnectionAgeMs` are
 * closed when released, so long batch jobs keep opening connections with the credentials
 * the pool currently holds instead of living on a session opened before a rotation.
 */
export interface RotatingPgPoolOptions {
  client: CustosClient;
  /** Name of the JSON connection secret. */
  secret: string;
  /** Extra pg.Pool options (max, idleTimeoutMillis, ssl, ...). Connection fields come from the secret. */
  pool?: Omit<pg.PoolConfig, 'user' | 'password' | 'host' | 'port' | 'database' | 'connectionString' | 'maxLifetimeSeconds'>;
  /** Recycle connections older than this (whole seconds: pg-pool's granularity); default 1 800 000 (30 min). 0 keeps them forever. */
  maxConnectionAgeMs?: number;
  /** Called after the pool switched credentials (never receives the password). */
  onCredentialsChanged?: (event: { versionId: string; label: 'CURRENT' | 'PENDING' }) => void;
}

export interface RotatingPgPool {
  /** pool.query with the rotation retry. */
  query<R extends pg.QueryResultRow = any>(text: string | pg.QueryConfig, values?: unknown[]): Promise<pg.QueryResult<R>>;
  /** pool.connect with the rotation retry; release the client as usual. */
  connect(): Promise<pg.PoolClient>;
  /** Version id of the credentials in use. */
  readonly versionId: string;
  /** How many times the pool switched credentials. */
  readonly credentialSwitches: number;
  /** Ends the pool (and any pool being drained). */
  end(): Promise<void>;
}

interface Credentials {
  versionId: string;
  config: pg.ClientConfig;
}

const AUTH_FAILURES = new Set(['28P01', '28000']);

export function isAuthFailure(error: unknown): boolean {
  return AUTH_FAILURES.has((error as { code?: string })?.code ?? '');
}

function credentialsFrom(result: SecretResult, secret: string): Credentials {
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(result.value) as Record<string, unknown>;
  } catch {
    throw new CustosClientError('not_json', `${secret} is not a JSON connection secret`, { secret });
  }
  const text = (...keys: string[]) => {
    for (const k of keys) if (data[k] !== undefined && data[k] !== null && data[k] !== '') return String(data[k]);
    return undefined;
  };
  const user = text('username', 'user');
  const password = text('password');
  if (!user || password === undefined) throw new CustosClientError('invalid_connection_secret', `${secret} needs "username" and "password"`, { secret });
  const sslMode = text('ssl_mode', 'sslmode');
  const config: pg.ClientConfig = {
    host: text('host') ?? '127.0.0.1',
    port: Number(text('port') ?? 5432),
    database: text('dbname', 'database'),
    user,
    password,
  };
  if (sslMode && ['require', 'verify-ca', 'verify-full'].includes(sslMode)) config.ssl = { rejectUnauthorized: sslMode !== 'require' };
  return { versionId: result.versionId, config };
}

export async function createRotatingPgPool(options: RotatingPgPoolOptions): Promise<RotatingPgPool> {
  const { client, secret } = options;
  const maxAgeSeconds = Math.ceil((options.maxConnectionAgeMs ?? 1_800_000) / 1000);
  let credentials = credentialsFrom(await client.getSecretResult(secret), secret);
  let switches = 0;
  const draining = new Set<Promise<void>>();

  const makePool = (c: Credentials) => {
    const pool = new pg.Pool({ ...options.pool, ...c.config, maxLifetimeSeconds: maxAgeSeconds });
    // Idle connections dropped by the server must not crash the process.
    pool.on('error', () => {});
    return pool;
  };
  let pool = makePool(credentials);

  const switchTo = (next: Credentials, label: 'CURRENT' | 'PENDING') => {
    const old = pool;
    credentials = next;
    pool = makePool(next);
    switches += 1;
    const ending = old.end().catch(() => {}).finally(() => draining.delete(ending));
    draining.add(ending);
    options.onCredentialsChanged?.({ versionId: next.versionId, label });
  };

  const canConnect = async (c: Credentials): Promise<boolean> => {
    const probe = new pg.Client({ ...c.config, ssl: options.pool?.ssl ?? c.config.ssl });
    probe.on('error', () => {});
    try {
      await probe.connect();
      return true;
    } catch (error) {
      if (isAuthFailure(error)) return false;
      throw error;
    } finally {
      await probe.end().catch(() => {});
    }
  };

  /** Returns true when the pool now holds different credentials worth retrying with. */
  let refreshing: Promise<boolean> | undefined;
  const refresh = (failedVersion: string): Promise<boolean> => {
    refreshing ??= (async () => {
      try {
        // Another caller may already have switched while we were failing.
        if (credentials.versionId !== failedVersion) return true;
        const current = credentialsFrom(await client.getSecretResult(secret, { forceRefresh: true }), secret);
        if (current.versionId !== credentials.versionId) {
          switchTo(current, 'CURRENT');
          return true;
        }
        let pending: Credentials;
        try {
          pending = credentialsFrom(await client.getSecretResult(secret, { label: 'PENDING', forceRefresh: true }), secret);
        } catch (error) {
          if (error instanceof SecretNotFoundError || error instanceof AccessDeniedError) return false;
          throw error;
        }
        if (pending.versionId === credentials.versionId || !(await canConnect(pending))) return false;
        switchTo(pending, 'PENDING');
        return true;
      } finally {
        refreshing = undefined;
      }
    })();
    return refreshing;
  };

  async function withRotation<T>(op: (p: pg.Pool) => Promise<T>): Promise<T> {
    const usedVersion = credentials.versionId;
    try {
      return await op(pool);
    } catch (error) {
      if (!isAuthFailure(error)) throw error;
      if (!(await refresh(usedVersion))) throw error;
      return op(pool);
    }
  }

  return {
    query: (text, values) => withRotation((p) => p.query(text as string, values)) as never,
    connect: () => withRotation((p) => p.connect()),
    get versionId() {
      return credentials.versionId;
    },
    get credentialSwitches() {
      return switches;
    },
    async end() {
      await Promise.all([pool.end().catch(() => {}), ...draining]);
    },
  };
}

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, type Migration, type MigrationProvider } from 'kysely';
import pg from 'pg';
import type { Database, Dialect } from './schema.js';
import { foundation } from './migrations/001-foundation.js';
import { aws } from './migrations/002-aws.js';
import { rotation } from './migrations/003-rotation.js';
import { auditHead } from './migrations/004-audit-head.js';
import { auditRowid } from './migrations/005-audit-rowid.js';
import { awsKeyExpiry } from './migrations/007-aws-key-expiry.js';
import { transit } from './migrations/011-transit.js';
import { resourcePolicies } from './migrations/014-resource-policies.js';
import { authMethods } from './migrations/015-auth-methods.js';
import { wrappingGroups } from './migrations/016-wrapping-groups.js';
import { scanFingerprints } from './migrations/017-scan-fingerprints.js';
import { alerts } from './migrations/018-alerts.js';
import { changeRequests } from './migrations/019-change-requests.js';
import { oidcStates } from './migrations/023-oidc-states.js';
import { leases } from './migrations/020-leases.js';
import { databaseEngine } from './migrations/021-database-engine.js';
import { changeRequestDiffs } from './migrations/024-change-request-diffs.js';
import { sessionOwnedLogins } from './migrations/026-session-owned-logins.js';
import { rotationRegion } from './migrations/034-rotation-region.js';
import { auditPartitions } from './migrations/035-audit-partitions.js';
import { auditOutcomeIndex } from './migrations/037-audit-outcome-index.js';
import { auditTimeOrder } from './migrations/038-audit-time-order.js';
import { auditAppendFunction } from './migrations/039-audit-append-function.js';
import { auditUnsuccessfulIndexes } from './migrations/040-audit-unsuccessful-indexes.js';
import { alertHistoryAge } from './migrations/041-alert-history-age.js';
import { unusedAlertsPerOwner } from './migrations/042-unused-alerts-per-owner.js';
import { secretsByLastUse } from './migrations/043-secrets-by-last-use.js';
import { startSqliteCheckpointer, WAL_BACKSTOP_PAGES } from './sqlite-checkpointer.js';
import { createPgPoolGuard, type PgPoolLimits, type PgReachability } from './pg-pool-guard.js';

export interface StorageOptions {
  /** `sqlite:PATH` or `postgres://user@host:port/db`. */
  url: string;
  password?: string;
  sqliteSynchronous?: 'FULL' | 'NORMAL';
  /** PostgreSQL pool size per node (shorthand for `pgPool.max`). */
  poolSize?: number;
  /**
   * PostgreSQL: how the request pool behaves when the database is slow, saturated or restarting
   * (pg-pool-guard.ts). Unset fields keep the defaults below; the offline tools set none, so
   * their long copies run without a statement timeout.
   */
  pgPool?: Partial<PgPoolLimits> & { onReachability?: (change: PgReachability) => void };
  /**
   * SQLite: checkpoint the WAL on a worker thread instead of on the committing connection
   * (see sqlite-checkpointer.ts). For the server; short-lived commands do without.
   */
  backgroundCheckpoints?: { onError: (error: Error) => void };
}

export interface Storage {
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  /** For SQLite: the database file (and its -wal beside it); undefined for PostgreSQL. */
  readonly sqlitePath?: string;
  close(): Promise<void>;
}

/**
 * Migrations per dialect, applied in name order. Capabilities are built in parallel, so one may
 * land with a number below a migration a store already ran: each migration only adds its own
 * tables and columns, so the runner accepts a missing lower number (`allowUnorderedMigrations`)
 * and runs it. A migration that changes another's tables must take a number above it.
 */
function migrations(dialect: Dialect): Record<string, Migration> {
  return {
    '001-foundation': foundation(dialect),
    '002-aws': aws(dialect),
    '003-rotation': rotation(dialect),
    '004-audit-head': auditHead(dialect),
    '005-audit-rowid': auditRowid(dialect),
    '007-aws-key-expiry': awsKeyExpiry(dialect),
    '011-transit': transit(dialect),
    '014-resource-policies': resourcePolicies(dialect),
    '015-auth-methods': authMethods(dialect),
    '016-wrapping-groups': wrappingGroups(dialect),
    '017-scan-fingerprints': scanFingerprints(dialect),
    '018-alerts': alerts(dialect),
    '019-change-requests': changeRequests(dialect),
    '020-leases': leases(dialect),
    '021-database-engine': databaseEngine(dialect),
    '023-oidc-states': oidcStates(dialect),
    '024-change-request-diffs': changeRequestDiffs(dialect),
    '026-session-owned-logins': sessionOwnedLogins(dialect),
    '034-rotation-region': rotationRegion(dialect),
    '035-audit-partitions': auditPartitions(dialect),
    '037-audit-outcome-index': auditOutcomeIndex(dialect),
    '038-audit-time-order': auditTimeOrder(dialect),
    '039-audit-append-function': auditAppendFunction(dialect),
    '040-audit-unsuccessful-indexes': auditUnsuccessfulIndexes(dialect),
    '041-alert-history-age': alertHistoryAge(dialect),
    '042-unused-alerts-per-owner': unusedAlertsPerOwner(dialect),
    '043-secrets-by-last-use': secretsByLastUse(dialect),
  };
}

/** Opens storage and applies pending migrations (safe when several nodes start at once: Kysely takes a lock). */
export async function openStorage(options: StorageOptions): Promise<Storage> {
  if (options.url.startsWith('sqlite:')) {
    const storage = openSqlite(options);
    await migrate(storage.db, storage.dialect).catch(async (error: unknown) => {
      await storage.close();
      throw error;
    });
    return storage;
  }
  // Migrations run on a connection of their own, without the request pool's statement
  // timeout: rebuilding an index on a large table may take longer than any request should.
  const migrator = openPostgres({ url: options.url, password: options.password, pgPool: { max: 2, acquireTimeoutMs: 60_000 } });
  try {
    await migrate(migrator.db, 'postgres');
  } finally {
    await migrator.close();
  }
  return openPostgres(options);
}

async function migrate(db: Kysely<Database>, dialect: Dialect): Promise<void> {
  const provider: MigrationProvider = { getMigrations: async () => migrations(dialect) };
  const { error, results } = await new Migrator({ db, provider, allowUnorderedMigrations: true }).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`storage migration ${failed} failed`, { cause: error });
  }
}

function openSqlite(options: StorageOptions): Storage {
  const file = options.url.slice('sqlite:'.length);
  if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 });
  const sqlite = new SqliteDatabase(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma(`synchronous = ${options.sqliteSynchronous ?? 'FULL'}`);
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  // A checkpoint stalls the connection that runs it. The server checkpoints on a worker thread
  // and keeps this only as a backstop; without the worker, fewer larger checkpoints (64 MiB
  // rather than SQLite's 4 MiB) still keep the latency tail short.
  sqlite.pragma(`wal_autocheckpoint = ${WAL_BACKSTOP_PAGES}`);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  const checkpointer = options.backgroundCheckpoints && file !== ':memory:' ? startSqliteCheckpointer(file, { onError: options.backgroundCheckpoints.onError }) : undefined;
  return {
    db,
    dialect: 'sqlite',
    sqlitePath: file,
    close: async () => {
      await checkpointer?.close();
      await db.destroy();
    },
  };
}

/**
 * Kysely's SQLite driver prepares every query anew, which costs more than running it on the
 * read path. The same SQL text always compiles to the same statement, so keep them.
 *
 * Transactions begin IMMEDIATE: the audit writer appends through a second connection, and a
 * deferred transaction that reads and then writes would fail (SQLITE_BUSY_SNAPSHOT) instead of
 * waiting if the other connection committed in between.
 */
function withStatementCache(sqlite: SqliteDatabase.Database): SqliteDatabase.Database {
  const statements = new Map<string, SqliteDatabase.Statement>();
  const MAX_STATEMENTS = 1000;
  return new Proxy(sqlite, {
    get(target, property) {
      if (property === 'prepare') {
        return (sql: string) => {
          if (sql === 'begin') sql = 'begin immediate';
          let statement = statements.get(sql);
          if (!statement) {
            if (statements.size >= MAX_STATEMENTS) statements.clear();
            statement = target.prepare(sql);
            statements.set(sql, statement);
          }
          return statement;
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

// int8 (bigint) columns hold epoch milliseconds and sequence numbers, all far below 2^53.
pg.types.setTypeParser(20, (value: string) => Number(value));

/** Connection fields from a postgres:// URL (for extra dedicated connections: LISTEN, leadership). */
export function pgConnectionFields(urlText: string, password?: string): pg.ClientConfig {
  // pg lets an empty password in a URL override a separate `password` option, so pass fields.
  const url = new URL(urlText);
  return {
    host: decodeURIComponent(url.hostname),
    port: url.port ? Number(url.port) : 5432,
    user: decodeURIComponent(url.username),
    database: decodeURIComponent(url.pathname.slice(1)),
    password: password ?? (url.password ? decodeURIComponent(url.password) : undefined),
  };
}

/** The request pool's limits unless configured otherwise (docs/postgresql.md, "Connections"). */
export const DEFAULT_PG_POOL_LIMITS: PgPoolLimits = { max: 10, acquireTimeoutMs: 2000, maxWaiting: 500, statementTimeoutMs: 0 };

function openPostgres(options: StorageOptions): Storage {
  const { onReachability, ...configured } = options.pgPool ?? {};
  const limits: PgPoolLimits = { ...DEFAULT_PG_POOL_LIMITS, ...(options.poolSize === undefined ? {} : { max: options.poolSize }), ...configured };
  const pool = new pg.Pool({
    ...pgConnectionFields(options.url, options.password),
    max: limits.max,
    connectionTimeoutMillis: limits.acquireTimeoutMs,
    // Sent in the startup packet, so every connection of the pool has it from its first statement.
    ...(limits.statementTimeoutMs > 0 ? { statement_timeout: limits.statementTimeoutMs } : {}),
    // TCP keepalive probes after 10 s idle, so a connection to a host that vanished without
    // closing it is eventually noticed (how soon after that depends on the OS's probe settings).
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  });
  // Without a listener an idle client's lost connection would crash the process; pg-pool
  // drops that client, and the next query opens a new connection.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: createPgPoolGuard(pool, limits, { onReachability }) }) });
  return { db, dialect: 'postgres', close: () => db.destroy() };
}

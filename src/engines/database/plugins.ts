/**
 * Database plugins: how to reach a database with its admin credential and what to run by
 * default. Each connection gets one bounded pool (a few connections, idle ones closed), opened
 * lazily and replaced when the admin secret's version changes. The MySQL driver is loaded
 * only when a MySQL connection is used.
 */
import pg from 'pg';
import { AppError } from '../../errors/app-error.js';
import { mysqlDialect, postgresDialect } from './dialects.js';
import type { Dialect } from './templates.js';

export const PLUGINS = ['postgresql', 'mysql', 'command'] as const;
export type PluginName = (typeof PLUGINS)[number];

/** The admin secret's JSON: AWS's shape for a database credential. */
export interface AdminCredential {
  host: string;
  port: number;
  dbname: string;
  username: string;
  password: string;
  /**
   * TLS to the database (from the admin secret's `sslmode` and `sslrootcert`): `disable`
   * (default), `require` (encrypted, server not verified), `verify-full` (certificate checked
   * against `ca`, or the system's CAs, and the host name).
   */
  tls: { mode: TlsMode; ca?: string };
}

export const TLS_MODES = ['disable', 'require', 'verify-full'] as const;
export type TlsMode = (typeof TLS_MODES)[number];

/** The TLS options both drivers take (node's tls.connect options). */
function tlsOptions(c: AdminCredential): false | { rejectUnauthorized: boolean; ca?: string } {
  if (c.tls.mode === 'disable') return false;
  return c.tls.mode === 'require' ? { rejectUnauthorized: false } : { rejectUnauthorized: true, ...(c.tls.ca ? { ca: c.tls.ca } : {}) };
}

export interface AdminPool {
  /**
   * Set by plugins that act per operation instead of running SQL (the `command` plugin). On
   * `create` it may answer the credential the user really got (e.g. a private key whose public
   * half it registered), which the caller receives instead of the generated password.
   */
  perform?(action: 'create' | 'revoke' | 'renew' | 'rollback', values: { name: string; password?: string; expiration?: number; role?: string }): Promise<{ password?: string } | void>;
  /** Runs statements in order (in one transaction where the database has transactional DDL). */
  run(statements: readonly string[]): Promise<void>;
  userExists(username: string): Promise<boolean>;
  /** The statement that gives the pool's own (admin) user a new password. */
  rotateOwnPassword(password: string): Promise<string>;
  /** User names starting with `prefix` (at most `limit`), for the orphan scan. */
  usersWithPrefix(prefix: string, limit: number): Promise<string[]>;
  end(): Promise<void>;
}

export interface DatabasePlugin {
  name: PluginName;
  dialect: Dialect;
  defaults: { revocation: string[]; renew: string[]; rollback: string[] };
  openPool(admin: AdminCredential, maxConnections: number): Promise<AdminPool>;
  /** Logs in as a user once (to verify a connection or, in tests, an issued credential). */
  canLogin(c: AdminCredential): Promise<boolean>;
}

const CONNECT_TIMEOUT_MS = 10_000;

const postgresql: DatabasePlugin = {
  name: 'postgresql',
  dialect: postgresDialect,
  defaults: {
    // Sessions first (a dropped role's open session would keep working), then what it owns, then the role.
    revocation: [
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = {{name_literal}}',
      'REASSIGN OWNED BY {{name}} TO CURRENT_USER',
      'DROP OWNED BY {{name}}',
      'DROP ROLE IF EXISTS {{name}}',
    ],
    renew: ['ALTER ROLE {{name}} VALID UNTIL {{expiration}}'],
    rollback: ['DROP ROLE IF EXISTS {{name}}'],
  },
  async openPool(admin, max) {
    const pool = new pg.Pool({ host: admin.host, port: admin.port, database: admin.dbname, user: admin.username, password: admin.password, ssl: tlsOptions(admin), max, idleTimeoutMillis: 30_000, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, statement_timeout: 30_000 });
    pool.on('error', () => undefined); // an idle client's lost connection must not crash the server
    return {
      async run(statements) {
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          for (const s of statements) await client.query(s);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw error;
        } finally {
          client.release();
        }
      },
      async userExists(username) {
        return (await pool.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [username])).rowCount! > 0;
      },
      rotateOwnPassword: async (password) => `ALTER ROLE CURRENT_USER PASSWORD ${postgresDialect.passwordLiteral(password)}`,
      async usersWithPrefix(prefix, limit) {
        const r = await pool.query('SELECT rolname FROM pg_roles WHERE left(rolname, length($1)) = $1 ORDER BY rolname LIMIT $2', [prefix, limit]);
        return r.rows.map((row: { rolname: string }) => row.rolname);
      },
      end: () => pool.end(),
    };
  },
  async canLogin(c) {
    const client = new pg.Client({ host: c.host, port: c.port, database: c.dbname, user: c.username, password: c.password, ssl: tlsOptions(c), connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  },
};

type MysqlModule = typeof import('mysql2/promise');
let mysqlModule: Promise<MysqlModule> | null = null;
const loadMysql = () => (mysqlModule ??= import('mysql2/promise'));
const mysqlOptions = (c: AdminCredential) => {
  const ssl = tlsOptions(c);
  return { host: c.host, port: c.port, user: c.username, password: c.password, database: c.dbname || undefined, connectTimeout: CONNECT_TIMEOUT_MS, multipleStatements: false, ...(ssl ? { ssl } : {}) };
};
// Backslash escapes in string literals must mean what dialects.ts assumes.
const SAFE_SQL_MODE = "SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '')";

const mysql: DatabasePlugin = {
  name: 'mysql',
  dialect: mysqlDialect,
  defaults: {
    revocation: ["DROP USER IF EXISTS {{name}}@'%'"],
    renew: [],
    rollback: ["DROP USER IF EXISTS {{name}}@'%'"],
  },
  async openPool(admin, max) {
    const driver = await loadMysql();
    const pool = driver.createPool({ ...mysqlOptions(admin), connectionLimit: max, maxIdle: 1, idleTimeout: 30_000 });
    pool.pool.on('connection', (connection) => connection.query(SAFE_SQL_MODE));
    return {
      // MySQL commits DDL implicitly: a failure part-way is undone by the role's rollback statements.
      async run(statements) {
        const connection = await pool.getConnection();
        try {
          await connection.query(SAFE_SQL_MODE);
          for (const s of statements) await connection.query(s);
        } finally {
          connection.release();
        }
      },
      async userExists(username) {
        const [rows] = await pool.query('SELECT 1 FROM mysql.user WHERE user = ?', [username]);
        return (rows as unknown[]).length > 0;
      },
      // The account by name: MariaDB accepts ALTER USER CURRENT_USER() and then changes nothing.
      async rotateOwnPassword(password) {
        const [rows] = await pool.query('SELECT CURRENT_USER() AS account');
        const account = String((rows as { account: string }[])[0]!.account);
        const at = account.lastIndexOf('@');
        return `ALTER USER ${mysqlDialect.quoteLiteral(account.slice(0, at))}@${mysqlDialect.quoteLiteral(account.slice(at + 1))} IDENTIFIED BY ${mysqlDialect.passwordLiteral(password)}`;
      },
      async usersWithPrefix(prefix, limit) {
        const [rows] = await pool.query('SELECT DISTINCT user AS u FROM mysql.user WHERE LEFT(user, CHAR_LENGTH(?)) = ? ORDER BY user LIMIT ?', [prefix, prefix, limit]);
        return (rows as { u: string | Buffer }[]).map((r) => String(r.u));
      },
      end: () => pool.end(),
    };
  },
  async canLogin(c) {
    const driver = await loadMysql();
    try {
      const connection = await driver.createConnection(mysqlOptions(c));
      await connection.query('SELECT 1');
      await connection.end();
      return true;
    } catch {
      return false;
    }
  },
};

/** Names are handed to the program as they are, in JSON: nothing to quote. */
const commandDialect: Dialect = { quoteIdentifier: (v) => v, quoteLiteral: (v) => v, passwordLiteral: (v) => v, expirationLiteral: (ms) => new Date(ms).toISOString(), maxUsernameLength: 128 };
const command: DatabasePlugin = {
  name: 'command',
  dialect: commandDialect,
  defaults: { revocation: [], renew: [], rollback: [] },
  openPool: async () => { throw new AppError('internal_error', 'the command plugin opens no pool'); },
  canLogin: async () => false,
};

export function pluginOf(name: string): DatabasePlugin {
  if (name === 'postgresql') return postgresql;
  if (name === 'mysql') return mysql;
  if (name === 'command') return command;
  throw new AppError('validation_failed', `unknown plugin "${name}" (use ${PLUGINS.join(' or ')})`, { details: { field: 'plugin' } });
}

/** The admin secret's value as a credential; the plugin's port is the default. */
export function parseAdminCredential(text: string, secretName: string, plugin: PluginName): AdminCredential {
  // The command plugin hands the secret to its program as it is.
  if (plugin === 'command') return { host: '', port: 0, dbname: '', username: '', password: '', tls: { mode: 'disable' } };
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new AppError('validation_failed', `admin secret "${secretName}" is not a JSON object with host, port, dbname, username, password`);
  }
  if (typeof raw !== 'object' || raw === null || typeof raw.username !== 'string' || typeof raw.password !== 'string') {
    throw new AppError('validation_failed', `admin secret "${secretName}" needs string fields username and password`);
  }
  const dbname = raw.dbname ?? raw.database;
  const mode = raw.sslmode ?? 'disable';
  if (typeof mode !== 'string' || !(TLS_MODES as readonly string[]).includes(mode)) {
    throw new AppError('validation_failed', `admin secret "${secretName}": sslmode must be ${TLS_MODES.join(', ')}`);
  }
  if (raw.sslrootcert !== undefined && (typeof raw.sslrootcert !== 'string' || !raw.sslrootcert.includes('-----BEGIN CERTIFICATE-----'))) {
    throw new AppError('validation_failed', `admin secret "${secretName}": sslrootcert must be PEM certificate text`);
  }
  return {
    tls: { mode: mode as TlsMode, ...(typeof raw.sslrootcert === 'string' ? { ca: raw.sslrootcert } : {}) },
    host: typeof raw.host === 'string' ? raw.host : '127.0.0.1',
    port: Number(raw.port ?? (plugin === 'mysql' ? 3306 : 5432)),
    dbname: typeof dbname === 'string' ? dbname : plugin === 'mysql' ? '' : 'postgres',
    username: raw.username, password: raw.password,
  };
}

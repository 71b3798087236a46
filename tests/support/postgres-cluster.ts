/**
 * Test harness: a real, throwaway PostgreSQL cluster for integration tests.
 *
 * `startPostgresCluster()` runs `initdb` into a fresh temp directory, starts the server on
 * 127.0.0.1 with a random free port and password (SCRAM) authentication only, and returns
 * helpers to create per-test databases. `stop()` kills the server and deletes the directory;
 * if a test process exits without calling it, an 'exit' handler does the same.
 *
 * As root (CI), the PostgreSQL binaries run as the `postgres` OS user via `runuser`, because
 * `initdb` and `postgres` refuse to run as root.
 *
 * Connecting: URLs carry no password. Don't pass `new pg.Client({ connectionString: url, password })`:
 * pg lets the URL's empty password override the `password` option and SCRAM auth then fails with
 * "client password must be a string". Pass host/port/user/database/password as separate fields.
 * Close your clients/pools before `stop()`: the server is killed with `-m immediate`, and an idle
 * pg.Pool with no 'error' listener crashes the process when its connections drop.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const execFileAsync = promisify(execFile);

export interface PostgresCluster {
  host: string;
  port: number;
  superuser: string;
  superPassword: string;
  /** Create a fresh database (and a login role with scram password that owns it); returns connection info. The URL has NO password in it. */
  createDatabase(name?: string): Promise<{ url: string; database: string; user: string; password: string }>;
  /** URL without password for the superuser, e.g. postgres://postgres@127.0.0.1:PORT/postgres */
  superuserUrl(database?: string): string;
  /**
   * Stops the server (`fast`: sessions get "terminating connection due to administrator
   * command"; `immediate`: killed like a crash) and starts it again on the same port and data.
   * `whileDown` runs between the two, while nothing listens.
   */
  restart(mode: 'fast' | 'immediate', whileDown?: () => Promise<void>): Promise<void>;
  stop(): Promise<void>;
  /** Shuts the server down (fast: sessions ended, data kept), as an outage would; `resume()` starts it again on the same port. */
  pause(): Promise<void>;
  resume(): Promise<void>;
}

const HOST = '127.0.0.1';
const SUPERUSER = 'postgres';
const PG_ROOT = '/usr/lib/postgresql';
const START_ATTEMPTS = 4;

/** Highest installed major version's bin directory, e.g. /usr/lib/postgresql/15/bin. */
function findPgBinDir(): string {
  const versions = existsSync(PG_ROOT)
    ? readdirSync(PG_ROOT)
        .filter((v) => /^\d+(\.\d+)?$/.test(v) && existsSync(path.join(PG_ROOT, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const newest = versions[0];
  if (newest === undefined) {
    throw new Error(`no PostgreSQL server found under ${PG_ROOT}/<version>/bin (install the "postgresql" package)`);
  }
  return path.join(PG_ROOT, newest, 'bin');
}

const runningAsRoot = process.getuid?.() === 0;

/** [file, args] that run `bin/<tool> args` as the postgres OS user when we are root, directly otherwise. */
function command(binDir: string, tool: string, args: string[]): [string, string[]] {
  const exe = path.join(binDir, tool);
  return runningAsRoot ? ['runuser', ['-u', SUPERUSER, '--', exe, ...args]] : [exe, args];
}

/** Environment for the PostgreSQL tools: ours minus PG* variables (PGDATA, PGPORT, ... would interfere). */
function toolEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('PG')) env[key] = value;
  env.LC_ALL = 'C';
  return env;
}

async function run(binDir: string, cwd: string, tool: string, args: string[], timeoutMs = 120_000): Promise<void> {
  const [file, argv] = command(binDir, tool, args);
  try {
    await execFileAsync(file, argv, { cwd, env: toolEnv(), timeout: timeoutMs });
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    const detail = (e.stderr || e.stdout || '').trim();
    throw new Error(`${tool} failed: ${e.message}${detail ? `\n${detail}` : ''}`, { cause: err });
  }
}

/** A port that was free a moment ago (the OS picks it; we release it for postgres to bind). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not determine a free port'));
      });
    });
  });
}

/** pg_ctl passes -o through /bin/sh, so every option is single-quoted. */
function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function randomPassword(): string {
  return randomBytes(24).toString('base64url');
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no server log)';
  }
}

// One 'exit' handler for all clusters of this process: stops any cluster whose stop() was never called.
const liveClusters = new Set<() => void>();
let exitHandlerInstalled = false;

function stopAllSync(): void {
  for (const stopSync of [...liveClusters]) stopSync();
}

function installExitHandlers(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.on('exit', stopAllSync);
  // A signal (e.g. the test runner's SIGTERM on timeout) skips 'exit' handlers. When nobody else handles
  // the signal, clean up and re-raise it so the process still dies the way it would have.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      if (process.listenerCount(signal) > 1) return; // someone else decides; 'exit' will clean up
      stopAllSync();
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

const NAME_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Starts a fresh PostgreSQL cluster; call `stop()` when done (an exit handler covers forgotten ones).
 * Tests run it without fsync for speed; `durable` keeps PostgreSQL's own defaults (fsync,
 * synchronous_commit, full_page_writes on), for benchmarks of what a commit costs in production.
 */
export async function startPostgresCluster(options: { durable?: boolean } = {}): Promise<PostgresCluster> {
  const binDir = findPgBinDir();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'custos-pg-'));
  const dataDir = path.join(dir, 'data');
  const logFile = path.join(dir, 'postgres.log');
  const pwFile = path.join(dir, 'pwfile');
  const superPassword = randomPassword();

  let port = 0;
  let serverOptions = '';
  let started = false;
  let stopping: Promise<void> | undefined;

  const stopSync = (): void => {
    liveClusters.delete(stopSync);
    if (started) {
      try {
        const [file, argv] = command(binDir, 'pg_ctl', ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '30']);
        execFileSync(file, argv, { cwd: os.tmpdir(), env: toolEnv(), stdio: 'ignore', timeout: 35_000 });
      } catch {
        // already stopped, or nothing more we can do while exiting
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  installExitHandlers();
  liveClusters.add(stopSync);

  try {
    if (runningAsRoot) {
      const uid = Number(execFileSync('id', ['-u', SUPERUSER], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', SUPERUSER], { encoding: 'utf8' }).trim());
      chownSync(dir, uid, gid);
      writeFileSync(pwFile, `${superPassword}\n`, { mode: 0o600 });
      chownSync(pwFile, uid, gid);
    } else {
      writeFileSync(pwFile, `${superPassword}\n`, { mode: 0o600 });
    }

    await run(binDir, dir, 'initdb', [
      '-D', dataDir,
      '--username', SUPERUSER,
      '--pwfile', pwFile,
      '--auth=scram-sha-256', // both local and host: password required everywhere, never trust
      '--encoding', 'UTF8',
      '--locale', 'C',
      '--no-sync',
    ]);
    rmSync(pwFile, { force: true });

    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      serverOptions = [
        '-c', `listen_addresses=${HOST}`,
        '-c', `port=${port}`,
        '-c', `unix_socket_directories=${dir}`,
        ...(options.durable ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']),
        '-c', 'max_connections=200',
      ].map(shellQuote).join(' ');
      started = true; // from here on a server may be running, so stopSync must try pg_ctl stop
      try {
        await run(binDir, dir, 'pg_ctl', ['start', '-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', serverOptions], 90_000);
        break;
      } catch (err) {
        // Most likely someone grabbed the port between freePort() and the bind; make sure no
        // half-started server is left, then try another port.
        await run(binDir, dir, 'pg_ctl', ['stop', '-D', dataDir, '-m', 'immediate', '-w'], 30_000).catch(() => {});
        if (attempt >= START_ATTEMPTS) {
          throw new Error(`PostgreSQL did not start after ${attempt} attempts; server log:\n${tail(logFile)}`, {
            cause: err,
          });
        }
      }
    }
  } catch (err) {
    stopSync();
    throw err;
  }

  const superuserUrl = (database = 'postgres'): string =>
    `postgres://${SUPERUSER}@${HOST}:${port}/${encodeURIComponent(database)}`;

  return {
    host: HOST,
    port,
    superuser: SUPERUSER,
    superPassword,
    superuserUrl,

    async createDatabase(name?: string) {
      const database = name ?? `custos_test_${randomBytes(6).toString('hex')}`;
      if (!NAME_PATTERN.test(database)) {
        throw new Error(`invalid database name ${JSON.stringify(database)} (use lower-case letters, digits, _)`);
      }
      const user = database; // roles and databases are separate namespaces
      const password = randomPassword();
      // Discrete fields, not { connectionString, password }: pg lets the URL's (empty) password
      // override an explicit `password` option, so that combination fails SCRAM auth.
      const client = new pg.Client({ host: HOST, port, user: SUPERUSER, database: 'postgres', password: superPassword });
      await client.connect();
      try {
        await client.query(`CREATE ROLE ${client.escapeIdentifier(user)} LOGIN PASSWORD ${client.escapeLiteral(password)}`);
        await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)} OWNER ${client.escapeIdentifier(user)}`);
      } finally {
        await client.end();
      }
      return { url: `postgres://${user}@${HOST}:${port}/${database}`, database, user, password };
    },

    async pause() {
      await run(binDir, os.tmpdir(), 'pg_ctl', ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '30'], 35_000);
    },

    async resume() {
      await run(binDir, dir, 'pg_ctl', ['start', '-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', serverOptions], 90_000);
    },

    async restart(mode, whileDown) {
      await run(binDir, os.tmpdir(), 'pg_ctl', ['stop', '-D', dataDir, '-m', mode, '-w', '-t', '60'], 65_000);
      await whileDown?.();
      await run(binDir, dir, 'pg_ctl', ['start', '-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', serverOptions], 90_000);
    },

    stop() {
      stopping ??= (async () => {
        liveClusters.delete(stopSync);
        try {
          await run(binDir, os.tmpdir(), 'pg_ctl', ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '30'], 35_000);
        } catch (err) {
          // A server that is already gone (crashed, killed) is fine; one still running is not.
          if (existsSync(path.join(dataDir, 'postmaster.pid'))) throw err;
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      })();
      return stopping;
    },
  };
}

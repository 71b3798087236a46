import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Test harness: runs the real `custos` server and CLI as child processes (so tests can
 * kill -9 them, read their output and inspect their files).
 */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const cliPath = path.join(repoRoot, 'dist/src/cli/main.js');

export interface ServerOptions {
  /** Default true: `--dev` initializes and unseals itself. */
  dev?: boolean;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Reuse a data dir / HOME (e.g. to restart after a crash); fresh temp dirs otherwise. */
  dataDir?: string;
  home?: string;
  /** Fixed port (restarts keep the address); 0 picks a free one. */
  port?: number;
  logLevel?: string;
  /** The CLI to run (default: this checkout's build); bench/ab.ts starts other revisions' builds. */
  cli?: string;
}

export interface RunningServer {
  address: string;
  port: number;
  /** Root token printed on first dev start ('' on later starts: read it from home/.custos/token). */
  token: string;
  home: string;
  dataDir: string;
  process: ChildProcess;
  /** Everything the server wrote to stdout and stderr so far (logs included). */
  output(): string;
  /** SIGKILL: no drain, no flush. */
  kill(): Promise<void>;
  /** SIGTERM and wait for exit (graceful shutdown). */
  stop(): Promise<number | null>;
  /** Removes the temp dirs this harness created. */
  cleanup(): void;
}

export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const base = options.dataDir && options.home ? undefined : mkdtempSync(path.join(os.tmpdir(), 'custos-test-'));
  const dataDir = options.dataDir ?? path.join(base!, 'data');
  const home = options.home ?? path.join(base!, 'home');
  mkdirSync(home, { recursive: true });
  const args = [options.cli ?? cliPath, 'server', ...(options.dev === false ? [] : ['--dev']), '--port', String(options.port ?? 0), '--data-dir', dataDir, '--log-level', options.logLevel ?? 'info', ...(options.args ?? [])];
  const child = spawn(process.execPath, args, { env: { ...process.env, HOME: home, CUSTOS_TOKEN: '', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  // Generous: a loaded 2-core machine compiling or running eight suites can take many seconds.
  const startTimeoutMs = Number(process.env.CUSTOS_TEST_START_TIMEOUT_MS ?? 60_000);
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      // A server that never said it listens must not outlive the test: an orphan keeps the
      // runner's event loop (and the whole suite) alive.
      child.kill('SIGKILL');
      reject(new Error(`server did not start in ${startTimeoutMs / 1000} s:\n${out}`));
    }, startTimeoutMs);
    const check = () => {
      const match = /Custos listening on (\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${out}`));
    });
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    address,
    port: Number(new URL(address).port),
    token: /Root token: (\S+)/.exec(out)?.[1] ?? '',
    home,
    dataDir,
    process: child,
    output: () => out,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    cleanup() {
      if (base) rmSync(base, { recursive: true, force: true });
    },
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The executable npm links as `custos` (a shell launcher that starts dist/src/cli/bin.js). */
export const launcherPath = path.join(repoRoot, 'bin/custos');

/**
 * Runs the CLI against a server with its address and HOME (where the dev token is saved):
 * main.js under this Node by default, or with `launcher` the `custos` executable users run.
 * An env value of undefined removes that variable.
 */
export function runCli(args: string[], options: { server?: Pick<RunningServer, 'address' | 'home'>; env?: NodeJS.ProcessEnv; input?: string; cwd?: string; launcher?: boolean } = {}): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, CUSTOS_TOKEN: '', ...(options.server ? { CUSTOS_ADDR: options.server.address, HOME: options.server.home } : {}), ...options.env };
  const child = options.launcher
    ? spawn(launcherPath, args, { env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn(process.execPath, [cliPath, ...args], { env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(options.input ?? '');
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** Minimal JSON client for tests: returns status, parsed body and headers. */
export async function api(server: Pick<RunningServer, 'address'>, method: string, urlPath: string, options: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined || options.rawBody !== undefined) headers['content-type'] ??= 'application/json';
  const response = await fetch(server.address + urlPath, { method, headers, body: options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body)) });
  const text = await response.text();
  let body: any;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  return { status: response.status, body, headers: response.headers };
}

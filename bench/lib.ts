import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Shared helpers for benchmark suites: start a real server process, run a load generator process. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const cliPath = path.join(repoRoot, 'dist/src/cli/main.js');

export interface BenchRow {
  suite: string;
  case: string;
  /** Free-form measured columns, e.g. { 'req/s': 15000, 'p50 ms': 1.2, 'p99 ms': 7.9 }. */
  metrics: Record<string, number | string>;
}

export interface BenchSuite {
  name: string;
  run(): Promise<BenchRow[]>;
}

export interface DevServer {
  address: string;
  port: number;
  token: string;
  home: string;
  dataDir: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `custos server --dev` in its own process on a free port, in a temp data dir and HOME. */
export async function startDevServer(extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<DevServer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'custos-bench-'));
  const home = path.join(dir, 'home');
  const dataDir = path.join(dir, 'data');
  const child = spawn(process.execPath, [cliPath, 'server', '--dev', '--port', '0', '--data-dir', dataDir, '--log-level', 'warn', ...extraArgs], {
    env: { ...process.env, HOME: home, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const ready = await new Promise<{ address: string; token: string }>((resolve, reject) => {
    let token = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 20_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      token ||= /Root token: (\S+)/.exec(out)?.[1] ?? '';
      const address = /Custos listening on (\S+)/.exec(out)?.[1];
      if (address) {
        clearTimeout(timer);
        resolve({ address, token });
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
  });
  return {
    ...ready,
    port: Number(new URL(ready.address).port),
    home,
    dataDir,
    process: child,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface LoadResult {
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

/**
 * Runs autocannon in a separate process (so the load generator does not share the server's
 * event loop) and returns its summary.
 */
export async function runLoad(options: { url: string; connections: number; durationSec: number; headers?: Record<string, string>; method?: string; body?: string }): Promise<LoadResult> {
  const script = `
    const autocannon = require('autocannon');
    const opts = JSON.parse(process.argv[1]);
    autocannon({ url: opts.url, connections: opts.connections, duration: opts.durationSec, headers: opts.headers, method: opts.method || 'GET', body: opts.body, pipelining: 1 }, (err, r) => {
      if (err) { console.error(err); process.exit(1); }
      process.stdout.write(JSON.stringify({ requests: r.requests.total, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx }));
    });`;
  const child = spawn(process.execPath, ['-e', script, JSON.stringify(options)], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  if (code !== 0) throw new Error(`load generator failed (${code})`);
  return JSON.parse(out) as LoadResult;
}

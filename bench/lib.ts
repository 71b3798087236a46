import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { startServer } from '../tests/support/custos-server.js';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Shared helpers for benchmark suites: start a real server process, run a load generator process. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

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

/** Benchmarks start the server the same way the tests do: a real process on a free port. */
export async function startDevServer(extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}, cli?: string) {
  const server = await startServer({ args: extraArgs, env, logLevel: 'warn', cli });
  return { ...server, async stop() { await server.stop(); server.cleanup(); } };
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

/** One suite's rows as a Markdown table on stdout (the form the README's tables are copied from). */
export function printTable(title: string, result: BenchRow[]): void {
  const columns = [...new Set(result.flatMap((r) => Object.keys(r.metrics)))];
  const header = ['case', ...columns];
  const lines = result.map((r) => [r.case, ...columns.map((c) => String(r.metrics[c] ?? ''))]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  process.stdout.write(`\n### ${title}\n\n${fmt(header)}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n${lines.map(fmt).join('\n')}\n`);
}

/** Saves a run as bench/results/<prefix>-<time>.json with the machine it ran on; returns the path from the repo root. */
export function saveResults(prefix: string, data: Record<string, unknown>): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = path.join(repoRoot, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${prefix}-${stamp}.json`);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version }, ...data }, null, 2));
  return path.relative(repoRoot, file);
}

/** A command-line option that must be a positive integer, or an error that ends with the tool's usage line. */
export function positiveOption(name: string, text: string | undefined, usage: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer\n${usage}`);
  return n;
}

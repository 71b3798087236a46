import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { compileAuditQuery, type AuditQuery } from '../src/storage/audit-store.js';
import { pgConnectionFields } from '../src/storage/database.js';
import type { Database } from '../src/storage/schema.js';
import { cliPath } from '../tests/support/custos-server.js';
import { repoRoot, type LoadResult } from './lib.js';

/** Measurements the big-data suite takes against a running server on a seeded store. */

/**
 * Reads of many different secrets (each connection walks `names` in order), so the read path
 * looks rows up all over the secrets table instead of one hot row. A 60 s request timeout (not
 * autocannon's 10 s): a slow answer is counted in the latencies and the max, not dropped as an error.
 */
export async function readManyLoad(address: string, token: string, names: string[], connections: number, durationSec: number): Promise<LoadResult & { max: number }> {
  const script = `
    const autocannon = require('autocannon');
    const opts = JSON.parse(require('fs').readFileSync(0, 'utf8'));
    const errors = new Set();
    const instance = autocannon({ url: opts.address, connections: opts.connections, duration: opts.durationSec, headers: { authorization: 'Bearer ' + opts.token }, requests: opts.paths.map((path) => ({ method: 'GET', path })), pipelining: 1, timeout: 60 }, (err, r) => {
      if (err) { console.error(err); process.exit(1); }
      process.stdout.write(JSON.stringify({ requests: r.requests.total, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, max: r.latency.max, errors: r.errors + r.timeouts, non2xx: r.non2xx, errorKinds: [...errors] }));
    });
    instance.on('reqError', (e) => errors.add(e.message));`;
  const child = spawn(process.execPath, ['-e', script], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'inherit'] });
  child.stdin!.end(JSON.stringify({ address, token, connections, durationSec, paths: names.map((n) => `/v1/values/${n}`) }));
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  if (code !== 0) throw new Error(`load generator failed (${code})`);
  const result = JSON.parse(out) as LoadResult & { max: number; errorKinds: string[] };
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`reads had ${result.non2xx} non-2xx answers and ${result.errors} errors (${result.errorKinds.join(', ')})`);
  return result;
}

/** Median wall time of `runs` calls (after one warm-up) and the last call's result. */
export async function timed<T>(runs: number, fn: () => Promise<T>): Promise<{ ms: number; result: T }> {
  let result = await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    result = await fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return { ms: Number(times[Math.floor(times.length / 2)]!.toFixed(1)), result };
}

export async function getJson<T>(address: string, token: string, path: string): Promise<T> {
  const response = await fetch(`${address}${path}`, { headers: { authorization: `Bearer ${token}` } });
  if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

/** `custos audit query ...` as a user runs it (a CLI process: includes Node's start-up). */
export async function cliAuditQuery(address: string, token: string, args: string[]): Promise<number> {
  const child = spawn(process.execPath, [cliPath, 'audit', 'query', '--json', ...args], { env: { ...process.env, CUSTOS_ADDR: address, CUSTOS_TOKEN: token }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  if (code !== 0) throw new Error(`custos audit query failed (${code})`);
  return (JSON.parse(out) as unknown[]).length;
}

/** The plan each engine picks for the audit store's own query, within the seq range its seeks found (EXPLAIN QUERY PLAN / EXPLAIN), flattened to one line. */
export async function explainAuditQuery(url: string, password: string | undefined, query: AuditQuery): Promise<string> {
  if (url.startsWith('sqlite:')) {
    const sqlite = new SqliteDatabase(url.slice('sqlite:'.length), { readonly: true });
    try {
      const compiled = await compileAuditQuery(new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) }), 'sqlite', query);
      if (!compiled) return 'no event can match (not run)';
      const rows = sqlite.prepare(`explain query plan ${compiled.sql}`).all(...(compiled.parameters as unknown[])) as { detail: string }[];
      return rows.map((r) => r.detail).join('; ');
    } finally {
      sqlite.close();
    }
  }
  const pool = new pg.Pool({ ...pgConnectionFields(url, password), max: 1 });
  try {
    const compiled = await compileAuditQuery(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), 'postgres', query);
    if (!compiled) return 'no event can match (not run)';
    const result = await pool.query(`explain ${compiled.sql}`, compiled.parameters as unknown[]);
    return result.rows.map((r: Record<string, string>) => r['QUERY PLAN']!.trim()).filter((l) => /Scan|Index/.test(l)).join('; ');
  } finally {
    await pool.end();
  }
}

/** Waits (bounded) until the process has used under 5 % of a core for 3 s: start-up work such as the background chain walk is done. */
export async function waitForIdle(pid: number, maxMs: number): Promise<number> {
  const ticks = () => {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(fields[11]) + Number(fields[12]);
  };
  const start = Date.now();
  let quiet = 0;
  let last = ticks();
  while (Date.now() - start < maxMs) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = ticks();
    quiet = now - last < 5 ? quiet + 1 : 0;
    last = now;
    if (quiet >= 3) return Date.now() - start;
  }
  throw new Error(`the server was still busy after ${maxMs / 1000} s`);
}

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { pgConnectionFields } from '../../src/storage/database.js';
import { startPostgresCluster, type PostgresCluster } from '../../tests/support/postgres-cluster.js';
import { startServer, type RunningServer } from '../../tests/support/custos-server.js';
import { cliAuditQuery, explainAuditQuery, getJson, readManyLoad, timed, waitForIdle } from '../big-data-measure.js';
import { prng } from '../big-data-events.js';
import { seedBigData, seededName, sqliteBytes, type SeedResult } from '../big-data-seed.js';
import type { BenchRow, BenchSuite } from '../lib.js';

/**
 * 1M secrets and a very large audit log against 1,000 secrets: read p50/p99 at 64 connections
 * over many different secrets, audit queries (one secret over a year; a principal and an
 * outcome over a month) with the plan each engine picks, and prefix listing (first page and a
 * later page by cursor). Scale from BIG_DATA_SECRETS (default 1,000,000), BIG_DATA_EVENTS
 * (default 100,000,000) and BIG_DATA_ENGINES (default "sqlite,postgres"). Stores live in a temp
 * dir (BIG_DATA_DIR or the OS temp dir), removed at the end.
 */
const SECRETS = Number(process.env.BIG_DATA_SECRETS ?? 1_000_000);
const EVENTS = Number(process.env.BIG_DATA_EVENTS ?? 100_000_000);
const ENGINES = (process.env.BIG_DATA_ENGINES ?? 'sqlite,postgres').split(',');
const KEEP = process.env.BIG_DATA_KEEP === '1';
const BASELINE_SECRETS = 1000;
const BASELINE_EVENTS = 10_000;
const CONNECTIONS = 64;
const READ_SECONDS = 10;
const READ_ROUNDS = 3;
const DAY = 86_400_000;

interface Store { url: string; password?: string; unsealKey: string; rootToken: string }
type Row = Record<string, number | string>;

/** A new initialized store (threshold 1) through a real server's /v1/sys/init, then stopped. */
async function initializeStore(url: string, password: string | undefined): Promise<Store> {
  const env = password ? { CUSTOS_STORAGE_PASSWORD: password } : {};
  const server = await startServer({ dev: false, args: ['--storage', url], env, logLevel: 'warn' });
  try {
    const post = (p: string, body: unknown) => fetch(`${server.address}${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const init = (await (await post('/v1/sys/init', { shares: 1, threshold: 1 })).json()) as { root_token: string; keys: string[] };
    const unsealed = await post('/v1/sys/unseal', { key: init.keys[0] });
    if (!unsealed.ok) throw new Error(`unseal failed: ${unsealed.status}`);
    return { url, password, unsealKey: init.keys[0]!, rootToken: init.root_token };
  } finally {
    await server.stop();
    server.cleanup();
  }
}

async function startOn(store: Store): Promise<RunningServer> {
  return startServer({ dev: false, args: ['--storage', store.url], env: { CUSTOS_UNSEAL_KEY: store.unsealKey, ...(store.password ? { CUSTOS_STORAGE_PASSWORD: store.password } : {}) }, logLevel: 'warn' });
}

/** Disk the audit table takes on PostgreSQL (heap, indexes, TOAST). */
async function pgAuditBytes(store: Store): Promise<number> {
  const client = new pg.Client(pgConnectionFields(store.url, store.password));
  await client.connect();
  try {
    const r = await client.query(`select coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint as bytes from pg_class c where c.relname = 'audit_events' or c.oid in (select inhrelid from pg_inherits where inhparent = 'audit_events'::regclass)`);
    return Number(r.rows[0].bytes);
  } finally {
    await client.end();
  }
}

/** A sample of seeded names, the same for both stores' read runs. */
function sampleNames(total: number, count: number): string[] {
  const random = prng(64);
  return Array.from({ length: count }, () => seededName(Math.floor(random() * total), total));
}

/** Starts a server on the store, waits until start-up work is done, and reads every sampled secret once. */
async function readyServer(store: Store, names: string[], label: string): Promise<RunningServer> {
  const server = await startOn(store);
  const settleMs = await waitForIdle(server.process.pid!, 30 * 60_000);
  process.stderr.write(`[big-data] ${label}: server settled in ${(settleMs / 1000).toFixed(0)} s\n`);
  // Each secret's first read of the day records its access day (a write): done here, before measuring.
  for (const name of new Set(names)) await getJson(server.address, store.rootToken, `/v1/values/${name}`);
  await readManyLoad(server.address, store.rootToken, names, 16, 3);
  return server;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Both stores served at once, loaded in turn (small, large, small, large, ...): on a machine
 * shared with other work, alternating runs see the same background load, one after the other
 * would not. Medians of READ_ROUNDS runs each, with the 1-minute load average before each run.
 */
async function measureReads(small: Store, smallSecrets: number, large: Store, largeSecrets: number, labels: [string, string], thenOnLarge: (server: RunningServer) => Promise<BenchRow[]>): Promise<{ reads: Row[]; more: BenchRow[] }> {
  const servers: RunningServer[] = [];
  try {
    const targets = [{ store: small, names: sampleNames(smallSecrets, 1000) }, { store: large, names: sampleNames(largeSecrets, 1000) }];
    for (const [n, t] of targets.entries()) servers.push(await readyServer(t.store, t.names, labels[n]!));
    const runs: { rps: number; p50: number; p99: number; max: number; load: number }[][] = [[], []];
    for (let round = 0; round < READ_ROUNDS; round++) {
      for (const [n, t] of targets.entries()) {
        const load = os.loadavg()[0]!;
        const r = await readManyLoad(servers[n]!.address, t.store.rootToken, t.names, CONNECTIONS, READ_SECONDS);
        runs[n]!.push({ rps: r.rps, p50: r.p50, p99: r.p99, max: r.max, load });
      }
    }
    // The large store's server goes on to the audit queries: a second start would walk the whole chain again in the background.
    const more = await thenOnLarge(servers[1]!);
    const reads = runs.map((rs, n) => ({
      store: labels[n]!, 'req/s': Math.round(median(rs.map((r) => r.rps))), 'p50 ms': median(rs.map((r) => r.p50)), 'p99 ms': median(rs.map((r) => r.p99)), 'max ms': Math.max(...rs.map((r) => r.max)),
      'runs p99 ms': rs.map((r) => r.p99).join(', '), 'load avg': rs.map((r) => r.load.toFixed(1)).join(', '),
    }));
    return { reads, more };
  } finally {
    for (const server of servers) {
      await server.stop();
      server.cleanup();
    }
  }
}

async function measureQueries(server: RunningServer, store: Store, seed: SeedResult, engine: string): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  {
    const { address } = server;
    const token = store.rootToken;
    const secret = seed.auditedSecrets[Math.floor(seed.auditedSecrets.length / 2)]!;
    const accessor = seed.accessors[7]!;
    const yearFrom = seed.lastEventTime - 365 * DAY;
    const monthFrom = seed.lastEventTime - 60 * DAY;
    const monthTo = monthFrom + 30 * DAY;
    const iso = (t: number) => new Date(t).toISOString();
    const cases: { name: string; query: Parameters<typeof explainAuditQuery>[2]; params: Record<string, string> }[] = [
      { name: 'one secret, one year, oldest first', query: { secretName: secret, since: yearFrom, until: seed.lastEventTime, limit: 100 }, params: { secret, since: iso(yearFrom), until: iso(seed.lastEventTime), limit: '100' } },
      { name: 'one secret, one year, newest first', query: { secretName: secret, since: yearFrom, until: seed.lastEventTime, limit: 100, newestFirst: true }, params: { secret, since: iso(yearFrom), until: iso(seed.lastEventTime), limit: '100', order: 'desc' } },
      { name: 'one secret, one year, 1,000 events', query: { secretName: secret, since: yearFrom, until: seed.lastEventTime, limit: 1000 }, params: { secret, since: iso(yearFrom), until: iso(seed.lastEventTime), limit: '1000' } },
      { name: 'one principal, one month', query: { accessor, since: monthFrom, until: monthTo, limit: 100 }, params: { principal: accessor, since: iso(monthFrom), until: iso(monthTo), limit: '100' } },
      { name: 'outcome denied, one month', query: { outcome: 'denied', since: monthFrom, until: monthTo, limit: 100 }, params: { outcome: 'denied', since: iso(monthFrom), until: iso(monthTo), limit: '100' } },
      { name: 'no filter but since, last 7 days, oldest first', query: { since: seed.lastEventTime - 7 * DAY, limit: 100 }, params: { since: iso(seed.lastEventTime - 7 * DAY), limit: '100' } },
      { name: 'outcome failure, one principal, one year', query: { outcome: 'failure', accessor, since: yearFrom, limit: 100 }, params: { outcome: 'failure', principal: accessor, since: iso(yearFrom), limit: '100' } },
    ];
    for (const c of cases) {
      const qs = new URLSearchParams(c.params).toString();
      const { ms, result } = await timed(5, () => getJson<{ events: { time: string }[] }>(address, token, `/v1/audit/events?${qs}`));
      const plan = await explainAuditQuery(store.url, store.password, c.query);
      rows.push({ suite: 'big-data', case: `${engine}: audit ${c.name}`, metrics: { 'ms (median of 5)': ms, events: result.events.length, plan } });
    }
    const cliStart = performance.now();
    const cliEvents = await cliAuditQuery(address, token, ['--secret', secret, '--since', iso(yearFrom), '--until', iso(seed.lastEventTime)]);
    rows.push({ suite: 'big-data', case: `${engine}: \`custos audit query --secret --since --until\` (one year, CLI process)`, metrics: { 'ms (median of 5)': Number((performance.now() - cliStart).toFixed(1)), events: cliEvents } });

    const prefix = seededName(7 * 3, seed.secrets).split('/').slice(0, 2).join('/') + '/';
    const first = await timed(5, () => getJson<{ secrets: unknown[]; next_cursor: string | null }>(address, token, `/v1/secrets?prefix=${encodeURIComponent(prefix)}&limit=50`));
    rows.push({ suite: 'big-data', case: `${engine}: list ${prefix} first page`, metrics: { 'ms (median of 5)': first.ms, secrets: first.result.secrets.length } });
    if (first.result.next_cursor) {
      const second = await getJson<{ next_cursor: string | null }>(address, token, `/v1/secrets?prefix=${encodeURIComponent(prefix)}&limit=50&cursor=${encodeURIComponent(first.result.next_cursor)}`);
      const cursor = second.next_cursor ?? first.result.next_cursor;
      const later = await timed(5, () => getJson<{ secrets: unknown[] }>(address, token, `/v1/secrets?prefix=${encodeURIComponent(prefix)}&limit=50&cursor=${encodeURIComponent(cursor)}`));
      rows.push({ suite: 'big-data', case: `${engine}: list ${prefix} third page (cursor)`, metrics: { 'ms (median of 5)': later.ms, secrets: later.result.secrets.length } });
    }
  }
  return rows;
}

async function runEngine(engine: string, dir: string, cluster: PostgresCluster | undefined): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const newStore = async (name: string) => {
    if (engine === 'sqlite') return initializeStore(`sqlite:${path.join(dir, name, 'custos.db')}`, undefined);
    const db = await cluster!.createDatabase();
    return initializeStore(db.url, db.password);
  };
  const log = (line: string) => process.stderr.write(`[big-data ${engine}] ${line}\n`);
  // BIG_DATA_KEEP=1 keeps SQLite stores (and what was seeded) in the dir; a later run with the same BIG_DATA_DIR measures them again without seeding.
  const saved = path.join(dir, 'stores.json');
  let baseline: Store, big: Store, seed: SeedResult;
  if (engine === 'sqlite' && existsSync(saved)) {
    ({ baseline, big, seed } = JSON.parse(readFileSync(saved, 'utf8')) as { baseline: Store; big: Store; seed: SeedResult });
  } else {
    baseline = await newStore('baseline');
    await seedBigData({ ...baseline, secrets: BASELINE_SECRETS, events: BASELINE_EVENTS, log });
    big = await newStore('big');
    const measureBytes = async () => (engine === 'sqlite' ? sqliteBytes(big.url.slice('sqlite:'.length)) : pgAuditBytes(big));
    seed = await seedBigData({ ...big, secrets: SECRETS, events: EVENTS, log, measureBytes });
    if (engine === 'sqlite' && KEEP) writeFileSync(saved, JSON.stringify({ baseline, big, seed }));
  }
  rows.push({ suite: 'big-data', case: `${engine}: seed ${SECRETS.toLocaleString('en')} secrets (${seed.versions.toLocaleString('en')} versions)`, metrics: { seconds: seed.secretsSeconds.toFixed(0), 'per s': Math.round(seed.secrets / seed.secretsSeconds) } });
  if (seed.indexSeconds !== undefined) rows.push({ suite: 'big-data', case: `${engine}: build the scan index over ${SECRETS.toLocaleString('en')} secrets`, metrics: { seconds: seed.indexSeconds.toFixed(0), 'per s': Math.round(seed.secrets / seed.indexSeconds) } });
  rows.push({ suite: 'big-data', case: `${engine}: seed ${EVENTS.toLocaleString('en')} audit events`, metrics: {
    seconds: seed.eventsSeconds.toFixed(0), 'per s': Math.round(seed.events / seed.eventsSeconds),
    'disk MB per 1M events': ((seed.eventBytes! / seed.events) * 1e6 / 1e6).toFixed(0), 'events GB': (seed.eventBytes! / 1e9).toFixed(2),
  } });

  const { reads: [small, large], more } = await measureReads(baseline, BASELINE_SECRETS, big, SECRETS, [`${BASELINE_SECRETS.toLocaleString('en')} secrets`, `${SECRETS.toLocaleString('en')} secrets + ${EVENTS.toLocaleString('en')} events`], (server) => measureQueries(server, big, seed, engine));
  for (const r of [small!, large!]) rows.push({ suite: 'big-data', case: `${engine}: reads of 1,000 different secrets, ${CONNECTIONS} conn, ${r.store}`, metrics: r });
  rows.push({ suite: 'big-data', case: `${engine}: read p99 ratio (large / small; target ≤ 1.2)`, metrics: { ratio: (Number(large!['p99 ms']) / Number(small!['p99 ms'])).toFixed(2), 'p50 ratio': (Number(large!['p50 ms']) / Number(small!['p50 ms'])).toFixed(2) } });
  rows.push(...more);
  return rows;
}

export const bigDataSuite: BenchSuite = {
  name: 'big-data',
  async run(): Promise<BenchRow[]> {
    const rows: BenchRow[] = [];
    const dir = KEEP && process.env.BIG_DATA_DIR ? process.env.BIG_DATA_DIR : mkdtempSync(path.join(process.env.BIG_DATA_DIR ?? os.tmpdir(), 'custos-big-data-'));
    try {
      for (const engine of ENGINES) {
        if (engine === 'postgres') {
          const cluster = await startPostgresCluster();
          try {
            rows.push(...(await runEngine(engine, dir, cluster)));
          } finally {
            await cluster.stop();
          }
        } else {
          rows.push(...(await runEngine(engine, dir, undefined)));
        }
      }
    } finally {
      if (!KEEP) rmSync(dir, { recursive: true, force: true });
    }
    return rows;
  },
};

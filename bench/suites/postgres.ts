import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { startPostgresCluster } from '../../tests/support/postgres-cluster.js';
import { startServer, type RunningServer } from '../../tests/support/custos-server.js';
import { repoRoot, runLoad, startDevServer, type BenchRow, type BenchSuite } from '../lib.js';
import { mainThreadTicks, TICK_US } from '../read-load.js';

/**
 * Reads/s and p99 for one node and for two nodes behind a round-robin TCP proxy, both
 * on PostgreSQL, next to the same read on SQLite. Every server, the proxy, PostgreSQL and the
 * load generator (autocannon) are separate processes on this machine. "1 node via proxy" shows
 * what the proxy hop itself costs, so the 2-node row can be compared fairly. Each row also gives
 * the serving nodes' main-thread CPU per read (from /proc), which does not depend on how the
 * two cores are shared with the load generator; "read cache" is the opt-in per-node cache
 * (read_cache_max_age_ms), which gives up immediate cross-node read-after-write.
 * The cluster runs without fsync, as in the tests; the last two rows start a durable one
 * (PostgreSQL's defaults) to show what committing each read's audit batch synchronously costs
 * (`audit_fsync`, on by default with PostgreSQL) against `audit_fsync: false`.
 */
const NAME = 'prod/analytics-pipeline/warehouse-db';
const DURATION_SEC = 8;
const CONNECTIONS = [16, 64];

async function startProxy(ports: number[]): Promise<{ url: string; stop(): void }> {
  const child: ChildProcess = spawn(process.execPath, [path.join(repoRoot, 'dist/bench/round-robin-proxy.js'), ...ports.map(String)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`proxy exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, stop: () => void child.kill('SIGTERM') };
}

async function createSecret(address: string, token: string): Promise<void> {
  const response = await fetch(`${address}/v1/secrets`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: NAME, value: JSON.stringify({ username: 'etl', password: 'bench-password-123' }) }),
  });
  if (!response.ok) throw new Error(`setup failed: ${response.status}`);
}

/** Audit batches written and head races lost, summed over the nodes (from their /metrics). */
async function auditRaces(addresses: string[], token: string): Promise<{ batches: number; rechained: number; locked: number }> {
  const total = { batches: 0, rechained: 0, locked: 0 };
  for (const address of addresses) {
    const text = await (await fetch(`${address}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
    const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0);
    total.batches += value(/^custos_audit_write_duration_seconds_count(?:\{[^}]*\})? (\d+)/m);
    total.rechained += value(/^custos_audit_head_races_total\{outcome="rechained"\} (\d+)/m);
    total.locked += value(/^custos_audit_head_races_total\{outcome="locked"\} (\d+)/m);
  }
  return total;
}

async function measure(label: string, base: string, token: string, pids: number[]): Promise<BenchRow[]> {
  const headers = { authorization: `Bearer ${token}` };
  const url = `${base}/v1/values/${NAME}`;
  await runLoad({ url, connections: 16, durationSec: 2, headers }); // warm-up
  const rows: BenchRow[] = [];
  const ticks = () => pids.reduce((sum, pid) => sum + mainThreadTicks(pid), 0);
  for (const connections of CONNECTIONS) {
    const before = ticks();
    const r = await runLoad({ url, connections, durationSec: DURATION_SEC, headers });
    if (r.non2xx > 0 || r.errors > 0) throw new Error(`${label}: ${r.non2xx} non-2xx and ${r.errors} errors`);
    const cpuUs = ((ticks() - before) * TICK_US) / r.requests;
    rows.push({ suite: 'postgres', case: `${label} (${connections} conn)`, metrics: { connections, 'req/s': Math.round(r.rps), 'p50 ms': r.p50, 'p99 ms': r.p99, 'CPU µs/read': cpuUs.toFixed(1), requests: r.requests } });
  }
  return rows;
}

async function measureAuditFsync(): Promise<BenchRow[]> {
  const cluster = await startPostgresCluster({ durable: true });
  const rows: BenchRow[] = [];
  try {
    const db = await cluster.createDatabase();
    const env = { CUSTOS_STORAGE_PASSWORD: db.password };
    let unsealKey: string | undefined;
    let token = '';
    for (const auditFsync of ['true', 'false']) {
      const node = await startServer({ dev: false, args: ['--storage', db.url], env: { ...env, CUSTOS_AUDIT_FSYNC: auditFsync, ...(unsealKey ? { CUSTOS_UNSEAL_KEY: unsealKey } : {}) }, logLevel: 'warn' });
      try {
        if (!unsealKey) {
          const init = (await (await fetch(`${node.address}/v1/sys/init`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ shares: 1, threshold: 1 }) })).json()) as { root_token: string; keys: string[] };
          await fetch(`${node.address}/v1/sys/unseal`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: init.keys[0] }) });
          unsealKey = init.keys[0]!;
          token = init.root_token;
          await createSecret(node.address, token);
        }
        rows.push(...(await measure(`PostgreSQL durable, 1 node, audit_fsync ${auditFsync}`, node.address, token, [node.process.pid!])));
      } finally {
        await node.stop();
        node.cleanup();
      }
    }
  } finally {
    await cluster.stop();
  }
  return rows;
}

export const postgresSuite: BenchSuite = {
  name: 'postgres',
  async run(): Promise<BenchRow[]> {
    const rows: BenchRow[] = [];

    const sqlite = await startDevServer();
    try {
      await createSecret(sqlite.address, sqlite.token);
      rows.push(...(await measure('SQLite, 1 node', sqlite.address, sqlite.token, [sqlite.process.pid!])));
    } finally {
      await sqlite.stop();
    }

    const cluster = await startPostgresCluster();
    const nodes: RunningServer[] = [];
    let proxy: { url: string; stop(): void } | undefined;
    try {
      const db = await cluster.createDatabase();
      const env = { CUSTOS_STORAGE_PASSWORD: db.password };
      const first = await startServer({ dev: false, args: ['--storage', db.url], env, logLevel: 'warn' });
      nodes.push(first);
      const init = (await (await fetch(`${first.address}/v1/sys/init`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ shares: 1, threshold: 1 }) })).json()) as { root_token: string; keys: string[] };
      await fetch(`${first.address}/v1/sys/unseal`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: init.keys[0] }) });
      const token = init.root_token;
      await createSecret(first.address, token);
      rows.push(...(await measure('PostgreSQL, 1 node', first.address, token, [first.process.pid!])));

      proxy = await startProxy([first.port]);
      rows.push(...(await measure('PostgreSQL, 1 node via proxy', proxy.url, token, [first.process.pid!])));
      proxy.stop();

      // The default caches label lookups for up to 1 s; what every read costs without the cache:
      const uncached = await startServer({ dev: false, args: ['--storage', db.url], env: { ...env, CUSTOS_UNSEAL_KEY: init.keys[0]!, CUSTOS_READ_CACHE_MAX_AGE_MS: '0' }, logLevel: 'warn' });
      try {
        rows.push(...(await measure('PostgreSQL, 1 node, read cache off', uncached.address, token, [uncached.process.pid!])));
      } finally {
        await uncached.stop();
        uncached.cleanup();
      }

      const second = await startServer({ dev: false, args: ['--storage', db.url], env: { ...env, CUSTOS_UNSEAL_KEY: init.keys[0]! }, logLevel: 'warn' });
      nodes.push(second);
      proxy = await startProxy([first.port, second.port]);
      const racesBefore = await auditRaces([first.address, second.address], token);
      rows.push(...(await measure('PostgreSQL, 2 nodes round-robin', proxy.url, token, [first.process.pid!, second.process.pid!])));
      const racesAfter = await auditRaces([first.address, second.address], token);
      const batches = racesAfter.batches - racesBefore.batches;
      const lost = racesAfter.rechained - racesBefore.rechained + racesAfter.locked - racesBefore.locked;
      // How often a batch found the other node's events at the chain head, per batch written.
      rows.push({ suite: 'postgres', case: 'PostgreSQL, 2 nodes: audit head races (all runs)', metrics: {
        batches, 'lost tries per batch': batches ? (lost / batches).toFixed(2) : '0', 'locked per batch': batches ? ((racesAfter.locked - racesBefore.locked) / batches).toFixed(2) : '0',
      } });
    } finally {
      proxy?.stop();
      for (const node of nodes) {
        await node.stop();
        node.cleanup();
      }
      await cluster.stop();
    }
    rows.push(...(await measureAuditFsync()));
    return rows;
  },
};

/**
 * Counts the SQL statements a PostgreSQL node sends per `GET /v1/values` read: starts a throwaway
 * cluster, turns on `log_statement=all` for the node's database, sends a fixed number of reads at
 * a fixed concurrency and groups the logged statements by their text (parameters removed).
 *
 *   node dist/bench/pg-read-statements.js [reads=2000] [concurrency=32] [read_cache_max_age_ms] [nodes=1]
 *
 * With 2 nodes the reads alternate between them, as behind a round-robin balancer, so each
 * node's audit batches interleave with the other's.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { startPostgresCluster } from '../tests/support/postgres-cluster.js';
import { startServer } from '../tests/support/custos-server.js';

const NAME = 'prod/analytics-pipeline/warehouse-db';
const reads = Number(process.argv[2] ?? 2000);
const concurrency = Number(process.argv[3] ?? 32);
const cacheMs = process.argv[4] || undefined;
const nodeCount = Number(process.argv[5] ?? 1);

const cluster = await startPostgresCluster();
try {
  const db = await cluster.createDatabase();
  const admin = new pg.Client({ host: cluster.host, port: cluster.port, user: cluster.superuser, database: 'postgres', password: cluster.superPassword });
  await admin.connect();
  const dataDir = (await admin.query<{ setting: string }>(`select setting from pg_settings where name = 'data_directory'`)).rows[0]!.setting;
  const logFile = path.join(path.dirname(dataDir), 'postgres.log');
  const env: NodeJS.ProcessEnv = { CUSTOS_STORAGE_PASSWORD: db.password, ...(cacheMs ? { CUSTOS_READ_CACHE_MAX_AGE_MS: cacheMs } : {}) };
  const node = await startServer({ dev: false, args: ['--storage', db.url], env, logLevel: 'warn', ...(process.env.PROBE_CLI ? { cli: process.env.PROBE_CLI } : {}) });
  const others: Awaited<ReturnType<typeof startServer>>[] = [];
  try {
    const post = (p: string, body: unknown, token?: string) => fetch(`${node.address}${p}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
    const init = (await (await post('/v1/sys/init', { shares: 1, threshold: 1 })).json()) as { root_token: string; keys: string[] };
    await post('/v1/sys/unseal', { key: init.keys[0] });
    const token = init.root_token;
    if (!(await post('/v1/secrets', { name: NAME, value: 'statement-count' }, token)).ok) throw new Error('setup failed');
    if (nodeCount > 1) others.push(await startServer({ dev: false, args: ['--storage', db.url], env: { ...env, CUSTOS_UNSEAL_KEY: init.keys[0]! }, logLevel: 'warn' }));
    const addresses = [node.address, ...others.map((o) => o.address)];
    let turn = 0;
    const read = async () => {
      const address = addresses[turn++ % addresses.length];
      const r = await fetch(`${address}/v1/values/${NAME}`, { headers: { authorization: `Bearer ${token}` } });
      if (!r.ok) throw new Error(`read: ${r.status}`);
      await r.arrayBuffer();
    };
    for (let i = 0; i < 200; i++) await read(); // warm caches before counting
    await new Promise((r) => setTimeout(r, 300));
    await admin.query(`alter database "${db.database}" set log_statement = 'all'`);
    // Settings apply to new sessions: end the node's pooled ones so each reconnects with logging on.
    await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and state = 'idle' and query not ilike 'listen%'`, [db.database]);
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 50; i++) await read().catch(() => undefined); // reconnect; not counted
    const startOffset = readFileSync(logFile).length;
    let left = reads;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (left-- > 0) await read();
    }));
    await new Promise((r) => setTimeout(r, 500));
    const log = readFileSync(logFile).subarray(startOffset).toString();
    const counts = new Map<string, number>();
    for (const m of log.matchAll(/(?:statement|execute [^:]*): (.*)/g)) {
      const text = m[1]!.replace(/\$\d+/g, '$').replace(/\(\$(, \$)*\)/g, '($…)').replace(/(, \(\$…\))+/g, ', …').slice(0, 140);
      counts.set(text, (counts.get(text) ?? 0) + 1);
    }
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    console.log(`${reads} reads at ${concurrency} concurrent on ${addresses.length} node(s)${cacheMs ? `, read cache ${cacheMs} ms` : ''}: ${total} statements, ${(total / reads).toFixed(2)} per read`);
    for (const [text, n] of [...counts].sort((a, b) => b[1] - a[1])) console.log(`${(n / reads).toFixed(3).padStart(7)}  ${n.toString().padStart(6)}  ${text}`);
  } finally {
    await admin.end();
    for (const other of others) {
      await other.stop();
      other.cleanup();
    }
    await node.stop();
    node.cleanup();
  }
} finally {
  await cluster.stop();
}

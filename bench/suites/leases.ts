import pg from 'pg';
import { startPostgresCluster } from '../../tests/support/postgres-cluster.js';
import { adminValue } from '../../tests/support/rotation-fixture.js';
import { startDevServer, type BenchRow, type BenchSuite } from '../lib.js';
import { leasesAtScale } from './leases-scale.js';

/**
 * Two parts. Scale (leases-scale.ts): 100,000 leases on a running server against a fake
 * statement target — RSS, restart, sweep. Then dynamic PostgreSQL users against a real cluster: the latency of one issuance (a lease row, a
 * CREATE ROLE in a transaction), issuances per second at 8 concurrent clients, and how fast the
 * leader's sweeper revokes them all after `revoke-prefix` (sweep every 0.2 s).
 */
const SEQUENTIAL = Number(process.env.BENCH_LEASES_SEQUENTIAL ?? 100);
const CONCURRENT = Number(process.env.BENCH_LEASES_TOTAL ?? 1000);
const CLIENTS = 8;

export const leasesSuite: BenchSuite = {
  name: 'leases',
  async run(): Promise<BenchRow[]> {
    const scale = process.env.BENCH_LEASES_SKIP_SCALE ? [] : await leasesAtScale();
    return [...scale, ...(await realPostgres())];
  },
};

async function realPostgres(): Promise<BenchRow[]> {
  const cluster = await startPostgresCluster();
  const server = await startDevServer([], { CUSTOS_LEASE_SWEEP_SECONDS: '0.2' });
  const admin = new pg.Client({ host: cluster.host, port: cluster.port, database: 'postgres', user: cluster.superuser, password: cluster.superPassword });
  try {
    const call = async (method: string, path: string, body?: unknown) => {
      const headers: Record<string, string> = { authorization: `Bearer ${server.token}` };
      if (body !== undefined) headers['content-type'] = 'application/json';
      const r = await fetch(server.address + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      const data = (await r.json()) as any;
      if (r.status >= 400) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(data)}`);
      return data;
    };
    await call('POST', '/v1/secrets', { name: 'bench/pg-admin', value: adminValue(cluster) });
    await call('POST', '/v1/database/config/bench', { plugin: 'postgresql', admin_secret: 'bench/pg-admin', allowed_roles: ['job'] });
    await call('POST', '/v1/database/roles/job', { connection: 'bench', creation_statements: ['CREATE ROLE {{name}} WITH LOGIN PASSWORD {{password}} VALID UNTIL {{expiration}}'] });
    await admin.connect();
    const users = async () => Number((await admin.query("SELECT count(*) AS n FROM pg_roles WHERE rolname LIKE 'v_job_%'")).rows[0].n);

    for (let i = 0; i < 5; i++) await call('POST', '/v1/database/creds/job', {}); // warm-up: pool, statements
    const times: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) {
      const started = performance.now();
      await call('POST', '/v1/database/creds/job', {});
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    const rows: BenchRow[] = [{
      suite: 'leases', case: 'issue one PostgreSQL user + lease (sequential)',
      metrics: { issued: SEQUENTIAL, 'p50 ms': times[Math.floor(SEQUENTIAL / 2)]!.toFixed(1), 'p99 ms': times[Math.floor(SEQUENTIAL * 0.99)]!.toFixed(1) },
    }];

    let next = 0;
    const started = performance.now();
    await Promise.all(Array.from({ length: CLIENTS }, async () => {
      while (next++ < CONCURRENT) await call('POST', '/v1/database/creds/job', {});
    }));
    const issueMs = performance.now() - started;
    rows.push({ suite: 'leases', case: `issue ${CONCURRENT} users, ${CLIENTS} clients`, metrics: { issued: CONCURRENT, 'wall s': (issueMs / 1000).toFixed(2), 'creds/s': Math.round((CONCURRENT / issueMs) * 1000) } });

    const before = await users();
    const sweepStart = performance.now();
    await call('POST', '/v1/leases/revoke-prefix', { prefix: 'database/creds/job/' });
    while ((await users()) > 0) await new Promise((r) => setTimeout(r, 50));
    const sweepMs = performance.now() - sweepStart;
    rows.push({ suite: 'leases', case: `revoke-prefix, sweeper drops ${before} users`, metrics: { revoked: before, 'wall s': (sweepMs / 1000).toFixed(2), 'revocations/s': Math.round((before / sweepMs) * 1000) } });
    return rows;
  } finally {
    await admin.end().catch(() => undefined);
    await server.stop();
    await cluster.stop();
  }
}

import { readFileSync } from 'node:fs';
import { startServer, type RunningServer } from '../../tests/support/custos-server.js';
import { startFakePostgres } from '../fake-postgres.js';
import type { BenchRow } from '../lib.js';

/**
 * Leases at scale on a running server (a separate process, as deployed): N dynamic credentials
 * issued over HTTP against the fake statement target (bench/fake-postgres.ts, inside the
 * benchmark only), the server's RSS before and after (VmRSS from /proc/PID/status), the time
 * to restart it with N leases outstanding (process start to "listening"), and the time its
 * sweeper takes to revoke all N once the server's testing clock is moved past their expiry.
 */
const N = Number(process.env.BENCH_LEASES_SCALE ?? 100_000);
const CLIENTS = 16;
const WARMUP = 500;
// The server inherits CUSTOS_* variables: e.g. CUSTOS_DATABASE_POOL_SIZE=8 CUSTOS_LEASE_SWEEP_CONCURRENCY=8.
const SETTINGS = `pool ${process.env.CUSTOS_DATABASE_POOL_SIZE ?? 4}, sweep concurrency ${process.env.CUSTOS_LEASE_SWEEP_CONCURRENCY ?? 4}`;

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
/** CPU seconds (user + system) the process has used, from /proc/PID/stat (clock ticks of 1/100 s). */
const cpuSeconds = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function leasesAtScale(): Promise<BenchRow[]> {
  const fake = await startFakePostgres();
  const env = { CUSTOS_TESTING_CLOCK: '1', CUSTOS_LEASE_SWEEP_SECONDS: '0.5' };
  let server: RunningServer = await startServer({ env, logLevel: 'warn' });
  const token = server.token;
  const call = async (method: string, path: string, body?: unknown) => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const r = await fetch(server.address + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const data = (await r.json()) as any;
    if (r.status >= 400) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(data)}`);
    return data;
  };
  // V8's live heap (prom-client's default metric), beside RSS: RSS also holds heap the process grew and kept.
  const heapUsedMb = async () => {
    const text = await (await fetch(server.address + '/metrics', { headers: { authorization: `Bearer ${token}` } })).text();
    return Number(/^nodejs_heap_size_used_bytes (\S+)$/m.exec(text)![1]) / 1024 / 1024;
  };
  const outstanding = async () => (await call('GET', '/v1/leases?prefix=database/creds/scale/&limit=1')).leases.length as number;
  try {
    await call('POST', '/v1/secrets', { name: 'bench/fake-admin', value: JSON.stringify({ engine: 'postgres', host: fake.host, port: fake.port, dbname: 'postgres', username: 'bench', password: 'not-checked' }) });
    await call('POST', '/v1/database/config/fake', { plugin: 'postgresql', admin_secret: 'bench/fake-admin', allowed_roles: ['scale'] });
    await call('POST', '/v1/database/roles/scale', {
      connection: 'fake', creation_statements: ['CREATE ROLE {{name}} WITH LOGIN'], revocation_statements: ['DROP ROLE IF EXISTS {{name}}'], default_ttl: 3600, max_ttl: 7200,
    });
    const issue = async (count: number) => {
      let next = 0;
      await Promise.all(Array.from({ length: CLIENTS }, async () => {
        while (next++ < count) await call('POST', '/v1/database/creds/scale', {});
      }));
    };
    await issue(WARMUP); // pools, compiled statements, JIT
    await sleep(1000);
    const pid = server.process.pid!;
    const rssBefore = rssMb(pid);
    const heapBefore = await heapUsedMb();
    const issueCpu = cpuSeconds(pid);
    const issueStart = performance.now();
    await issue(N);
    const issueMs = performance.now() - issueStart;
    const issueCpuPct = ((cpuSeconds(pid) - issueCpu) / (issueMs / 1000)) * 100;
    await sleep(1000);
    const rssAfter = rssMb(pid);
    const heapAfter = await heapUsedMb();
    const total = WARMUP + N;
    if (fake.users.size !== total) throw new Error(`${fake.users.size} users on the target, expected ${total}`);

    await server.stop();
    const restartStart = performance.now();
    server = await startServer({ env, logLevel: 'warn', dataDir: server.dataDir, home: server.home });
    const restartMs = performance.now() - restartStart;
    const rssRestarted = rssMb(server.process.pid!);
    const heapRestarted = await heapUsedMb();
    if ((await outstanding()) !== 1) throw new Error('the leases did not survive the restart');

    await call('POST', '/v1/sys/testing/clock', { advance: '3h' }); // past every lease's max TTL
    const sweepCpu = cpuSeconds(server.process.pid!);
    const sweepStart = performance.now();
    while (fake.users.size > 0 || (await outstanding()) > 0) await sleep(100);
    const sweepMs = performance.now() - sweepStart;
    const sweepCpuPct = ((cpuSeconds(server.process.pid!) - sweepCpu) / (sweepMs / 1000)) * 100;
    const rssSwept = rssMb(server.process.pid!);
    return [
      { suite: 'leases', case: `server (${SETTINGS}): issue ${N} leases over HTTP, fake target, ${CLIENTS} clients`, metrics: { leases: N, 'wall s': (issueMs / 1000).toFixed(1), 'leases/s': Math.round((N / issueMs) * 1000), 'RSS before MB': rssBefore.toFixed(1), 'RSS after MB': rssAfter.toFixed(1), 'RSS growth MB': (rssAfter - rssBefore).toFixed(1), 'heap used MB': `${heapBefore.toFixed(1)} → ${heapAfter.toFixed(1)}`, 'server CPU %': issueCpuPct.toFixed(0) } },
      { suite: 'leases', case: `server (${SETTINGS}): restart with ${total} outstanding (spawn to listening)`, metrics: { 'restart ms': restartMs.toFixed(0), 'RSS after MB': rssRestarted.toFixed(1), 'heap used MB': heapRestarted.toFixed(1) } },
      { suite: 'leases', case: `server (${SETTINGS}): sweeper revokes ${total} expired leases`, metrics: { revoked: total, 'wall s': (sweepMs / 1000).toFixed(1), 'revocations/s': Math.round((total / sweepMs) * 1000), 'RSS after MB': rssSwept.toFixed(1), 'server CPU %': sweepCpuPct.toFixed(0) } },
    ];
  } finally {
    await server.stop();
    server.cleanup();
    await fake.close();
  }
}

import { processTicks, prepareLoginLoad, type LoginMode } from '../login-load.js';
import { startDevServer, type BenchRow, type BenchSuite } from '../lib.js';
import { TICK_US } from '../read-load.js';

/**
 * Logins per second at 16 connections: AppRole (secret id with no use limit) and JWT with the
 * issuer's JWKS cached after the first login. A login is one credential check (HMAC lookup, or
 * one RS256 signature verification) plus one token insert and its audit event. Median of
 * REPEATS runs, every run shown, with the server's CPU time (all threads) per login: on a
 * shared VM that moves less than the rate does.
 */
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const CONNECTIONS = 16;

export const loginsSuite: BenchSuite = {
  name: 'logins',
  async run(): Promise<BenchRow[]> {
    const rows: BenchRow[] = [];
    // FULL (the default) fsyncs every durable commit; NORMAL shows the CPU-bound ceiling.
    for (const synchronous of (process.env.BENCH_LOGIN_SYNC ?? 'FULL,NORMAL').split(',')) rows.push(...(await runWith(synchronous)));
    return rows;
  },
};

const CASES: { mode: LoginMode; name: string }[] = [
  // Reference: the same token write without any credential check, to read the rows against on a busy machine.
  { mode: 'token', name: 'reference: POST /v1/tokens (root parent)' },
  { mode: 'approle', name: 'AppRole login' },
  { mode: 'jwt', name: 'JWT login (cached JWKS, RS256)' },
];

async function runWith(synchronous: string): Promise<BenchRow[]> {
  const server = await startDevServer([], { CUSTOS_SQLITE_SYNCHRONOUS: synchronous });
  const pid = server.process.pid!;
  const rows: BenchRow[] = [];
  let jwksFetches = 0;
  try {
    for (const c of CASES) {
      const load = await prepareLoginLoad(server, c.mode, CONNECTIONS);
      try {
        await load(2); // warm-up (and the JWKS fetch)
        const runs = [];
        for (let i = 0; i < REPEATS; i++) {
          const ticks = processTicks(pid);
          const r = await load(8);
          if (r.non2xx > 0 || r.errors > 0) throw new Error(`${c.name} had ${r.non2xx} non-2xx and ${r.errors} errors`);
          runs.push({ ...r, cpuUs: ((processTicks(pid) - ticks) * TICK_US) / r.requests });
        }
        const r = [...runs].sort((a, b) => a.rps - b.rps)[Math.floor(runs.length / 2)]!;
        rows.push({ suite: 'logins', case: `${c.name} (${CONNECTIONS} conn, sqlite ${synchronous})`, metrics: {
          connections: CONNECTIONS, 'logins/s': Math.round(r.rps), 'p50 ms': r.p50, 'p99 ms': r.p99, 'server CPU µs/login': Math.round(r.cpuUs), requests: r.requests,
          'all runs logins/s (p99 ms, CPU µs/login)': runs.map((x) => `${Math.round(x.rps)} (${x.p99}, ${Math.round(x.cpuUs)})`).join(', '),
        } });
        jwksFetches += load.jwksFetches?.() ?? 0;
      } finally {
        await load.close?.();
      }
    }
    rows.push({ suite: 'logins', case: `JWKS fetches during the ${synchronous} runs`, metrics: { 'jwks fetches': jwksFetches } });
    return rows;
  } finally {
    await server.stop();
  }
}

import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { startDevServer, type BenchRow, type BenchSuite } from '../lib.js';
import { checkedLoad, mainThreadTicks, prepareReadLoad, TICK_US } from '../read-load.js';

/**
 * `custos server --workers N` on SQLite: native reads at 64 connections with 1 and 2 workers.
 * Reports reads/s and the main-thread CPU per read of the worker processes (and, apart, of
 * the primary, which hands connections to workers and relays between them). On a 2-core
 * machine the load generator shares the cores with the workers, so reads/s cannot show what
 * more cores give; CPU per read says whether a worker costs more per read than one process.
 * The median of REPEATS runs (by reads/s) is reported; the load average is recorded beside it.
 */
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const CONNECTIONS = 64;

/** The primary's children are its workers (Linux /proc). */
function childPids(pid: number): number[] {
  const file = `/proc/${pid}/task/${pid}/children`;
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

export const workersSuite: BenchSuite = {
  name: 'workers',
  async run(): Promise<BenchRow[]> {
    const rows: BenchRow[] = [];
    for (const workers of [1, 2]) {
      const server = await startDevServer(['--workers', String(workers)]);
      try {
        const primary = server.process.pid!;
        const serving = workers === 1 ? [primary] : childPids(primary);
        if (serving.length !== workers) throw new Error(`expected ${workers} serving processes, found ${serving.length}`);
        const load = await prepareReadLoad(server, 'native', CONNECTIONS);
        checkedLoad(await load(2), 'warm-up');
        const runs = [];
        for (let i = 0; i < REPEATS; i++) {
          const loadAverage = os.loadavg()[0]!;
          const before = serving.map(mainThreadTicks);
          const primaryBefore = workers > 1 ? mainThreadTicks(primary) : 0;
          const r = checkedLoad(await load(8), `--workers ${workers}`);
          const ticks = serving.map((pid, n) => mainThreadTicks(pid) - before[n]!).reduce((x, y) => x + y, 0);
          const primaryTicks = workers > 1 ? mainThreadTicks(primary) - primaryBefore : 0;
          runs.push({ ...r, cpuUs: (ticks * TICK_US) / r.requests, primaryUs: (primaryTicks * TICK_US) / r.requests, loadAverage });
        }
        const r = [...runs].sort((a, b) => a.rps - b.rps)[Math.floor(runs.length / 2)]!;
        rows.push({ suite: 'workers', case: `--workers ${workers} (SQLite, ${CONNECTIONS} conn)`, metrics: {
          workers, 'req/s': Math.round(r.rps), 'p50 ms': r.p50, 'p99 ms': r.p99,
          'worker main-thread CPU µs/read': Math.round(r.cpuUs), 'primary CPU µs/read': Math.round(r.primaryUs),
          'load avg (1 min) before': r.loadAverage.toFixed(2),
          'all runs req/s (µs/read)': runs.map((x) => `${Math.round(x.rps)} (${Math.round(x.cpuUs)})`).join(', '),
        } });
      } finally {
        await server.stop();
      }
    }
    return rows;
  },
};

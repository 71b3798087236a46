import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { repoRoot, startDevServer, type BenchRow, type BenchSuite, type LoadResult } from '../lib.js';
import { BENCH_SECRET, BENCH_VALUE, checkedLoad, mainThreadTicks, TICK_US } from '../read-load.js';

/**
 * Transit: single encrypts of 100 bytes at 16 connections, batch encrypts of 10,000 × 100 bytes
 * per request (items/s), and the native secret read measured in the same run for the ratio.
 * Each case is measured REPEATS times and the median run is reported (the VM swings ±20%).
 */
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const DURATION = Number(process.env.BENCH_SECONDS ?? 8);
const KEY = 'prod/bench/pii';
const BATCH = 10_000;

/**
 * lib.ts's runLoad with its options sent on stdin: a 10,000-item batch body (1.4 MB) is too
 * large for a command-line argument.
 */
async function runLoad(options: { url: string; connections: number; durationSec: number; headers?: Record<string, string>; method?: string; body?: string }): Promise<LoadResult> {
  const script = `
    const autocannon = require('autocannon');
    let input = '';
    process.stdin.on('data', (c) => (input += c)).on('end', () => {
      const opts = JSON.parse(input);
      autocannon({ url: opts.url, connections: opts.connections, duration: opts.durationSec, headers: opts.headers, method: opts.method || 'GET', body: opts.body, pipelining: 1 }, (err, r) => {
        if (err) { console.error(err); process.exit(1); }
        process.stdout.write(JSON.stringify({ requests: r.requests.total, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx }));
      });
    });`;
  const child = spawn(process.execPath, ['-e', script], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'inherit'] });
  child.stdin.end(JSON.stringify(options));
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  if (code !== 0) throw new Error(`load generator failed (${code})`);
  return JSON.parse(out) as LoadResult;
}

export const transitSuite: BenchSuite = {
  name: 'transit',
  async run(): Promise<BenchRow[]> {
    const server = await startDevServer();
    try {
      const auth = { authorization: `Bearer ${server.token}` };
      const headers = { ...auth, 'content-type': 'application/json' };
      const setup = async (url: string, body: unknown) => {
        const r = await fetch(`${server.address}${url}`, { method: 'POST', headers, body: JSON.stringify(body) });
        if (!r.ok) throw new Error(`setup ${url} failed: ${r.status} ${await r.text()}`);
      };
      await setup('/v1/secrets', { name: BENCH_SECRET, value: BENCH_VALUE });
      await setup(`/v1/transit/keys/${KEY}`, { type: 'aes256-gcm96' });
      const plaintext = () => randomBytes(100).toString('base64');
      const single = JSON.stringify({ plaintext: plaintext() });
      const batch = JSON.stringify({ batch_input: Array.from({ length: BATCH }, () => ({ plaintext: plaintext() })) });
      const encryptUrl = `${server.address}/v1/transit/encrypt/${KEY}`;

      type Load = Omit<Parameters<typeof runLoad>[0], 'durationSec'>;
      const cases: { label: string; items: number; load: Load }[] = [
        { label: 'native read GET /v1/values (16 conn)', items: 1, load: { url: `${server.address}/v1/values/${BENCH_SECRET}`, connections: 16, headers: auth } },
        { label: 'transit encrypt 100 B (16 conn)', items: 1, load: { url: encryptUrl, connections: 16, method: 'POST', headers, body: single } },
        { label: `transit batch encrypt ${BATCH} × 100 B (2 conn)`, items: BATCH, load: { url: encryptUrl, connections: 2, method: 'POST', headers, body: batch } },
      ];
      for (const c of cases) checkedLoad(await runLoad({ ...c.load, durationSec: 2 }), c.label); // warm-up

      // Interleaved: one run of each case per round, so a slow minute of the VM hits every case alike.
      // Besides throughput, the server main thread's CPU time per item: on a VM shared with other
      // work it says more about the code than items/s does (it is what bounds throughput when the
      // server has a core to itself).
      type Run = LoadResult & { cpuUsPerItem: number; itemsPerSec: number };
      const runs = new Map<string, Run[]>(cases.map((c) => [c.label, []]));
      const pid = server.process.pid!;
      for (let i = 0; i < REPEATS; i++) {
        for (const c of cases) {
          const ticks = mainThreadTicks(pid);
          const r = checkedLoad(await runLoad({ ...c.load, durationSec: DURATION }), c.label);
          const items = r.requests * c.items;
          runs.get(c.label)!.push({ ...r, itemsPerSec: items / DURATION, cpuUsPerItem: ((mainThreadTicks(pid) - ticks) * TICK_US) / items });
        }
      }
      const measured = new Map(cases.map((c) => {
        const all = runs.get(c.label)!;
        return [c.label, { r: [...all].sort((a, b) => a.itemsPerSec - b.itemsPerSec)[Math.floor(all.length / 2)]!, runs: all }];
      }));

      const native = measured.get(cases[0]!.label)!.r;
      return cases.map((c) => {
        const { r, runs: all } = measured.get(c.label)!;
        return {
          suite: 'transit', case: c.label, metrics: {
            'req/s': Number((r.requests / DURATION).toFixed(1)), 'items/s': Math.round(r.itemsPerSec), 'p50 ms': r.p50, 'p99 ms': r.p99,
            'items/s ÷ native read/s': Number((r.itemsPerSec / native.itemsPerSec).toFixed(2)),
            'server CPU µs/item': Number(r.cpuUsPerItem.toFixed(1)),
            'all runs items/s (CPU µs/item)': all.map((x) => `${Math.round(x.itemsPerSec)} (${x.cpuUsPerItem.toFixed(1)})`).join(', '),
          },
        };
      });
    } finally {
      await server.stop();
    }
  },
};

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CustosClient } from '../../src/sdk/custos-client.js';
import { repoRoot, startDevServer, type BenchRow, type BenchSuite } from '../lib.js';

/**
 * SDK cache-hit latency (in-process) and `custos run ... -- true` wall time with
 * 10 secrets against a running server, next to `true` and `node -e ''` (each spawned N times).
 * Target: custos run adds < 100 ms over starting the child directly.
 */
/** The executable users run, as npm links it (bin/custos starts bin.js; canonical `run` skips commander). */
const cli = path.join(repoRoot, 'bin/custos');
const SPAWNS = Number(process.env.BENCH_CLIENT_SPAWNS ?? 40);

function stats(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { mean: s.reduce((a, b) => a + b, 0) / s.length, p50: at(0.5), p95: at(0.95) };
}

const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

/**
 * Wall time of one spawn (hrtime, spawn to exit) and, when GNU time is there, the CPU time
 * (user+sys) the process used: wall time on a busy machine is mostly waiting for a core,
 * CPU time is what the command itself costs. GNU time's own fork/exec is paid by every case
 * alike, so it cancels out in the "over true" column.
 */
function timeSpawn(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ wallMs: number; cpuMs: number | null }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const [file, argv] = TIME ? [TIME, ['-f', '%U %S', command, ...args]] : [command, args];
    const child = spawn(file, argv, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      if (code !== 0) return reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${err}`));
      const cpu = TIME ? /(\d+\.\d+) (\d+\.\d+)\s*$/.exec(err) : null;
      resolve({ wallMs, cpuMs: cpu ? (Number(cpu[1]) + Number(cpu[2])) * 1000 : null });
    });
  });
}

const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

/**
 * Process start-up: each command spawned SPAWNS times, interleaved so machine noise hits all
 * alike; `suffix` labels the environment the table was measured in.
 */
async function spawnTable(env: NodeJS.ProcessEnv, names: string[], suffix: string): Promise<BenchRow[]> {
  const runArgs = ['run', ...names.flatMap((n) => ['--secret', n]), '--', 'true'];
  const cases: [string, string, string[]][] = [
    ['true', 'true', []],
    ["node -e ''", process.execPath, ['-e', '']],
    ['custos --version', cli, ['--version']],
    ['custos run (no secret: --env A=1) -- true', cli, ['run', '--env', 'A=1', '--', 'true']],
    ['custos run (1 secret) -- true', cli, ['run', '--secret', names[0]!, '--', 'true']],
    ['custos run (10 secrets) -- true', cli, runArgs],
  ];
  const samples = new Map<string, { wallMs: number; cpuMs: number | null }[]>(cases.map(([label]) => [label, []]));
  for (const [, command, args] of cases) await timeSpawn(command, args, env); // warm the page cache
  for (let i = 0; i < SPAWNS; i++) for (const [label, command, args] of cases) samples.get(label)!.push(await timeSpawn(command, args, env));
  const wall = (label: string) => stats(samples.get(label)!.map((x) => x.wallMs));
  const cpu = (label: string) => (TIME ? stats(samples.get(label)!.map((x) => x.cpuMs ?? 0)).mean : NaN);
  const base = wall('true');
  return cases.map(([label]) => {
    const st = wall(label);
    return { suite: 'client', case: label + suffix, metrics: {
      mean: `${round(st.mean)} ms`, p50: `${round(st.p50)} ms`, p95: `${round(st.p95)} ms`, calls: SPAWNS, 'over true (p50)': `${round(st.p50 - base.p50)} ms`,
      ...(TIME ? { 'cpu mean': `${round(cpu(label))} ms`, 'cpu over true': `${round(cpu(label) - cpu('true'))} ms` } : {}),
    } };
  });
}

export const clientSuite: BenchSuite = {
  name: 'client',
  async run(): Promise<BenchRow[]> {
    const server = await startDevServer();
    try {
      const rows: BenchRow[] = [];
      const names = Array.from({ length: 10 }, (_, i) => `prod/analytics-pipeline/conn-${i}`);
      const headers = { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' };
      for (const name of names) {
        const r = await fetch(`${server.address}/v1/secrets`, { method: 'POST', headers, body: JSON.stringify({ name, value: JSON.stringify({ [`HOST_${name.slice(-1)}`]: 'wh.internal', [`PASSWORD_${name.slice(-1)}`]: 'bench-password-' + name }) }) });
        if (!r.ok) throw new Error(`setup failed: ${r.status}`);
      }

      // SDK: cache hits in-process, and misses (forceRefresh: one HTTP round trip each).
      const client = new CustosClient({ address: server.address, token: server.token });
      await client.getSecret(names[0]!);
      const hits = 500_000;
      for (let i = 0; i < 50_000; i++) await client.getSecret(names[0]!); // warm-up
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < hits; i++) await client.getSecret(names[0]!);
      const perHitNs = Number(process.hrtime.bigint() - t0) / hits;
      const missSamples: number[] = [];
      for (let i = 0; i < 300; i++) {
        const t = process.hrtime.bigint();
        await client.getSecret(names[i % names.length]!, { forceRefresh: true });
        missSamples.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
      const miss = stats(missSamples);
      rows.push({ suite: 'client', case: 'SDK getSecret, cache hit', metrics: { mean: `${round(perHitNs / 1000, 3)} µs`, p50: '', p95: '', calls: hits } });
      rows.push({ suite: 'client', case: 'SDK getSecret, forceRefresh (HTTP)', metrics: { mean: `${round(miss.mean, 2)} ms`, p50: `${round(miss.p50, 2)} ms`, p95: `${round(miss.p95, 2)} ms`, calls: missSamples.length } });

      const env: NodeJS.ProcessEnv = { ...process.env, CUSTOS_ADDR: server.address, CUSTOS_TOKEN: server.token };
      rows.push(...(await spawnTable(env, names, '')));
      // NODE_EXTRA_CA_CERTS makes every Node process build its CA store at start-up, before any
      // of its own code runs (measured here: node -e '' 20-30 ms without it, 65-85 ms with this
      // machine's 144-certificate bundle). bin/custos spares `run` that cost (it defers the bundle
      // to the first TLS connection); `node -e ''` and `custos --version` still pay it. Where it
      // is set, the table is measured again without it, so the two costs are told apart.
      if (process.env.NODE_EXTRA_CA_CERTS) {
        const { NODE_EXTRA_CA_CERTS: _extraCerts, ...withoutExtraCerts } = env;
        rows.push(...(await spawnTable(withoutExtraCerts, names, ' [NODE_EXTRA_CA_CERTS unset]')));
      }
      const [load1] = os.loadavg();
      rows.push({ suite: 'client', case: 'machine load (1-min average, at the end)', metrics: { mean: round(load1!, 2) } });
      return rows;
    } finally {
      await server.stop();
    }
  },
};

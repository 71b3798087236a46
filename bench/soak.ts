import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startPostgresCluster, type PostgresCluster } from '../tests/support/postgres-cluster.js';
import { startServer, type RunningServer } from '../tests/support/custos-server.js';
import { parsePrometheusText } from '../tests/support/prom-text.js';
import { positiveOption, repoRoot, saveResults } from './lib.js';
import type { LoadMinute, SoakPlan } from './soak-load.js';
import { memoryVerdict, warmupMinutes, type MemorySample } from './soak-verdict.js';

/**
 * `npm run soak`: a bounded soak. A real server (child process) takes a steady mixed load from
 * bench/soak-load.ts (another child process) for --minutes (default 30). Every 15 s the server's
 * own /metrics gives its RSS, heap used and event-loop delay p99; every minute one table row
 * joins them with the load generator's counts. At the end: a verdict on whether memory stayed
 * flat after warm-up, the failed requests, and all rows saved under bench/results/.
 * Not part of `npm test` or CI.
 */
const USAGE = 'usage: npm run soak -- [--minutes N] [--storage sqlite|postgres] [--heap-snapshots]';
const SAMPLE_EVERY_MS = 15_000;
const KIND_COLUMNS: Array<[string, string]> = [['read-native', 'read'], ['read-aws', 'aws'], ['write', 'write'], ['label', 'label'], ['token', 'token'], ['transit', 'transit'], ['rotate', 'rotate']];

interface Options { minutes: number; storage: 'sqlite' | 'postgres'; heapSnapshots: boolean }

function parseArgs(argv: string[]): Options {
  let minutes = 30;
  let storage: 'sqlite' | 'postgres' = 'sqlite';
  let heapSnapshots = false;
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--heap-snapshots') {
      heapSnapshots = true;
      continue;
    }
    if (flag === '--minutes') minutes = positiveOption('minutes', value, USAGE);
    else if (flag === '--storage' && (value === 'sqlite' || value === 'postgres')) storage = value;
    else throw new Error(`unknown or bad option ${flag} ${value ?? ''}\n${USAGE}`);
    i++;
  }
  return { minutes, storage, heapSnapshots };
}

interface Target { server: RunningServer; token: string; cluster?: PostgresCluster }

/** With --heap-snapshots the server writes a V8 heap snapshot on SIGUSR2, into bench/results/. */
const snapshotEnv = (on: boolean): NodeJS.ProcessEnv =>
  on ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${path.join(repoRoot, 'bench/results')}`.trim() } : {};

async function startTarget(storage: 'sqlite' | 'postgres', heapSnapshots: boolean): Promise<Target> {
  if (storage === 'sqlite') {
    const server = await startServer({ logLevel: 'warn', env: snapshotEnv(heapSnapshots) });
    return { server, token: server.token };
  }
  const cluster = await startPostgresCluster();
  try {
    const db = await cluster.createDatabase();
    const server = await startServer({ dev: false, args: ['--storage', db.url], env: { CUSTOS_STORAGE_PASSWORD: db.password, ...snapshotEnv(heapSnapshots) }, logLevel: 'warn' });
    const post = (p: string, body: unknown) => fetch(server.address + p, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const init = (await (await post('/v1/sys/init', { shares: 1, threshold: 1 })).json()) as { root_token: string; keys: string[] };
    const unsealed = await post('/v1/sys/unseal', { key: init.keys[0] });
    if (!unsealed.ok) throw new Error(`unseal failed: ${unsealed.status}`);
    return { server, token: init.root_token, cluster };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

/** Creates what the load works on (names only: no value here is a real credential). */
async function prepare(address: string, rootToken: string, durationSec: number): Promise<SoakPlan> {
  const api = async (method: string, p: string, body?: unknown): Promise<any> => {
    const headers: Record<string, string> = { authorization: `Bearer ${rootToken}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const r = await fetch(address + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    if (!r.ok) throw new Error(`setup ${method} ${p}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
  const value = (i: number) => JSON.stringify({ username: `etl_${i}`, password: `soak-password-${i}` });
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  const readSecrets = range(10).map((i) => `soak/read/s${i}`);
  const writeSecrets = range(10).map((i) => `soak/write/s${i}`);
  const rotateSecrets = range(2).map((i) => `soak/rotate-now/s${i}`);
  const scheduled = range(3).map((i) => `soak/rotate-scheduled/s${i}`);
  for (const name of [...readSecrets, ...writeSecrets, ...rotateSecrets, ...scheduled]) await api('POST', '/v1/secrets', { name, value: value(name.length) });
  const labelSecrets: Array<[string, string, string]> = [];
  for (const i of range(5)) {
    const name = `soak/label/s${i}`;
    const a = (await api('POST', '/v1/secrets', { name, value: value(i) })).version_id as string;
    const b = (await api('POST', `/v1/values/${name}`, { value: value(i + 100) })).version_id as string;
    await api('POST', `/v1/labels/${name}`, { label: 'SOAK', move_to_version_id: a });
    labelSecrets.push([name, a, b]);
  }
  // The command rotator with /usr/bin/true: every phase succeeds, the engine stores PENDING itself.
  const command = { path: '/usr/bin/true', timeout_seconds: 10 };
  for (const name of rotateSecrets) await api('PUT', `/v1/rotation/${name}`, { settings: { rotator: 'command', command } });
  for (const name of scheduled) await api('PUT', `/v1/rotation/${name}`, { settings: { rotator: 'command', command, every_seconds: 60 } });
  await api('POST', '/v1/transit/keys/soak', { type: 'aes256-gcm96' });
  const key = await api('POST', '/v1/aws/keys', { policies: ['root'], display_name: 'soak' });
  const parent = await api('POST', '/v1/tokens', { policies: ['root'], display_name: 'soak-parent' });
  return {
    address, token: parent.token, aws: { id: key.access_key_id, secret: key.secret_access_key },
    readSecrets, writeSecrets, labelSecrets, rotateSecrets, transitKey: 'soak', durationSec, rateScale: 1,
  };
}

interface ServerSample extends MemorySample { loopP99Ms: number; rotations: number; detail: Record<string, number> }

/** Where RSS sits (anonymous memory vs mapped files such as SQLite's shared WAL index), from /proc. */
function procMemory(pid: number): Record<string, number> {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) / 1024;
  return { rssAnonMb: kb('RssAnon'), rssFileMb: kb('RssFile'), rssShmemMb: kb('RssShmem'), threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? NaN) };
}

async function sampleServer(address: string, token: string, pid: number, startedAt: number): Promise<ServerSample> {
  const r = await fetch(`${address}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  if (!r.ok) throw new Error(`/metrics answered ${r.status}`);
  const families = parsePrometheusText(await r.text());
  const one = (name: string) => families.get(name)?.samples[0]?.value ?? NaN;
  const runs = families.get('custos_rotation_runs')?.samples ?? [];
  return {
    minute: (performance.now() - startedAt) / 60_000,
    rssMb: one('process_resident_memory_bytes') / 2 ** 20,
    heapMb: one('nodejs_heap_size_used_bytes') / 2 ** 20,
    // prom-client resets its event-loop histogram at every scrape: this is the p99 since the last sample.
    loopP99Ms: one('nodejs_eventloop_lag_p99_seconds') * 1000,
    detail: {
      ...procMemory(pid), heapTotalMb: one('nodejs_heap_size_total_bytes') / 2 ** 20, externalMb: one('nodejs_external_memory_bytes') / 2 ** 20,
      activeHandles: one('nodejs_active_handles_total'),
    },
    rotations: runs.filter((s) => s.labels.status === 'succeeded' || s.labels.status === 'grace').reduce((sum, s) => sum + s.value, 0),
  };
}

function startLoad(plan: SoakPlan, onMinute: (m: LoadMinute) => void): { child: ChildProcess; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [path.join(repoRoot, 'dist/bench/soak-load.js')], { env: { ...process.env, SOAK_PLAN: JSON.stringify(plan) }, stdio: ['ignore', 'pipe', 'inherit'] });
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      onMinute(JSON.parse(buffered.slice(0, newline)) as LoadMinute);
      buffered = buffered.slice(newline + 1);
    }
  });
  return { child, exited: new Promise((resolve) => child.once('exit', resolve)) };
}

const fixed = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '-');

async function main(): Promise<void> {
  const { minutes, storage, heapSnapshots } = parseArgs(process.argv.slice(2));
  const durationSec = minutes * 60;
  process.stdout.write(`Soak: ${minutes} min on ${storage}; the server and the load generator are separate processes.\n`);
  const target = await startTarget(storage, heapSnapshots);
  let load: ReturnType<typeof startLoad> | undefined;
  let sampler: NodeJS.Timeout | undefined;
  // Hard bound: whatever hangs, the soak ends shortly after its duration.
  const guard = setTimeout(() => {
    process.stderr.write('soak overran its duration by 5 minutes: killing its processes\n');
    load?.child.kill('SIGKILL');
    target.server.process.kill('SIGKILL');
    target.server.cleanup();
    void target.cluster?.stop().finally(() => process.exit(2));
  }, (durationSec + 300) * 1000);
  guard.unref();
  const interrupt = () => { load?.child.kill('SIGKILL'); target.server.process.kill('SIGKILL'); target.server.cleanup(); void target.cluster?.stop(); process.exit(130); };
  process.once('SIGINT', interrupt);

  const rows: Array<Record<string, unknown>> = [];
  const samples: ServerSample[] = [];
  try {
    const { address } = target.server;
    const plan = await prepare(address, target.token, durationSec);
    const startedAt = performance.now();
    let sampleFailures = 0;
    const sample = () => sampleServer(address, target.token, target.server.process.pid!, startedAt).then((s) => void samples.push(s), () => void sampleFailures++);
    sampler = setInterval(sample, SAMPLE_EVERY_MS);
    const header = ['min', 'RSS MB', 'heap MB', 'loop p99 ms', 'ops/min', 'failed', 'shed', 'rotations', ...KIND_COLUMNS.map(([, c]) => `${c} n/p99ms`)];
    process.stdout.write(`\n| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|\n`);
    const rowsDone = new Promise<void>((resolveRows) => {
      load = startLoad(plan, (m) => {
        void sample().then(() => {
          const inMinute = samples.filter((s) => s.minute > m.minute - 1);
          const last = samples.at(-1);
          const kinds = Object.values(m.kinds);
          const row = {
            minute: m.minute, rssMb: Number(fixed(last?.rssMb ?? NaN)), heapMb: Number(fixed(last?.heapMb ?? NaN)),
            loopP99Ms: Number(fixed(Math.max(...inMinute.map((s) => s.loopP99Ms)))), rotationsSucceeded: last?.rotations,
            opsPerMin: kinds.reduce((s, k) => s + k.ok, 0), failed: kinds.reduce((s, k) => s + k.failed, 0), shed: kinds.reduce((s, k) => s + k.shed, 0),
            kinds: m.kinds,
          };
          rows.push(row);
          const cells = [row.minute, fixed(row.rssMb), fixed(row.heapMb), fixed(row.loopP99Ms), row.opsPerMin, row.failed, row.shed, row.rotationsSucceeded ?? '-', ...KIND_COLUMNS.map(([k]) => `${m.kinds[k]!.ok}/${m.kinds[k]!.p99Ms}`)];
          process.stdout.write(`| ${cells.join(' | ')} |\n`);
          if (heapSnapshots && (m.minute === warmupMinutes(minutes) || m.minute === minutes)) target.server.process.kill('SIGUSR2');
          // Writing a snapshot blocks the server for seconds: give the last one time before stopping it.
          if (m.minute === minutes) setTimeout(resolveRows, heapSnapshots ? 30_000 : 0);
        });
      });
      void load.exited.then((code) => { if (code !== 0) process.stderr.write(`load generator exited with ${code}\n`); resolveRows(); });
    });
    await rowsDone;
    clearInterval(sampler);

    const verdict = memoryVerdict(samples, minutes);
    const failures: Record<string, number> = {};
    for (const row of rows) for (const [kind, k] of Object.entries(row.kinds as LoadMinute['kinds'])) for (const [key, n] of Object.entries(k.failures)) failures[`${kind} ${key}`] = (failures[`${kind} ${key}`] ?? 0) + n;
    const failed = rows.reduce((s, r) => s + (r.failed as number), 0);
    const shed = rows.reduce((s, r) => s + (r.shed as number), 0);
    const total = rows.reduce((s, r) => s + (r.opsPerMin as number), 0);
    process.stdout.write(`\nMemory after warm-up (from minute ${verdict.warmupMinutes}, ${verdict.samples} samples every ${SAMPLE_EVERY_MS / 1000} s):\n`);
    process.stdout.write(`  RSS slope ${verdict.rssSlope.toFixed(3)} MB/min, heap slope ${verdict.heapSlope.toFixed(3)} MB/min (threshold ${verdict.thresholdMbPerMin} MB/min each)\n`);
    process.stdout.write(`  RSS ${verdict.rssRange}, heap ${verdict.heapRange} after warm-up\n`);
    process.stdout.write(`Requests: ${total} succeeded, ${failed} failed${failed ? ` ${JSON.stringify(failures)}` : ''}, ${shed} shed (too many in flight), ${sampleFailures} failed metric scrapes\n`);
    const pass = verdict.flat && failed === 0 && rows.length === minutes;
    process.stdout.write(`Verdict: ${verdict.flat ? 'memory flat' : 'MEMORY GROWS'}; ${failed === 0 ? 'no failed requests' : `${failed} FAILED REQUESTS`}${rows.length === minutes ? '' : `; only ${rows.length} of ${minutes} minutes reported`} => ${pass ? 'PASS' : 'FAIL'}\n`);
    const file = saveResults(`soak-${storage}`, { minutes, storage, verdict, failures, failed, shed, succeeded: total, pass, rows, samples });
    process.stdout.write(`Saved ${file}\n`);
    process.exitCode = pass ? 0 : 1;
  } finally {
    if (sampler) clearInterval(sampler);
    load?.child.kill('SIGKILL');
    await target.server.stop();
    target.server.cleanup();
    await target.cluster?.stop();
    clearTimeout(guard);
    process.off('SIGINT', interrupt);
  }
}

await main();

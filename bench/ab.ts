import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { positiveOption, printTable, repoRoot, saveResults, startDevServer, type BenchRow } from './lib.js';
import { TICK_US, checkedLoad, mainThreadTicks } from './read-load.js';
import { LOAD_MODES, isLoadMode, prepareLoad, processTicks, type Load } from './login-load.js';

/**
 * `npm run bench:ab -- <A> <B> [--mode aws|native|jwt|approle|token|native:aws] [--connections 64] [--rounds 7] [--seconds 6]`
 *
 * Compares two builds of Custos (git revisions, or `.` for this checkout's build), or with
 * `--mode native:aws` the two read paths of one build, by loading both servers at the same time:
 * two servers, two load generators. On a shared VM whose speed drifts by ±20% within a minute,
 * runs one after the other cannot resolve a change of a few percent; side by side, both servers
 * see the same minute. Two numbers per round:
 * - B/A req/s: the throughput ratio. It also moves with how the scheduler splits the cores
 *   between the two servers from one round to the next.
 * - A/B µs: the ratio of main-thread CPU per request (that thread is what saturates), which does
 *   not depend on that split; above 1 means B costs less.
 * - A/B process µs: the same for the whole process (every thread), which is what counts where
 *   work leaves the main thread (WebCrypto's signature checks in a JWT login).
 * Two builds of the same revision measure the method's own noise.
 */
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { mode: { type: 'string', default: 'aws' }, connections: { type: 'string', default: '64' }, rounds: { type: 'string', default: '7' }, seconds: { type: 'string', default: '6' } },
});
const usage = 'usage: npm run bench:ab -- <revision A> <revision B> [--mode aws|native|jwt|approle|token|native:aws] [--connections N] [--rounds N] [--seconds N]  (a revision is anything git names, or . for this build)';
const positive = (name: string, text: string | undefined) => positiveOption(name, text, usage);
if (positionals.length !== 2) throw new Error(usage);
// One mode for both, or A's and B's: `native:aws` compares the two read paths of one build.
const [modeA, modeB = modeA] = (values.mode ?? '').split(':');
if (!isLoadMode(modeA) || !isLoadMode(modeB)) throw new Error(`--mode is ${LOAD_MODES}, or A:B such as native:aws\n${usage}`);
const mode = values.mode!;
const connections = positive('connections', values.connections);
const rounds = positive('rounds', values.rounds);
const seconds = positive('seconds', values.seconds);

interface Build {
  label: string;
  cli: string;
  remove(): void;
}

/** `.` is this checkout as `npm run` built it; anything else is checked out in a temporary git worktree and built there. */
function build(revision: string): Build {
  if (revision === '.') return { label: 'this build', cli: path.join(repoRoot, 'dist/src/cli/main.js'), remove() {} };
  const commit = execFileSync('git', ['rev-parse', '--short', `${revision}^{commit}`], { cwd: repoRoot, encoding: 'utf8' }).trim();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'custos-ab-'));
  execFileSync('git', ['worktree', 'add', '--detach', dir, commit], { cwd: repoRoot, stdio: 'ignore' });
  const remove = () => {
    rmSync(path.join(dir, 'node_modules'), { force: true }); // the link, never what it points to
    execFileSync('git', ['worktree', 'remove', '--force', dir], { cwd: repoRoot, stdio: 'ignore' });
  };
  try {
    // A revision may carry a node_modules link of its own (one was committed once): use ours.
    rmSync(path.join(dir, 'node_modules'), { force: true });
    symlinkSync(path.join(repoRoot, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    execFileSync(process.execPath, [path.join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: dir, stdio: 'inherit' });
  } catch (error) {
    remove();
    throw error;
  }
  return { label: `${revision} (${commit})`, cli: path.join(dir, 'dist/src/cli/main.js'), remove };
}

type Server = Awaited<ReturnType<typeof startDevServer>>;
const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;

const builds: Build[] = [];
const servers: Server[] = [];
const loads: Load[] = [];
// Interrupted (Ctrl-C): no `finally` runs on a signal, so stop the servers and remove the
// worktrees here, or they would stay registered with git and on disk.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const s of servers) s.process.kill('SIGTERM');
    for (const b of builds) b.remove();
    process.exit(130);
  });
}
try {
  for (const revision of positionals) builds.push(build(revision));
  for (const b of builds) servers.push(await startDevServer([], {}, b.cli));
  const [loadA, loadB]: Load[] = [await prepareLoad(servers[0]!, modeA, connections), await prepareLoad(servers[1]!, modeB, connections)];
  loads.push(loadA!, loadB!);
  await loadA!(2); // warm-up, each alone, then together
  await loadB!(2);
  await Promise.all([loadA!(2), loadB!(2)]);
  const rows: BenchRow[] = [];
  const throughput: number[] = [];
  const cost: number[] = [];
  const processCost: number[] = [];
  const [pidA, pidB] = servers.map((s) => s.process.pid!) as [number, number];
  for (let i = 1; i <= rounds; i++) {
    const before = [mainThreadTicks(pidA), mainThreadTicks(pidB)];
    const processBefore = [processTicks(pidA), processTicks(pidB)];
    const [a, b] = await Promise.all([loadA!(seconds), loadB!(seconds)]);
    const usA = ((mainThreadTicks(pidA) - before[0]!) * TICK_US) / checkedLoad(a, 'A').requests;
    const usB = ((mainThreadTicks(pidB) - before[1]!) * TICK_US) / checkedLoad(b, 'B').requests;
    const processUsA = ((processTicks(pidA) - processBefore[0]!) * TICK_US) / a.requests;
    const processUsB = ((processTicks(pidB) - processBefore[1]!) * TICK_US) / b.requests;
    throughput.push(b.rps / a.rps);
    cost.push(usA / usB);
    processCost.push(processUsA / processUsB);
    rows.push({ suite: 'ab', case: `round ${i}`, metrics: {
      'A req/s': Math.round(a.rps), 'B req/s': Math.round(b.rps), 'B/A req/s': (b.rps / a.rps).toFixed(3),
      'A µs/req': usA.toFixed(1), 'B µs/req': usB.toFixed(1), 'A/B µs': (usA / usB).toFixed(3),
      'A process µs/req': processUsA.toFixed(1), 'B process µs/req': processUsB.toFixed(1), 'A/B process µs': (processUsA / processUsB).toFixed(3),
    } });
  }
  const range = (xs: number[]) => `${median(xs).toFixed(3)} (${Math.min(...xs).toFixed(3)}–${Math.max(...xs).toFixed(3)})`;
  rows.push({ suite: 'ab', case: `median of ${rounds} (range)`, metrics: { 'B/A req/s': range(throughput), 'A/B µs': range(cost), 'A/B process µs': range(processCost) } });
  printTable(`A: ${builds[0]!.label}  B: ${builds[1]!.label}  (${mode}, ${connections} connections, ${rounds} × ${seconds} s side by side)`, rows);
  const file = saveResults('ab', { a: builds[0]!.label, b: builds[1]!.label, mode, connections, rounds, seconds, rows });
  process.stdout.write(`\nsaved ${file}\n`);
} finally {
  for (const l of loads) await l.close?.();
  for (const s of servers) await s.stop();
  for (const b of builds) b.remove();
}

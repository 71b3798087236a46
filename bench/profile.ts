import { execFileSync, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { positiveOption, printTable, saveResults, startDevServer, type BenchRow } from './lib.js';
import { TICK_US, checkedLoad, mainThreadTicks } from './read-load.js';
import { LOGIN_COMPONENTS } from './login-components.js';
import { LOAD_MODES, isLoadMode, isLoginMode, prepareLoad, processTicks } from './login-load.js';

/**
 * `npm run bench:profile -- <native|aws|jwt|approle|token> [--connections 64] [--seconds 9] [--cli <build>/dist/src/cli/main.js]`
 *
 * Where one read or login path's time goes: loads it alone and samples the server's main thread
 * (a login path: every thread of the process, since WebCrypto verifies signatures in libuv's
 * pool) with
 * Linux `perf` (`perf record -g`, Debian package `linux-perf`, as root or with
 * kernel.perf_event_paranoid <= 1), the server started with V8's `--perf-basic-prof` so that
 * JavaScript frames have names. Prints, in µs per request:
 * - the main thread's CPU time (from /proc) and what the samples add up to;
 * - the libuv phase each sample was in: reading and parsing requests (and, as far as it runs in
 *   the parser's callbacks, the handler), or `setImmediate` (where Custos writes the audit batch
 *   and sends the answers), ...;
 * - the part of Custos each busy sample belongs to (OWNERS and LAYERS below), with its share;
 * - the frames with the most time, inclusive (the frame and what it calls) and self.
 * Requests are counted as the load's average rate times the sampled seconds, so the figures
 * hold for a steady load. On a VM whose speed drifts, profiles of two paths taken one after
 * the other differ by that drift too: compare shares within a profile before totals across two.
 */
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { cli: { type: 'string' }, connections: { type: 'string', default: '64' }, seconds: { type: 'string', default: '9' }, top: { type: 'string', default: '30' } },
});
const usage = `usage: npm run bench:profile -- <${LOAD_MODES.replace(/, | or /g, '|')}> [--connections N] [--seconds N] [--top N] [--cli <another build>/dist/src/cli/main.js]`;
const positive = (name: string, text: string | undefined) => positiveOption(name, text, usage);
const mode = positionals[0];
if (positionals.length !== 1 || !isLoadMode(mode)) throw new Error(usage);
const wholeProcess = isLoginMode(mode);
const connections = positive('connections', values.connections);
const seconds = positive('seconds', values.seconds);
const top = positive('top', values.top);
const SAMPLE_HZ = 4999;
const WARM_UP_SEC = 3;

/** Which libuv phase a sample's stack was in; the first rule whose frame is on the stack wins. */
const PHASES: [string, RegExp][] = [
  ['idle (epoll_wait)', /epoll_wait|ep_poll/],
  ['libuv pool thread (WebCrypto, scrypt, fs)', /uv__worker|worker \(|uv_thread_start/],
  ['garbage collection', /Heap::|Scavenger|MarkCompact|GCTracer/],
  ['setImmediate: audit batch, sending answers', /uv__run_check/],
  ['timers', /uv__run_timers/],
  ['parser: request body (on_body)', /llhttp__on_body/],
  ['parser: headers complete', /on_headers_complete/],
  ['parser: message complete', /on_message_complete/],
  ['parser: other', /llhttp__internal_execute/],
  ['socket read, outside the parser', /uv__read/],
  ['other I/O callbacks', /uv__io_poll/],
  ['other', /./],
];

/**
 * Which part of Custos a sample's time belongs to. Owners are features: the one nearest the leaf
 * wins (the read path calling the barrier is the barrier's time). Shared layers (storage,
 * Kysely, the server's hooks, route handlers) count only when no owner is on the stack, so the
 * alert evaluator's queries are the evaluator's, not storage's, as far as its frames are on the
 * stack: a query resumed from a promise has only Kysely's frames, and counts as storage.
 */
const OWNERS: [string, RegExp][] = [
  ['alerts: evaluator (stream rules over the audit log)', /\/src\/alerts\/|alert-store\.js/],
  ['audit: chain verify (periodic integrity, extensions)', /\/src\/audit\/audit-verify\.js/],
  ['audit: record and batch append (chain HMAC, SQLite)', /\/src\/audit\/|sqlite-audit-writer\.js|audit-store\.js/],
  ['metrics (onResponse hook, counters)', /\/src\/lib\/metrics\.js|JS:\*?observeRequestMetrics /],
  ['approvals gate (preHandler)', /\/src\/http\/routes\/approvals\.js|\/src\/engines\/approvals\//],
  ['web UI session and CSRF', /\/src\/http\/ui-session\.js/],
  ['change feed, agent', /\/src\/engines\/changes\/|change-bus\.js/],
  ['workers (cluster relay)', /\/src\/cluster\//],
  ['authentication (token lookup)', /\/src\/auth\//],
  ['policy (grants, resource policy)', /\/src\/policy\//],
  ['barrier (decrypt, caches)', /\/src\/barrier\/|owned-bytes\.js|bounded-cache\.js/],
  ['AWS API (SigV4, operation dispatch)', /\/src\/http\/aws\//],
  ['secrets read path (lookup, labels)', /\/src\/engines\/secrets\//],
];
const LAYERS: [string, RegExp][] = [
  ['storage (Kysely, better-sqlite3)', /\/src\/storage\/|\/kysely\/|better-sqlite3/],
  ['route handlers', /\/src\/http\/routes\//],
  ['request hooks (server.ts: start, audit event, headers)', /\/src\/http\//],
  ['other Custos code', /\/dist\/src\//],
  ['garbage collection', /Heap::|Scavenger|MarkCompact|GCTracer/],
];
const NO_CUSTOS_FRAME = 'Node HTTP and Fastify (no Custos frame)';

interface Profile {
  samples: number;
  phases: Map<string, number>;
  components: Map<string, number>;
  inclusive: Map<string, number>;
  self: Map<string, number>;
}

/** The owner nearest the leaf, else the layer nearest the leaf; `frames` are leaf first. */
function componentOf(frames: string[]): string {
  for (const rules of [OWNERS, LAYERS]) {
    for (const frame of frames) {
      const hit = rules.find(([, rule]) => rule.test(frame));
      if (hit) return hit[0];
    }
  }
  return NO_CUSTOS_FRAME;
}

const bump = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);

/** `perf script` prints each sample as a header line and one `address symbol (object)` line per frame, leaf first, then a blank line. */
async function readProfile(dataFile: string): Promise<Profile> {
  const profile: Profile = { samples: 0, phases: new Map(), components: new Map(), inclusive: new Map(), self: new Map() };
  const script = spawn('perf', ['script', '-i', dataFile], { stdio: ['ignore', 'pipe', 'ignore'] });
  let frames: string[] = [];
  const endSample = () => {
    if (frames.length === 0) return;
    profile.samples++;
    bump(profile.self, frames[0]!);
    for (const frame of new Set(frames)) bump(profile.inclusive, frame);
    const stack = frames.join('\n');
    bump(profile.phases, PHASES.find(([, rule]) => rule.test(stack))![0]);
    if (wholeProcess) bump(profile.components, LOGIN_COMPONENTS.find(([, rule]) => rule.test(stack))![0]);
    else if (!/epoll_wait|ep_poll/.test(stack)) bump(profile.components, componentOf(frames));
    frames = [];
  };
  let header = true;
  for await (const line of createInterface({ input: script.stdout })) {
    if (line.trim() === '') {
      endSample();
      header = true;
    } else if (header) {
      header = false;
    } else {
      // "  7f3a... Builtins_LoadIC+0x12 (/usr/bin/node)" -> "Builtins_LoadIC"
      frames.push(line.trim().replace(/^[0-9a-f]+ /, '').replace(/\+0x[0-9a-f]+ \(.*\)$/, '').replace(/ \(.*\)$/, ''));
    }
  }
  endSample();
  return profile;
}

try {
  execFileSync('perf', ['--version'], { stdio: 'ignore' });
} catch {
  throw new Error('bench:profile needs Linux perf on the PATH (Debian: apt-get install linux-perf)');
}

// --cli profiles another build's server (an older revision built elsewhere) with this profiler.
const server = await startDevServer([], { NODE_OPTIONS: '--perf-basic-prof' }, values.cli);
const pid = server.process.pid!;
const dataFile = `/tmp/custos-profile-${pid}.data`;
let closeLoad: (() => Promise<void>) | undefined;
try {
  const load = await prepareLoad(server, mode, connections);
  closeLoad = load.close;
  await load(2); // warm-up: V8 optimizes the hot path before anything is sampled
  const running = load(WARM_UP_SEC + seconds + 2);
  // If perf fails, its error is the one to report, not the load's end as the server stops.
  running.catch(() => undefined);
  await new Promise((r) => setTimeout(r, WARM_UP_SEC * 1000));
  const ticksBefore = mainThreadTicks(pid);
  const processBefore = processTicks(pid);
  const perf = spawn('perf', ['record', '-F', String(SAMPLE_HZ), '-g', wholeProcess ? '-p' : '-t', String(pid), '-o', dataFile, '--', 'sleep', String(seconds)], { stdio: 'ignore' });
  const perfExit = await new Promise<number | null>((resolve, reject) => {
    perf.on('error', (error) => reject(new Error(`could not run perf: ${error.message}`)));
    perf.on('exit', resolve);
  });
  const ticks = mainThreadTicks(pid) - ticksBefore;
  const processTime = processTicks(pid) - processBefore;
  const result = checkedLoad(await running, mode);
  if (perfExit !== 0) throw new Error(`perf record exited with ${perfExit} (root, or sysctl kernel.perf_event_paranoid=1, is needed)`);
  const requests = result.rps * seconds;
  const profile = await readProfile(dataFile);
  const usPerSample = 1e6 / SAMPLE_HZ;
  const perRequest = (samples: number) => (samples * usPerSample) / requests;
  const rows = (map: Map<string, number>, suite: string, limit: number): BenchRow[] =>
    [...map].sort((a, b) => b[1] - a[1]).slice(0, limit).map(([frame, samples]) => ({ suite, case: frame.slice(0, 110), metrics: { 'µs/req': perRequest(samples).toFixed(2) } }));
  const totals: BenchRow[] = [
    { suite: 'totals', case: 'requests/s during the load', metrics: { value: Math.round(result.rps) } },
    { suite: 'totals', case: 'main-thread CPU per request (/proc), µs', metrics: { value: ((ticks * TICK_US) / requests).toFixed(1) } },
    { suite: 'totals', case: 'process CPU per request, all threads (/proc), µs', metrics: { value: ((processTime * TICK_US) / requests).toFixed(1) } },
    { suite: 'totals', case: `sampled time per request (perf, ${wholeProcess ? 'all threads' : 'main thread'}), µs`, metrics: { value: perRequest(profile.samples).toFixed(1) } },
  ];
  const phases = rows(profile.phases, 'phase', PHASES.length);
  // Logins: shares of every sampled thread; reads: shares of the main thread's busy samples.
  const busy = wholeProcess ? profile.samples : [...profile.components.values()].reduce((a, b) => a + b, 0);
  const unit = wholeProcess ? 'µs/login' : 'µs/req';
  const components: BenchRow[] = [...profile.components].sort((a, b) => b[1] - a[1]).map(([name, samples]) => ({
    suite: 'component', case: name, metrics: { [unit]: perRequest(samples).toFixed(2), share: `${((100 * samples) / busy).toFixed(1)} %` },
  }));
  // JavaScript and regular expressions are where Custos's own code shows; native frames are in `self`.
  const javascript = new Map([...profile.inclusive].filter(([frame]) => frame.startsWith('JS:') || frame.startsWith('RegExp:')));
  const inclusive = rows(javascript, 'inclusive', top);
  const self = rows(profile.self, 'self', top);
  const title = `${mode}, ${connections} connections, ${seconds} s sampled at ${SAMPLE_HZ} Hz`;
  printTable(`${title}: totals`, totals);
  printTable(`${title}: libuv phase`, phases);
  printTable(`${title}: component (${wholeProcess ? 'first matching frame on the stack' : 'busy samples'})`, components);
  printTable(`${title}: JavaScript frames, inclusive`, inclusive);
  printTable(`${title}: frames, self`, self);
  const file = saveResults(`profile-${mode}`, { mode, connections, seconds, rows: [...totals, ...phases, ...components, ...inclusive, ...self] });
  process.stdout.write(`\nsaved ${file}\n`);
} finally {
  await closeLoad?.();
  await server.stop();
  rmSync(dataFile, { force: true });
  rmSync(`/tmp/perf-${pid}.map`, { force: true });
}

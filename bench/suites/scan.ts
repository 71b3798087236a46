import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cliPath } from '../../tests/support/custos-server.js';
import { decoys, plants, randomString } from '../../tests/support/scan-corpus.js';
import { repoRoot, type BenchRow, type BenchSuite } from '../lib.js';

/**
 * `npm run bench -- scan`: custos scan against secretlint (recommended preset) on the same
 * generated corpus — a tree of code-like files and a git history — with planted fake
 * credentials of every format and decoys. Both run as child processes; MB/s is bytes of input
 * over wall-clock time including start-up. A finding is a true positive when it is on a line of
 * a plant; recall counts plants with at least one finding.
 *
 * Sizes: SCAN_BENCH_TREE_MB (default 200), SCAN_BENCH_COMMITS (default 5000). Every command
 * runs under /usr/bin/time, so CPU seconds (children included) are reported beside wall-clock.
 */
const TREE_MB = Number(process.env.SCAN_BENCH_TREE_MB ?? 200);
const COMMITS = Number(process.env.SCAN_BENCH_COMMITS ?? 5000);
const FILE_BYTES = 100 * 1024;
const PLANT_EVERY_FILES = 10;
const TIMEOUT_MS = 15 * 60_000;

const IDENT = ['user', 'event', 'batch', 'ingest', 'partition', 'schema', 'table', 'offset', 'window', 'record', 'stage', 'metric', 'frame', 'column', 'job'];
const pick = <T>(xs: T[]) => xs[Math.floor(Math.random() * xs.length)]!;

/** Lines of ordinary pipeline code, config and docs (no secrets), plus the decoys. */
export function fillerPool(): string[] {
  const pool: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const a = pick(IDENT);
    const b = pick(IDENT);
    pool.push(
      `def load_${a}_${b}(ctx, ${a}_id: int = ${i}) -> dict:`,
      `    ${a}_${b} = spark.read.parquet("s3://lake/${a}/${b}/dt=2024-0${(i % 9) + 1}-1${i % 10}")`,
      `    return {"${a}": ${a}_${b}.count(), "${b}_rate": ${(i / 7).toFixed(4)}}  # ${a} per ${b}`,
      `  ${a}_${b}_timeout_seconds: ${i % 600}`,
      `const ${a}${b[0]!.toUpperCase()}${b.slice(1)} = await client.query('SELECT ${a}, ${b} FROM ${a}_${b} WHERE id = $1', [${i}]);`,
      `| ${a} | ${b} | ${randomString('0123456789', 6)} | ok |`,
    );
  }
  return [...pool, ...decoys(), ...decoys(), ...decoys()];
}

interface PlantSite {
  file: string;
  /** Lines (1-based) the plant occupies. */
  lines: number[];
  rule: string;
}

interface Corpus {
  dir: string;
  sites: PlantSite[];
  bytes: number;
}

export function buildTree(dir: string, megabytes: number, pool: string[]): Corpus {
  const sites: PlantSite[] = [];
  let bytes = 0;
  const files = Math.ceil((megabytes * 1024 * 1024) / FILE_BYTES);
  const exts = ['py', 'js', 'yaml', 'md', 'sql', 'env'];
  for (let n = 0; n < files; n++) {
    const sub = `part-${Math.floor(n / 100)}`;
    mkdirSync(path.join(dir, sub), { recursive: true });
    const file = `${sub}/f${n}.${exts[n % exts.length]}`;
    const lines: string[] = [];
    let size = 0;
    const plant = n % PLANT_EVERY_FILES === 0 ? pick(plants()) : null;
    const plantAt = 40 + Math.floor(Math.random() * 200);
    while (size < FILE_BYTES) {
      if (plant && lines.length === plantAt) {
        const plantLines = plant.line.split('\n');
        sites.push({ file, lines: plantLines.map((_, i) => lines.length + 1 + i), rule: plant.rule });
        lines.push(...plantLines);
        continue;
      }
      const line = pick(pool);
      lines.push(line);
      size += line.length + 1;
    }
    const text = lines.join('\n') + '\n';
    writeFileSync(path.join(dir, file), text);
    bytes += Buffer.byteLength(text);
  }
  return { dir, sites, bytes };
}

/** A history of COMMITS commits via git fast-import; every 50th adds a plant, the next removes it. */
export function buildHistory(dir: string, pool: string[]): { sites: PlantSite[]; addedBytes: number } {
  spawnSync('git', ['init', '-q', '-b', 'main', dir]);
  const files = Array.from({ length: 50 }, () => [] as string[]);
  const chunks: string[] = [];
  const sites: PlantSite[] = [];
  let addedBytes = 0;
  let pendingRemoval: { f: number; count: number; at: number } | null = null;
  for (let c = 1; c <= COMMITS; c++) {
    const f = c % files.length;
    const content = files[f]!;
    if (pendingRemoval) {
      files[pendingRemoval.f]!.splice(pendingRemoval.at, pendingRemoval.count);
      pendingRemoval = null;
    }
    const added = Array.from({ length: 20 }, () => pick(pool));
    content.push(...added);
    addedBytes += added.join('\n').length;
    if (c % 50 === 0) {
      const plant = pick(plants());
      const plantLines = plant.line.split('\n');
      const at = content.length;
      content.push(...plantLines);
      addedBytes += plant.line.length;
      sites.push({ file: `c${c}:src/m${f}.py`, lines: plantLines.map((_, i) => at + 1 + i), rule: plant.rule });
      pendingRemoval = { f, count: plantLines.length, at };
    }
    const data = content.join('\n') + '\n';
    chunks.push(`commit refs/heads/main\nmark :${c}\ncommitter Bench <b@e> ${1_700_000_000 + c} +0000\ndata 8\ncommit ${String(c % 10)}\n` +
      `M 644 inline src/m${f}.py\ndata ${Buffer.byteLength(data)}\n${data}\n`);
  }
  const marks = path.join(dir, '..', 'marks');
  const r = spawnSync('git', ['fast-import', '--quiet', `--export-marks=${marks}`], { cwd: dir, input: chunks.join(''), maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`git fast-import failed: ${r.stderr}`);
  const shaOf = new Map(readFileSync(marks, 'utf8').trim().split('\n').map((l) => { const [m, sha] = l.split(' '); return [m!.slice(1), sha!]; }));
  for (const s of sites) {
    const [c, file] = s.file.split(':') as [string, string];
    s.file = `${shaOf.get(c.slice(1))}:${file}`;
  }
  spawnSync('git', ['reset', '-q', '--hard', 'main'], { cwd: dir });
  return { sites, addedBytes };
}

/**
 * Runs a command under /usr/bin/time: wall-clock and CPU seconds (user + system, its child
 * processes included — git for `custos scan --git`). On a shared machine wall-clock mostly
 * measures the neighbours; CPU time is the comparable figure.
 */
function run(cmd: string, args: string[], cwd: string, outFile: string): Promise<{ ms: number; cpuMs: number; code: number | null }> {
  const timeFile = `${outFile}.time`;
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const out = openSync(outFile, 'w');
    const child = spawn('/usr/bin/time', ['-f', '%U %S', '-o', timeFile, cmd, ...args], { cwd, stdio: ['ignore', out, 'inherit'], env: { ...process.env, CUSTOS_TOKEN: '' } });
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const [user, sys] = readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
      resolve({ ms: Number(process.hrtime.bigint() - started) / 1e6, cpuMs: ((user ?? 0) + (sys ?? 0)) * 1000, code });
    });
  });
}

function score(found: { key: string; line: number }[], sites: PlantSite[]) {
  const plantLines = new Map<string, PlantSite>();
  for (const s of sites) for (const l of s.lines) plantLines.set(`${s.file}#${l}`, s);
  const hit = new Set<PlantSite>();
  let falsePositives = 0;
  for (const f of found) {
    const site = plantLines.get(`${f.key}#${f.line}`);
    if (site) hit.add(site);
    else falsePositives++;
  }
  const missed = sites.filter((s) => !hit.has(s)).map((s) => s.rule);
  return { recall: hit.size / Math.max(1, sites.length), falsePositives, findings: found.length, missed: [...new Set(missed)].join(' ') };
}

function custosFindings(file: string, gitMode: boolean) {
  const report = JSON.parse(readFileSync(file, 'utf8')) as { findings: { file: string; line: number; commit: string | null }[] };
  return report.findings.map((f) => ({ key: gitMode ? `${f.commit}:${f.file}` : f.file, line: f.line }));
}

/** secretlint's `unix` format: `/abs/path:line:col: message [Error/rule]` (its JSON repeats every file's content). */
function secretlintFindings(file: string, root: string) {
  const found: { key: string; line: number }[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^(\/[^:]+):(\d+):\d+: /.exec(line);
    if (m) found.push({ key: path.relative(root, m[1]!), line: Number(m[2]) });
  }
  return found;
}

const mbps = (bytes: number, ms: number) => Number((bytes / 1024 / 1024 / (ms / 1000)).toFixed(1));

export const scanSuite: BenchSuite = {
  name: 'scan',
  async run(): Promise<BenchRow[]> {
    const base = mkdtempSync(path.join(os.tmpdir(), 'custos-scan-bench-'));
    const rows: BenchRow[] = [];
    try {
      const pool = fillerPool();
      const tree = buildTree(path.join(base, 'tree'), TREE_MB, pool);
      const rc = path.join(base, '.secretlintrc.json');
      writeFileSync(rc, JSON.stringify({ rules: [{ id: '@secretlint/secretlint-rule-preset-recommend' }] }));
      const secretlint = path.join(repoRoot, 'node_modules/.bin/secretlint');
      const out = path.join(base, 'out.json');
      const row = (name: string, bytes: number, t: { ms: number; cpuMs: number }, s: ReturnType<typeof score>) => rows.push({ suite: 'scan', case: name, metrics: {
        MB: Number((bytes / 1024 / 1024).toFixed(1)), 'MB/s': mbps(bytes, t.ms), 'MB/CPU-s': mbps(bytes, t.cpuMs), seconds: Number((t.ms / 1000).toFixed(1)), 'CPU s': Number((t.cpuMs / 1000).toFixed(1)),
        recall: `${(s.recall * 100).toFixed(1)}%`, 'false positives': s.falsePositives, findings: s.findings, missed: s.missed,
      } });

      process.stderr.write(`  custos scan over the ${TREE_MB} MB tree...\n`);
      let r = await run(process.execPath, [cliPath, 'scan', '--json', '--no-match', '.'], tree.dir, out);
      row(`custos tree ${TREE_MB} MB`, tree.bytes, r, score(custosFindings(out, false), tree.sites));

      process.stderr.write(`  secretlint over the ${TREE_MB} MB tree...\n`);
      r = await run(secretlint, ['**/*', '--format', 'unix', '--no-color', '--secretlintrc', rc], tree.dir, out);
      row(`secretlint tree ${TREE_MB} MB`, tree.bytes, r, score(secretlintFindings(out, tree.dir), tree.sites));

      process.stderr.write(`  building a ${COMMITS}-commit history...\n`);
      const repo = path.join(base, 'repo');
      const history = buildHistory(repo, pool);
      void history.addedBytes;
      // git itself (reading and diffing 5,000 commits) is most of a history scan: measured alone as the floor.
      const patchDir = path.join(base, 'patch');
      mkdirSync(patchDir);
      const patchFile = path.join(patchDir, 'history.patch');
      const floor = await run('git', ['log', '-p', '-U0', '--no-color', '--format=%x01commit %H', 'HEAD'], repo, patchFile);
      const patchBytes = readFileSync(patchFile).length;
      // Removed lines would make secretlint report each plant twice (added, then removed): keep added lines only.
      writeFileSync(patchFile, readFileSync(patchFile, 'utf8').split('\n').filter((l) => !l.startsWith('-') || l.startsWith('---')).join('\n'));
      const gitRow = (name: string, t: { ms: number; cpuMs: number }, s?: ReturnType<typeof score>) => rows.push({ suite: 'scan', case: name, metrics: {
        MB: Number((patchBytes / 1024 / 1024).toFixed(1)), 'MB/s': mbps(patchBytes, t.ms), 'MB/CPU-s': mbps(patchBytes, t.cpuMs), seconds: Number((t.ms / 1000).toFixed(1)), 'CPU s': Number((t.cpuMs / 1000).toFixed(1)),
        ...(s ? { recall: `${(s.recall * 100).toFixed(1)}%`, 'false positives': s.falsePositives, findings: s.findings, missed: s.missed } : {}),
      } });
      gitRow(`git log -p alone, ${COMMITS} commits`, floor);
      r = await run(process.execPath, [cliPath, 'scan', '--git', '--json', '--no-match'], repo, out);
      gitRow(`custos --git ${COMMITS} commits`, r, score(custosFindings(out, true), history.sites));
      // secretlint has no history mode: it reads the same history as one `git log -p` file; producing it is added to its time.
      r = await run(secretlint, ['**/*', '--format', 'unix', '--no-color', '--secretlintrc', rc], patchDir, out);
      const patchSites = sitesInPatch(readFileSync(patchFile, 'utf8'), history.sites);
      gitRow(`secretlint on git log -p, ${COMMITS} commits (+ git)`, { ms: r.ms + floor.ms, cpuMs: r.cpuMs + floor.cpuMs }, score(secretlintFindings(out, patchDir).map((f) => ({ key: 'history.patch', line: f.line })), patchSites));
      return rows;
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
};

/** Where each history plant landed in the `git log -p` output (the line after its commit's header that adds it). */
function sitesInPatch(patch: string, sites: PlantSite[]): PlantSite[] {
  const lines = patch.split('\n');
  const commitLine = new Map<string, number>();
  lines.forEach((l, i) => { if (l.startsWith('\u0001commit ')) commitLine.set(l.slice(8), i); });
  return sites.map((s) => {
    const sha = s.file.split(':')[0]!;
    const start = commitLine.get(sha) ?? 0;
    const found: number[] = [];
    for (let i = start + 1; i < lines.length && !lines[i]!.startsWith('\u0001commit '); i++) if (lines[i]!.startsWith('+') && !lines[i]!.startsWith('+++') && s.lines.length > 0) found.push(i + 1);
    // The plant's lines are the last ones the commit added to the file.
    return { file: 'history.patch', lines: found.slice(-s.lines.length), rule: s.rule };
  });
}

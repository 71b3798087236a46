import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { createAllowlist } from '../../src/scan/allowlist.js';
import { scan, type Finding } from '../../src/scan/scanner.js';
import { cliPath } from '../support/custos-server.js';
import { decoys, dockerSave, notebook, plants, tarGz, zip, type Plant } from '../support/scan-corpus.js';

/**
 * The scanner over a generated corpus: every provider format planted in code, YAML, .env, a
 * notebook (source and output), a tar.gz, a wheel, a `docker save` image and git history, among
 * decoys (UUIDs, hashes, base64 images, lorem, placeholders) that must not fire.
 */
const root = mkdtempSync(path.join(os.tmpdir(), 'custos-scan-corpus-'));
after(() => rmSync(root, { recursive: true, force: true }));

const all = plants();
const decoyLines = decoys();
const mix = (items: Plant[]) => [...decoyLines.slice(0, 8), ...items.map((p) => p.line), ...decoyLines.slice(8)].join('\n') + '\n';
// Each plant hides in exactly one place; which place is fixed by its index.
const byPlace = { code: all.slice(0, 5), yaml: all.slice(5, 8), env: all.slice(8, 10), notebookSource: all.slice(10, 12), notebookOutput: all.slice(12, 13), tarball: all.slice(13, 15), wheel: all.slice(15, 17), image: all.slice(17, 19), git: all.slice(19) };

const tree = path.join(root, 'tree');
mkdirSync(path.join(tree, 'src'), { recursive: true });
mkdirSync(path.join(tree, 'dist'), { recursive: true });
writeFileSync(path.join(tree, 'src/pipeline.py'), mix(byPlace.code));
writeFileSync(path.join(tree, 'src/settings.yaml'), mix(byPlace.yaml));
writeFileSync(path.join(tree, '.env'), byPlace.env.map((p) => p.line).join('\n') + '\nDB_HOST=warehouse.internal\n');
writeFileSync(path.join(tree, 'src/explore.ipynb'), notebook([
  { source: [...decoyLines.slice(0, 3), ...byPlace.notebookSource.map((p) => p.line)] },
  { source: ['print(conn_string)'], output: ['connected in 0.3s', ...byPlace.notebookOutput.map((p) => p.line)] },
]));
writeFileSync(path.join(tree, 'dist/site.tar.gz'), tarGz([{ path: 'site/config.py', data: mix(byPlace.tarball) }, { path: 'site/README', data: decoyLines.join('\n') }]));
writeFileSync(path.join(tree, 'dist/etl-1.0-py3-none-any.whl'), zip([{ path: 'etl/settings.py', data: mix(byPlace.wheel) }, { path: 'etl/__init__.py', data: '' }]));
writeFileSync(path.join(tree, 'dist/image.tar'), dockerSave([
  [{ path: 'etc/os-release', data: 'NAME=Debian\n' }],
  [{ path: 'app/.env', data: byPlace.image.map((p) => p.line).join('\n') + '\n' }, { path: 'app/main.py', data: decoyLines.join('\n') }],
]));

const repo = path.join(root, 'repo');
mkdirSync(repo);
const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@e', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@e' } }).trim();
git('init', '-q', '-b', 'main');
writeFileSync(path.join(repo, 'dag.py'), decoyLines.join('\n') + '\n');
git('add', '.');
git('commit', '-qm', 'first');
writeFileSync(path.join(repo, 'dag.py'), decoyLines.join('\n') + '\n' + byPlace.git.map((p) => p.line).join('\n') + '\n');
git('commit', '-qam', 'add credentials');
const leakCommit = git('rev-parse', 'HEAD');
writeFileSync(path.join(repo, 'dag.py'), decoyLines.join('\n') + '\n');
git('commit', '-qam', 'remove credentials');

function score(findings: Finding[], expected: Plant[]) {
  const secrets = new Set(expected.map((p) => p.secret));
  const found = new Set(findings.map((f) => f.secret).filter((s) => secrets.has(s)));
  const falsePositives = findings.filter((f) => !secrets.has(f.secret));
  return { recall: found.size / expected.length, missed: expected.filter((p) => !found.has(p.secret)).map((p) => p.rule), falsePositives };
}

test('every planted provider secret is found in code, YAML, .env, notebooks, tar.gz, wheel and image layers; no decoy fires', async () => {
  const { findings } = await scan({ paths: [tree], allowlist: createAllowlist() });
  const expected = all.filter((p) => !byPlace.git.includes(p));
  const result = score(findings, expected);
  assert.deepEqual(result.missed, [], 'missed plants');
  assert.equal(result.recall, 1);
  assert.deepEqual(result.falsePositives.map((f) => `${f.file}:${f.line} ${f.ruleId} ${f.preview}`), [], 'false positives');
  // Each planted format is reported by the rule meant for it (not only by the generic one).
  for (const plant of expected) {
    const rules = findings.filter((f) => f.secret === plant.secret).map((f) => f.ruleId);
    assert.ok(rules.includes(plant.rule), `${plant.rule} expected for its plant, got ${rules.join(',')}`);
  }
  const inImage = findings.filter((f) => f.file.startsWith('dist/image.tar!'));
  assert.equal(inImage.length, byPlace.image.length);
  assert.ok(inImage.every((f) => f.layer && f.file.endsWith('!app/.env')), 'image findings name the layer and the path in it');
  assert.ok(findings.some((f) => f.file === 'dist/site.tar.gz!site/config.py'));
  assert.ok(findings.some((f) => f.file === 'dist/etl-1.0-py3-none-any.whl!etl/settings.py'));
  assert.ok(findings.some((f) => f.file === 'src/explore.ipynb' && f.location === 'cell 2 output 1'), 'notebook output scanned');
  const envFinding = findings.find((f) => f.file === '.env')!;
  assert.equal(envFinding.line, 1);
});

test('git history: a secret added and then removed is found in the commit that added it, with the line it had', async () => {
  const { findings: tip } = await scan({ paths: [repo], allowlist: createAllowlist() });
  assert.equal(tip.length, 0, 'the working tree is clean');
  const { findings } = await scan({ paths: [repo], git: true, allowlist: createAllowlist() });
  const result = score(findings, byPlace.git);
  assert.equal(result.recall, 1);
  assert.equal(result.falsePositives.length, 0);
  assert.ok(findings.every((f) => f.commit === leakCommit && f.file === 'dag.py' && f.line > decoyLines.length));
  const since = await scan({ paths: [repo], git: true, since: leakCommit, allowlist: createAllowlist() });
  assert.equal(since.findings.length, 0, '--since skips the commits up to REF');
});

test('CLI: exit codes, JSON without values, SARIF 2.1.0, baseline, allowlists and inline custos:allow', () => {
  const run = (args: string[], cwd = tree) => spawnSync(process.execPath, [cliPath, 'scan', '--no-match', ...args], { cwd, encoding: 'utf8', env: { ...process.env, CUSTOS_TOKEN: '' } });
  const sarifFile = path.join(root, 'out.sarif');
  const json = run(['--json', '--sarif', sarifFile, '.']);
  assert.equal(json.status, 1, json.stderr);
  const report = JSON.parse(json.stdout) as { findings: { fingerprint: string; preview: string; file: string }[] };
  for (const plant of all) assert.ok(!json.stdout.includes(plant.secret.split('\n')[0]!), `the report never holds a value (${plant.rule})`);
  const sarif = JSON.parse(readFileSync(sarifFile, 'utf8')) as { version: string; runs: { results: { ruleId: string; locations: { physicalLocation: { artifactLocation: { uri: string } } }[] }[] }[] };
  assert.equal(sarif.version, '2.1.0');
  assert.equal(sarif.runs[0]!.results.length, report.findings.length);
  assert.ok(!readFileSync(sarifFile, 'utf8').includes(all[0]!.secret));

  const table = run(['.']);
  assert.equal(table.status, 1);
  assert.match(table.stdout, /src\/pipeline\.py:\d+:\d+/);

  const baselineFile = path.join(root, 'baseline.json');
  writeFileSync(baselineFile, json.stdout);
  assert.equal(run(['--baseline', baselineFile, '.']).status, 0, 'everything in the baseline is accepted');

  const clean = path.join(root, 'clean');
  mkdirSync(clean);
  writeFileSync(path.join(clean, 'a.py'), decoyLines.join('\n') + `\n${all[0]!.line}  # custos:allow test fixture\n`);
  assert.equal(run(['.'], clean).status, 0, 'inline custos:allow');
  writeFileSync(path.join(clean, 'b.py'), all[3]!.line + '\n');
  assert.equal(run(['.'], clean).status, 1);
  writeFileSync(path.join(clean, '.custos-scan.yml'), 'allow:\n  paths: ["b.py"]\n');
  assert.equal(run(['.'], clean).status, 0, 'path allowlist');
  writeFileSync(path.join(clean, '.custos-scan.yml'), `allow:\n  regexes: ["^gho_"]\n`);
  assert.equal(run(['.'], clean).status, 1, 'a regex for other secrets does not hide this one');
  writeFileSync(path.join(clean, '.custos-scan.yml'), `allow:\n  regexes: ["^gh[ps]_"]\n`);
  assert.equal(run(['.'], clean).status, 0, 'secret regex allowlist');
  writeFileSync(path.join(clean, '.custos-scan.yml'), 'allow:\n  pathz: []\n');
  assert.equal(run(['.'], clean).status, 2, 'a bad config is an error, not a clean scan');
  assert.equal(run(['--since', 'HEAD', '.'], clean).status, 2, '--since without --git is an error');
});

test('install-hook: the pre-commit hook blocks a commit that stages a secret', () => {
  const hookRepo = path.join(root, 'hooked');
  mkdirSync(hookRepo);
  const env = { ...process.env, CUSTOS_TOKEN: '', HOME: root, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@e', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@e', PATH: path.dirname(process.execPath) + ':/usr/bin:/bin' };
  const g = (...args: string[]) => spawnSync('git', args, { cwd: hookRepo, encoding: 'utf8', env });
  g('init', '-q');
  const install = spawnSync(process.execPath, [cliPath, 'scan', 'install-hook'], { cwd: hookRepo, encoding: 'utf8', env });
  assert.equal(install.status, 0, install.stderr);
  writeFileSync(path.join(hookRepo, 'ok.py'), decoyLines.join('\n'));
  g('add', '.');
  assert.equal(g('commit', '-qm', 'ok').status, 0);
  writeFileSync(path.join(hookRepo, 'leak.py'), all[9]!.line + '\n');
  g('add', '.');
  const blocked = g('commit', '-qm', 'leak');
  assert.notEqual(blocked.status, 0, 'the hook refused the commit');
  assert.match(blocked.stdout + blocked.stderr, /leak\.py:1:\d+ @staged\s+stripe-key/);
});

test('git history: a new private key replacing an old one is found although the diff pairs their BEGIN lines', async () => {
  const keys = all.filter((p) => p.rule === 'pem-private-key');
  const pemRepo = path.join(root, 'pem-repo');
  mkdirSync(pemRepo);
  const g = (...args: string[]) => execFileSync('git', args, { cwd: pemRepo, env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@e', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@e' } });
  const block = (body: string) => `-----BEGIN RSA PRIVATE KEY-----\n${body}\n-----END RSA PRIVATE KEY-----`;
  g('init', '-q');
  writeFileSync(path.join(pemRepo, 'key.py'), `a = 1\n${block(keys[0]!.secret)}\n`);
  g('add', '.');
  g('commit', '-qm', 'one key');
  writeFileSync(path.join(pemRepo, 'key.py'), `a = 1\nb = 2\n${block(keys[1]!.secret)}\n`);
  g('commit', '-qam', 'another key');
  const { findings } = await scan({ paths: [pemRepo], git: true, allowlist: createAllowlist() });
  assert.deepEqual(findings.map((f) => f.secret).sort(), [keys[0]!.secret, keys[1]!.secret].sort());
});

test('a configured but unreachable server does not block a scan unless matching was required', () => {
  const env = { ...process.env, CUSTOS_TOKEN: 'cst_' + 'a'.repeat(43), CUSTOS_ADDR: 'http://127.0.0.1:9' };
  const auto = spawnSync(process.execPath, [cliPath, 'scan', 'src/pipeline.py'], { cwd: tree, encoding: 'utf8', env });
  assert.equal(auto.status, 1, auto.stderr);
  assert.match(auto.stderr, /known-value matching skipped/);
  const required = spawnSync(process.execPath, [cliPath, 'scan', '--match', 'src/pipeline.py'], { cwd: tree, encoding: 'utf8', env });
  assert.equal(required.status, 2);
  assert.match(required.stderr, /unreachable/);
});

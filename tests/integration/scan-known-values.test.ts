import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { api, runCli, startServer, type RunningServer } from '../support/custos-server.js';
import { assertErrorBody, createToken, writePolicy } from '../support/http-helpers.js';
import { waitRotationDone } from '../support/rotation-fixture.js';
import { randomString } from '../support/scan-corpus.js';

/**
 * Known-value matching end to end: stored values planted in files (alone, inside a URL, inside
 * a JSON blob, an older PREVIOUS value) are named by the scanner with field and label; --rotate
 * starts the secret's rotation; candidates never reach the server's logs, audit or database;
 * a token may only learn about secrets it may list.
 */
let server: RunningServer;
let dir: string;
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const pw = () => `${randomString(ALNUM, 14)}-${randomString(ALNUM, 6)}`;
const oldPassword = pw();
const currentPassword = pw();
const apiKey = `k${randomString(ALNUM, 31)}`;
const stripeKey = `sk_live_${randomString(ALNUM, 24)}`;
// A string that is no stored secret: it is still a candidate and must not reach the server either.
const innocentCandidate = `not-a-secret-${randomString(ALNUM, 16)}`;
const WAREHOUSE = 'prod/analytics-pipeline/warehouse-db';
const cli = (args: string[], token: string, cwd: string) => runCli(['scan', ...args], { server, cwd, env: { CUSTOS_TOKEN: token } });

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'custos-scan-known-'));
  server = await startServer({ logLevel: 'debug', env: { CUSTOS_ROTATION_TICK_SECONDS: '0.3' } });
  const put = async (name: string, value: string) => assert.ok([200, 201].includes((await api(server, 'POST', `/v1/values/${name}`, { token: server.token, body: { value, create_if_missing: {} } })).status));
  await put(WAREHOUSE, JSON.stringify({ engine: 'postgres', host: 'warehouse.internal', username: 'etl', password: oldPassword }));
  await put(WAREHOUSE, JSON.stringify({ engine: 'postgres', host: 'warehouse.internal', username: 'etl', password: currentPassword }));
  await put('prod/payments/stripe', stripeKey);
  await put('dev/app/api-key', apiKey);
  writeFileSync(path.join(dir, 'rotator.mjs'), 'process.exit(0);\n');
  const set = await runCli(['rotation', 'set', WAREHOUSE, '--rotator', 'command', '--command', process.execPath, '--command-arg', path.join(dir, 'rotator.mjs'), '--every', '30d', '--json'], { server, env: { CUSTOS_TOKEN: server.token } });
  assert.equal(set.code, 0, set.stderr);

  const repo = path.join(dir, 'repo');
  mkdirSync(repo);
  writeFileSync(path.join(repo, 'dag.py'), `DSN = "postgresql://etl:${currentPassword}@warehouse.internal:5432/dw"\nlabel = "${innocentCandidate}"\n`);
  writeFileSync(path.join(repo, 'old-config.json'), JSON.stringify({ warehouse: { user: 'etl', password: oldPassword } }, null, 2));
  writeFileSync(path.join(repo, 'NOTES.md'), `The dev key is ${apiKey} for now.\n`);
  writeFileSync(path.join(repo, 'pay.py'), `stripe.api_key = "${stripeKey}"\n`);
  const leakOnly = path.join(dir, 'leak-only');
  mkdirSync(leakOnly);
  writeFileSync(path.join(leakOnly, 'settings.json'), JSON.stringify({ db: { password: currentPassword } }));
});

after(async () => {
  await server?.stop();
  server?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

type Report = { findings: { rule: string; file: string; line: number; matches: { secret: string; field: string; label: string; version_id: string }[] }[] };
const matchesIn = (report: Report, file: string) => report.findings.filter((f) => f.file === file).flatMap((f) => f.matches.map((m) => `${m.secret}|${m.field}|${m.label}`));

test('stored values planted in a URL, a JSON blob, plain text and code are named with field and label', async () => {
  const r = await cli(['--json', '.'], server.token, path.join(dir, 'repo'));
  assert.equal(r.code, 1, r.stderr);
  const report = JSON.parse(r.stdout) as Report;
  assert.deepEqual(matchesIn(report, 'dag.py'), [`${WAREHOUSE}|password|CURRENT`], 'password inside a connection URL');
  assert.deepEqual(matchesIn(report, 'old-config.json'), [`${WAREHOUSE}|password|PREVIOUS`], 'the PREVIOUS value inside a JSON blob');
  assert.deepEqual(matchesIn(report, 'NOTES.md'), ['dev/app/api-key||CURRENT'], 'a bare value no rule would catch');
  assert.equal(report.findings.find((f) => f.file === 'NOTES.md')!.rule, 'known-value');
  assert.deepEqual(matchesIn(report, 'pay.py'), ['prod/payments/stripe||CURRENT']);
  for (const value of [oldPassword, currentPassword, apiKey, stripeKey]) assert.ok(!r.stdout.includes(value), 'the report never holds a value');

  const events = await api(server, 'GET', '/v1/audit/events?operation=scan.leak_found&limit=100', { token: server.token });
  const leaks = events.body.events as { secret: string; outcome: string; detail: Record<string, unknown> }[];
  assert.ok(leaks.some((e) => e.secret === WAREHOUSE && e.detail.alert === true && e.detail.field === 'password' && e.detail.label === 'PREVIOUS'));
  assert.ok(leaks.every((e) => e.detail.alert === true));
});

test('--rotate starts the leaked secret\'s configured rotation', async () => {
  const before = await api(server, 'GET', `/v1/values/${WAREHOUSE}`, { token: server.token });
  const r = await cli(['--rotate', '.'], server.token, path.join(dir, 'leak-only'));
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, new RegExp(`settings\\.json:1:\\d+\\s+generic-secret-assignment.*${WAREHOUSE} field password \\(CURRENT\\)`));
  assert.match(r.stderr, new RegExp(`rotation of ${WAREHOUSE} started`));
  const status = await waitRotationDone(server, server.token, WAREHOUSE);
  assert.equal(status.latest.status, 'succeeded', JSON.stringify(status.latest));
  assert.equal(status.latest.trigger === undefined ? 'manual' : typeof status.latest.trigger, 'string');
  const afterRotation = await api(server, 'GET', `/v1/values/${WAREHOUSE}`, { token: server.token });
  assert.notEqual(afterRotation.body.version_id, before.body.version_id);
  assert.notEqual(JSON.parse(afterRotation.body.value).password, currentPassword, 'a new password');
  // The leaked value is PREVIOUS now and still found (until it stops being valid), the index followed the rotation.
  const again = JSON.parse((await cli(['--json', '.'], server.token, path.join(dir, 'leak-only'))).stdout) as Report;
  assert.deepEqual(matchesIn(again, 'settings.json'), [`${WAREHOUSE}|password|PREVIOUS`]);
});

test('a token without list on prod/ learns nothing about prod secrets; without sys:scan it cannot match at all', async () => {
  await writePolicy(server, 'scan-dev', JSON.stringify({ rules: [{ path: 'sys:scan', capabilities: ['read'] }, { path: 'dev/**', capabilities: ['list'] }] }));
  await writePolicy(server, 'list-only', JSON.stringify({ rules: [{ path: '**', capabilities: ['list'] }] }));
  const devScanner = await createToken(server, { policies: ['scan-dev'] });
  const r = await cli(['--json', '.'], devScanner.token, path.join(dir, 'repo'));
  assert.equal(r.code, 1, r.stderr);
  const report = JSON.parse(r.stdout) as Report;
  assert.deepEqual(report.findings.flatMap((f) => f.matches.map((m) => m.secret)), ['dev/app/api-key']);
  assert.ok(!r.stdout.includes('prod/'), 'no prod name anywhere in what it was told');
  // The leak is still an alert for whoever reads the audit log.
  const events = await api(server, 'GET', `/v1/audit/events?operation=scan.leak_found&principal=${devScanner.accessor}&limit=100`, { token: server.token });
  assert.ok((events.body.events as { secret: string; outcome: string; detail: Record<string, unknown> }[]).some((e) => e.secret === WAREHOUSE && e.outcome === 'denied' && e.detail.reported === false));

  const noScan = await createToken(server, { policies: ['list-only'] });
  const refused = await cli(['.'], noScan.token, path.join(dir, 'repo'));
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /permission_denied/);
  const offline = await cli(['--no-match', '.'], noScan.token, path.join(dir, 'repo'));
  assert.equal(offline.code, 1, 'detectors still run offline');
});

test('the match and evaluate endpoints refuse plaintext-looking input without echoing it', async () => {
  const plaintext = `hunter2-${randomString(ALNUM, 12)}`;
  assertErrorBody(await api(server, 'POST', '/v1/scan/match', { token: server.token, body: { fingerprints: [plaintext] } }), 400, 'scan_input_invalid');
  assertErrorBody(await api(server, 'POST', '/v1/scan/evaluate', { token: server.token, body: { points: [plaintext] } }), 400, 'scan_input_invalid');
  const notOnCurve = '02' + 'f'.repeat(64);
  const r = await api(server, 'POST', '/v1/scan/evaluate', { token: server.token, body: { points: [notOnCurve] } });
  assertErrorBody(r, 400, 'scan_input_invalid');
  assert.ok(!JSON.stringify(r.body).includes(plaintext));
  const m = await api(server, 'POST', '/v1/scan/match', { token: server.token, body: { fingerprints: [currentPassword.toLowerCase().padEnd(64, '0').slice(0, 64)] } });
  assert.ok(m.status === 400 || (m.status === 200 && m.body.matches.length === 0), 'a guessed plaintext is never looked up as itself');

  // Nothing that was a candidate (stored values, innocent strings, the refused plaintext) is in
  // the server's output, its audit log, or its database files.
  const audit = JSON.stringify((await api(server, 'GET', '/v1/audit/events?limit=1000', { token: server.token })).body);
  const files = readdirSync(server.dataDir).map((f) => readFileSync(path.join(server.dataDir, f)).toString('latin1')).join('\n');
  for (const value of [oldPassword, currentPassword, apiKey, stripeKey, innocentCandidate, plaintext]) {
    assert.ok(!server.output().includes(value), 'server logs');
    assert.ok(!audit.includes(value), 'audit log');
    assert.ok(!files.includes(value), 'database files');
  }
});

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { api, runCli, startServer, type RunningServer } from '../support/custos-server.js';
import { labelsOf, rootToken, waitRotationDone } from '../support/rotation-fixture.js';

/**
 * The `command` rotator with real child processes and the `webhook` rotator against a real
 * local HTTPS server (self-signed certificate made with openssl), plus the CLI.
 */
let server: RunningServer;
let token: string;
let dir: string;

// The "target system" of the command rotator is a file; the script reads PENDING through the
// Custos API with the short-lived token it is given, and records what it saw.
const SCRIPT = `
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
const dir = process.argv[2];
const event = JSON.parse(readFileSync(0, 'utf8'));
appendFileSync(path.join(dir, 'steps.log'), event.step + ' ' + event.token + '\\n');
appendFileSync(path.join(dir, 'tokens.log'), process.env.CUSTOS_TOKEN + '\\n');
const read = async (query) => {
  const r = await fetch(process.env.CUSTOS_ADDR + '/v1/values/' + event.secretName + query, { headers: { authorization: 'Bearer ' + process.env.CUSTOS_TOKEN } });
  if (!r.ok) process.exit(10);
  return (await r.json()).value;
};
const target = path.join(dir, 'target.txt');
if (event.step === 'set') {
  if (existsSync(path.join(dir, 'block-set'))) {
    writeFileSync(path.join(dir, 'blocked'), 'yes');
    while (existsSync(path.join(dir, 'block-set'))) await new Promise((r) => setTimeout(r, 50));
  }
  writeFileSync(target, await read('?version_id=' + event.token));
}
if (event.step === 'test') {
  if (existsSync(path.join(dir, 'fail-test'))) process.exit(3);
  if (readFileSync(target, 'utf8') !== await read('?version_id=' + event.token)) process.exit(4);
}
if (event.step === 'rollback') writeFileSync(target, await read('?label=CURRENT'));
process.exit(0);
`;

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'custos-rot-ext-'));
  writeFileSync(path.join(dir, 'rotator.mjs'), SCRIPT);
  server = await startServer({ env: { CUSTOS_ROTATION_TICK_SECONDS: '0.3' } });
  token = server.token;
});

after(async () => {
  await server?.stop();
  server?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const steps = () => readFileSync(path.join(dir, 'steps.log'), 'utf8').trim().split('\n').map((l) => l.split(' ')[0]);
const cli = (args: string[]) => runCli(args, { server });

test('command rotator via the CLI: each phase runs the executable; its scoped token is revoked afterwards', async () => {
  await api(server, 'POST', '/v1/secrets', { token, body: { name: 'prod/partner/api', value: JSON.stringify({ api_key: 'k-initial', password: 'p-initial-value' }) } });
  await api(server, 'POST', '/v1/secrets', { token, body: { name: 'prod/other', value: 'not for the rotator' } });
  writeFileSync(path.join(dir, 'target.txt'), JSON.stringify({ api_key: 'k-initial', password: 'p-initial-value' }));

  // The due time is now + 30 days at today's time of day. A window that time is well outside of
  // (an hour of margin each side) must move it to the window's opening, whenever the test runs;
  // a fixed 02:00-04:00 window failed this test between 02:00 and 04:00 UTC.
  const hour = new Date().getUTCHours();
  const opening = [2, 10, 18].find((h) => hour < h - 1 || hour > h + 2)!;
  const hh = (h: number) => String(h).padStart(2, '0');
  const set = await cli(['rotation', 'set', 'prod/partner/api', '--rotator', 'command', '--command', process.execPath, '--command-arg', path.join(dir, 'rotator.mjs'),
    '--command-arg', dir, '--every', '30d', '--window', `${hh(opening)}:00-${hh(opening + 2)}:00`, '--password-length', '24', '--json']);
  assert.equal(set.code, 0, set.stderr);
  const configured = JSON.parse(set.stdout);
  assert.equal(configured.settings.rotator, 'command');
  assert.equal(configured.settings.every_seconds, 30 * 86_400);
  assert.match(configured.next_due_at, new RegExp(`T${hh(opening)}:00:00\\.000Z$`), 'due time moved into the window');

  const rotated = await cli(['rotate', 'prod/partner/api', '--wait', '--json']);
  assert.equal(rotated.code, 0, rotated.stderr);
  const run = JSON.parse(rotated.stdout);
  assert.equal(run.status, 'succeeded', rotated.stdout);
  assert.deepEqual(steps(), ['create', 'set', 'test', 'finish']);

  const current = await api(server, 'GET', '/v1/values/prod/partner/api', { token });
  assert.equal(current.body.version_id, run.token);
  const value = JSON.parse(current.body.value);
  assert.equal(value.api_key, 'k-initial', 'other fields are kept');
  assert.equal(value.password.length, 24);
  assert.equal(readFileSync(path.join(dir, 'target.txt'), 'utf8'), current.body.value, 'the target got the new credential');

  // Each phase had its own token, limited to this secret and revoked once the phase ended.
  const tokens = readFileSync(path.join(dir, 'tokens.log'), 'utf8').trim().split('\n');
  assert.equal(new Set(tokens).size, 4);
  const self = await api(server, 'GET', '/v1/tokens/self', { token: tokens[0] });
  assert.equal(self.status, 401);
  assert.equal(self.body.error.code, 'token_revoked');

  const status = await cli(['rotation', 'status', 'prod/partner/api']);
  assert.equal(status.code, 0);
  assert.match(status.stdout, /succeeded/);
  const history = await cli(['rotation', 'history', 'prod/partner/api', '--json']);
  assert.equal(JSON.parse(history.stdout).rotations.length, 1);
  const list = await cli(['rotation', 'list', '--json']);
  assert.deepEqual(JSON.parse(list.stdout).secrets.map((s: { secret: string }) => s.secret), ['prod/partner/api']);
  const overdue = await cli(['rotation', 'list', '--overdue', '--json']);
  assert.deepEqual(JSON.parse(overdue.stdout).secrets, []);
  const bad = await cli(['rotation', 'set', 'prod/partner/api', '--rotator', 'command', '--window', '25:00-26:00']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /validation_failed/);
});

test('command rotator: a failing test phase runs rollback, removes PENDING and records the failure', async () => {
  unlinkSync(path.join(dir, 'steps.log'));
  writeFileSync(path.join(dir, 'fail-test'), '1');
  try {
    const before = await labelsOf(server, token, 'prod/partner/api');
    const r = await api(server, 'POST', '/v1/rotate/prod/partner/api?wait=30', { token });
    assert.equal(r.body.status, 'failed');
    assert.match(r.body.error, /exited with 3 at step test/);
    assert.deepEqual(steps(), ['create', 'set', 'test', 'rollback']);
    const after = await labelsOf(server, token, 'prod/partner/api');
    assert.equal(after.CURRENT, before.CURRENT);
    assert.equal(after.PENDING, undefined);
    const current = await api(server, 'GET', '/v1/values/prod/partner/api', { token });
    assert.equal(readFileSync(path.join(dir, 'target.txt'), 'utf8'), current.body.value, 'the target is back on CURRENT');
  } finally {
    unlinkSync(path.join(dir, 'fail-test'));
  }
});

test('kill -9 while the command rotator is blocked in set: after restart set re-runs and the rotation completes', async () => {
  unlinkSync(path.join(dir, 'steps.log'));
  writeFileSync(path.join(dir, 'block-set'), '1');
  const r = await api(server, 'POST', '/v1/rotate/prod/partner/api', { token });
  assert.equal(r.status, 202);
  const deadline = Date.now() + 15_000;
  while (!existsSync(path.join(dir, 'blocked')) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
  assert.ok(existsSync(path.join(dir, 'blocked')), 'the rotator is blocked inside set');
  const { dataDir, home } = server;
  await server.kill();
  unlinkSync(path.join(dir, 'block-set'));
  server = await startServer({ dataDir, home, env: { CUSTOS_ROTATION_TICK_SECONDS: '0.3' } });
  token = rootToken(server);
  const status = await waitRotationDone(server, token, 'prod/partner/api');
  assert.equal(status.latest.status, 'succeeded', JSON.stringify(status.latest));
  assert.equal(status.latest.id, r.body.id, 'the same run resumed');
  const seen = steps();
  assert.equal(seen.filter((s) => s === 'set').length >= 2, true, `set re-ran: ${seen.join(',')}`);
  assert.equal(seen.at(-1), 'finish');
  assert.equal((await labelsOf(server, token, 'prod/partner/api')).PENDING, undefined);
  const current = await api(server, 'GET', '/v1/values/prod/partner/api', { token });
  assert.equal(current.body.version_id, r.body.token);
});

test('webhook rotator: signed HTTPS calls per phase; a non-2xx test answer rolls back', async () => {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const hmacKey = 'webhook-shared-key-1234567890';
  await api(server, 'POST', '/v1/secrets', { token, body: { name: 'prod/hooks/key', value: hmacKey } });
  await api(server, 'POST', '/v1/secrets', { token, body: { name: 'prod/hooked', value: JSON.stringify({ username: 'svc', password: 'old-password-123' }) } });

  const calls: { step: string; valid: boolean }[] = [];
  let failTest = false;
  const hook = https.createServer({ key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem')) }, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const expected = Buffer.from('sha256=' + createHmac('sha256', hmacKey).update(body).digest('hex'));
      const given = Buffer.from(String(req.headers['x-custos-signature'] ?? ''));
      const valid = given.length === expected.length && timingSafeEqual(given, expected);
      const event = JSON.parse(body) as { step: string; secretName: string };
      calls.push({ step: event.step, valid });
      appendFileSync(path.join(dir, 'webhook.log'), body + '\n');
      res.statusCode = !valid ? 401 : failTest && event.step === 'test' ? 500 : 200;
      res.end('{}');
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
  try {
    const url = `https://127.0.0.1:${(hook.address() as { port: number }).port}/rotate`;
    const set = await api(server, 'PUT', '/v1/rotation/prod/hooked', { token, body: { settings: { rotator: 'webhook', webhook: { url, hmac_secret: 'prod/hooks/key', ca_file: path.join(dir, 'cert.pem') } } } });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    const ok = await api(server, 'POST', '/v1/rotate/prod/hooked?wait=30', { token });
    assert.equal(ok.body.status, 'succeeded', JSON.stringify(ok.body));
    assert.deepEqual(calls.map((c) => c.step), ['create', 'set', 'test', 'finish']);
    assert.ok(calls.every((c) => c.valid), 'every call carried a valid HMAC signature');
    const value = JSON.parse((await api(server, 'GET', '/v1/values/prod/hooked', { token })).body.value);
    assert.equal(value.username, 'svc');
    assert.notEqual(value.password, 'old-password-123');
    assert.ok(!readFileSync(path.join(dir, 'webhook.log'), 'utf8').includes(value.password), 'webhook bodies carry no credential');

    calls.length = 0;
    failTest = true;
    const failed = await api(server, 'POST', '/v1/rotate/prod/hooked?wait=30', { token });
    assert.equal(failed.body.status, 'failed');
    assert.match(failed.body.error, /answered 500 at step test/);
    assert.deepEqual(calls.map((c) => c.step), ['create', 'set', 'test', 'rollback']);
    assert.equal((await labelsOf(server, token, 'prod/hooked')).PENDING, undefined);
  } finally {
    hook.close();
  }
});

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, startServer, type RunningServer } from '../support/custos-server.js';

/**
 * One error format for every CLI failure, `error: <code>: <message>`, with messages that say
 * what to do: a server nobody initialized says to run `custos operator init`, a missing token
 * says how to log in, a rejected flag names the field (never the validator's
 * `querystring/...` path). Dev mode prints each warning once.
 */
let dev: RunningServer;
let fresh: RunningServer;
let emptyHome: string;

before(async () => {
  dev = await startServer({ logLevel: 'info' });
  fresh = await startServer({ dev: false });
  emptyHome = mkdtempSync(path.join(os.tmpdir(), 'custos-nohome-'));
});

after(async () => {
  for (const s of [dev, fresh]) {
    await s?.stop();
    s?.cleanup();
  }
  rmSync(emptyHome, { recursive: true, force: true });
});

const FORMAT = /^error: [a-z][a-z0-9_]*: \S/;

test('a server that was never initialized says to run `custos operator init`, not "sealed"', async () => {
  const r = await runCli(['secret', 'get', 'prod/x'], { server: fresh });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^error: not_initialized: Custos is not initialized; run `custos operator init`/);
  assert.doesNotMatch(r.stderr, /sealed/);
});

test('a missing token says how to log in', async () => {
  const r = await runCli(['secret', 'list'], { server: { address: dev.address, home: emptyHome } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, FORMAT);
  assert.match(r.stderr, /^error: missing_token: no token for http:\/\/127\.0\.0\.1:\d+: run `custos login`.*CUSTOS_TOKEN/);
});

test('errors the CLI finds itself carry a code too; file errors say which', async () => {
  const noValue = await runCli(['secret', 'put', 'prod/a'], { server: dev });
  assert.match(noValue.stderr, /^error: invalid_input: give exactly one of/);
  const noFile = await runCli(['secret', 'put', 'prod/a', '--file', '/nonexistent/creds.json'], { server: dev });
  assert.match(noFile.stderr, /^error: file_not_found: /);
  const badTag = await runCli(['secret', 'put', 'prod/a', '--value', 'v', '--tag', 'nokey'], { server: dev });
  assert.match(badTag.stderr, FORMAT);
});

test('a rejected value names the field, not the validator\'s path', async () => {
  await runCli(['secret', 'put', 'dev/x', '--value', 'v'], { server: dev });
  const r = await runCli(['secret', 'delete', 'dev/x', '--recovery-days', '99'], { server: dev });
  assert.equal(r.code, 1);
  assert.match(r.stderr, FORMAT);
  assert.match(r.stderr, /recovery_days/);
  assert.doesNotMatch(r.stderr, /querystring\/|body\//);
});

test('dev mode prints each warning once', () => {
  const out = dev.output();
  assert.equal(out.split('dev mode keeps the unseal key').length - 1, 1, out);
  assert.equal(out.split('accepts AWS access key "test"').length - 1, 1, out);
});

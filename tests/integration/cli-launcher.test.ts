import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createApiClient } from '../../src/sdk/api-client.js';
import { launcherPath, repoRoot, runCli, startServer, type CliResult, type RunningServer } from '../support/custos-server.js';

/**
 * bin/custos, the executable npm links as `custos`: it starts `run` and `render` without
 * NODE_EXTRA_CA_CERTS (Node would build a CA store at start-up) and the HTTP client loads the
 * bundle only for https. These tests pin the behaviour that must not change because of it:
 * the child sees the caller's environment, and TLS trusts exactly what Node would have.
 */
const tlsDir = path.join(repoRoot, 'tests/fixtures/tls');
/** A self-signed certificate for 127.0.0.1, used as its own CA. Tests only. */
const certFile = path.join(tlsDir, 'localhost-cert.pem');

describe('the custos launcher (bin/custos)', () => {
  let server: RunningServer;
  let tlsProxy: https.Server;
  let httpsAddress: string;
  let work: string;

  // Each test sets NODE_EXTRA_CA_CERTS itself; the machine's own value is not inherited.
  const custos = (args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> =>
    runCli(args, { launcher: true, server, cwd: work, env: { NODE_EXTRA_CA_CERTS: undefined, CUSTOS_TOKEN: server.token, ...env } });

  before(async () => {
    server = await startServer({ logLevel: 'warn' });
    work = mkdtempSync(path.join(os.tmpdir(), 'custos-launcher-'));
    await createApiClient({ address: server.address, token: server.token }).createSecret({ name: 'prod/etl/api-key', value: 'tls-read-value-42' });
    // TLS in front of the server, as a reverse proxy would put it.
    tlsProxy = https.createServer({ key: readFileSync(path.join(tlsDir, 'localhost-key.pem')), cert: readFileSync(certFile) }, (req, res) => {
      const upstream = http.request(new URL(req.url ?? '/', server.address), { method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => tlsProxy.listen(0, '127.0.0.1', resolve));
    httpsAddress = `https://127.0.0.1:${(tlsProxy.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => tlsProxy.close(() => resolve()));
    await server.stop();
    server.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  test('run: Node starts without the CA bundle, and the command still inherits NODE_EXTRA_CA_CERTS', async () => {
    // Node warns at start-up when NODE_EXTRA_CA_CERTS cannot be read: a missing file shows
    // whether Node itself loaded it.
    const missing = path.join(work, 'no-such-bundle.pem');
    const direct = await custos(['--version'], { NODE_EXTRA_CA_CERTS: missing });
    assert.equal(direct.code, 0);
    // Node 20 reads the bundle at start-up (the cost the launcher avoids); a Node that reads it
    // lazily has nothing to avoid, and then only the environment checks below apply.
    const eager = /Ignoring extra certs/.test(direct.stderr);
    if (process.versions.node.startsWith('20.')) assert.ok(eager, 'other commands start Node with the environment as it is');

    const r = await custos(['run', '--env', 'KEY=secret://prod/etl/api-key', '--', 'sh', '-c', 'printf "%s|%s|%s" "$KEY" "$NODE_EXTRA_CA_CERTS" "${CUSTOS_DEFERRED_CA_CERTS-unset}"'], { NODE_EXTRA_CA_CERTS: missing });
    assert.equal(r.code, 0, r.stderr);
    if (eager) assert.equal(r.stderr, '', 'Node did not read the bundle at start-up (plain HTTP never needs it)');
    assert.equal(r.stdout, `tls-read-value-42|${missing}|unset`);

    // A NODE_OPTIONS that picks another CA store: Node is left to load the bundle itself.
    const otherStore = await custos(['run', '--env', 'A=1', '--', 'true'], { NODE_EXTRA_CA_CERTS: missing, NODE_OPTIONS: '--use-openssl-ca' });
    assert.equal(otherStore.code, 0, otherStore.stderr);
    if (eager) assert.match(otherStore.stderr, /Ignoring extra certs/);
  });

  test('run over https trusts the deferred bundle, and only it', async () => {
    const read = ['run', '--env', 'KEY=secret://prod/etl/api-key', '--', 'printenv', 'KEY'];
    const trusted = await custos(read, { CUSTOS_ADDR: httpsAddress, NODE_EXTRA_CA_CERTS: certFile });
    assert.equal(trusted.code, 0, trusted.stderr);
    assert.equal(trusted.stdout, 'tls-read-value-42\n');

    const untrusted = await custos(read, { CUSTOS_ADDR: httpsAddress });
    assert.notEqual(untrusted.code, 0);
    assert.match(untrusted.stderr, /certificate/i);
    assert.ok(!untrusted.stdout.includes('tls-read-value-42'));

    // An unreadable bundle is a warning, as in Node, and the certificate is still refused.
    const unreadable = await custos(read, { CUSTOS_ADDR: httpsAddress, NODE_EXTRA_CA_CERTS: path.join(work, 'missing.pem') });
    assert.notEqual(unreadable.code, 0);
    assert.match(unreadable.stderr, /Ignoring extra certs from/);
    assert.match(unreadable.stderr, /certificate/i);
  });

  test('render over https trusts the deferred bundle', async () => {
    const template = path.join(work, 'config.yaml');
    writeFileSync(template, 'api_key: secret://prod/etl/api-key\n');
    const r = await custos(['render', template], { CUSTOS_ADDR: httpsAddress, NODE_EXTRA_CA_CERTS: certFile });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'api_key: "tls-read-value-42"\n');
  });

  test('works through a symlink, as npm links it into node_modules/.bin', async () => {
    const link = path.join(work, 'custos');
    symlinkSync(launcherPath, link);
    const child = spawn(link, ['run', '--env', 'KEY=secret://prod/etl/api-key', '--', 'printenv', 'KEY'], {
      env: { ...process.env, CUSTOS_TOKEN: server.token, CUSTOS_ADDR: server.address, HOME: server.home }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    assert.equal(await new Promise((resolve) => child.on('close', resolve)), 0);
    assert.equal(stdout, 'tls-read-value-42\n');
  });
});

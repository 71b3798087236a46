import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runCli, startServer, type RunningServer } from '../support/custos-server.js';
import { eventually, uniqueName } from '../support/http-helpers.js';
import { changeFeedOn, freshRequest, pinWorkers, type WorkerClient } from '../support/worker-clients.js';

/**
 * `custos server --workers 2` on SQLite: two real worker processes behind one port. Each
 * check pins a connection to a worker (x-custos-worker says which) or opens a new connection
 * per request, and asserts what a client of a one-process server could rely on.
 */

const workerPids = (server: RunningServer, index: number) =>
  [...server.output().matchAll(new RegExp(`"worker":${index},"pid":(\\d+),"msg":"worker listening"`, 'g'))].map((m) => Number(m[1]));

async function ok(pending: ReturnType<WorkerClient['request']>) {
  const response = await pending;
  assert.ok(response.status >= 200 && response.status < 300, `${response.status} ${JSON.stringify(response.body)}`);
  return response;
}

test('--workers 2 on SQLite: both serve, reads see every write at once, seal and unseal follow, a killed worker comes back, one audit chain', { timeout: 240_000 }, async (t) => {
  const server = await startServer({ args: ['--workers', '2'] });
  t.after(async () => {
    await server.kill();
    server.cleanup();
  });
  const root = server.token;
  assert.match(root, /^cst_/);
  // The root token is printed once, not once per worker.
  assert.equal(server.output().split('Root token:').length, 2);
  let clients = await pinWorkers(server, 2);
  let a = clients.get('0')!;
  let b = clients.get('1')!;
  t.after(() => [...clients.values()].forEach((c) => c.close()));

  await t.test('every response says which worker answered; new connections reach both', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) seen.add((await freshRequest(server, 'GET', '/v1/health')).worker!);
    assert.deepEqual([...seen].sort(), ['0', '1']);
  });

  const name = uniqueName('prod/workers');
  await t.test('a write acknowledged by one worker is read by the other at once, over pinned and new connections', async () => {
    await ok(a.request('POST', '/v1/secrets', { token: root, body: { name, value: 'v-0' } }));
    for (let i = 1; i <= 40; i++) {
      const [writer, reader] = i % 2 ? [a, b] : [b, a];
      // Warm the reader's caches with the old value first: a stale cache would serve it.
      assert.equal((await reader.request('GET', `/v1/values/${name}`, { token: root })).body.value, `v-${i - 1}`);
      await ok(writer.request('POST', `/v1/values/${name}`, { token: root, body: { value: `v-${i}` } }));
      assert.equal((await reader.request('GET', `/v1/values/${name}`, { token: root })).body.value, `v-${i}`);
      assert.equal((await freshRequest(server, 'GET', `/v1/values/${name}`, { token: root })).body.value, `v-${i}`);
    }
  });

  await t.test('a label move on one worker is what the other serves next', async () => {
    const versions = (await a.request('GET', `/v1/versions/${name}`, { token: root })).body.versions as { version_id: string; labels: string[] }[];
    const current = versions.find((v) => v.labels.includes('CURRENT'))!.version_id;
    const older = versions.find((v) => v.labels.includes('PREVIOUS'))!.version_id;
    let [from, to] = [current, older];
    for (let i = 0; i < 6; i++) {
      const [mover, reader] = i % 2 ? [a, b] : [b, a];
      const before = (await reader.request('GET', `/v1/values/${name}`, { token: root })).body.version_id;
      assert.equal(before, from);
      await ok(mover.request('POST', `/v1/labels/${name}`, { token: root, body: { label: 'CURRENT', move_to_version_id: to, remove_from_version_id: from } }));
      assert.equal((await reader.request('GET', `/v1/values/${name}`, { token: root })).body.version_id, to);
      [from, to] = [to, from];
    }
  });

  await t.test('a rotation finished through one worker is what every worker serves next', async () => {
    // A command rotator whose target system is a file: `set` fetches PENDING through whichever worker takes the connection.
    const dir = path.join(server.home, 'rotator');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'rotator.mjs'), `
      import { readFileSync, writeFileSync } from 'node:fs';
      const event = JSON.parse(readFileSync(0, 'utf8'));
      if (event.step === 'set') {
        const r = await fetch(process.env.CUSTOS_ADDR + '/v1/values/' + event.secretName + '?version_id=' + event.token, { headers: { authorization: 'Bearer ' + process.env.CUSTOS_TOKEN } });
        if (!r.ok) process.exit(10);
        writeFileSync(process.argv[2] + '/target.txt', (await r.json()).value);
      }
      process.exit(0);`);
    const rotated = uniqueName('prod/workers-rotated');
    await ok(a.request('POST', '/v1/secrets', { token: root, body: { name: rotated, value: 'before-rotation' } }));
    for (const c of [a, b]) assert.equal((await c.request('GET', `/v1/values/${rotated}`, { token: root })).body.value, 'before-rotation');
    const cli = (args: string[]) => runCli(args, { server, env: { CUSTOS_TOKEN: root } });
    const set = await cli(['rotation', 'set', rotated, '--rotator', 'command', '--command', process.execPath, '--command-arg', path.join(dir, 'rotator.mjs'), '--command-arg', dir, '--json']);
    assert.equal(set.code, 0, set.stderr);
    for (let i = 0; i < 2; i++) {
      const run = await cli(['rotate', rotated, '--wait', '--json']);
      assert.equal(run.code, 0, run.stderr);
      const { status, token: versionId } = JSON.parse(run.stdout);
      assert.equal(status, 'succeeded', run.stdout);
      for (const c of [a, b]) {
        const read = await c.request('GET', `/v1/values/${rotated}`, { token: root });
        assert.equal(read.body.version_id, versionId, `worker ${c.worker} serves the rotated version`);
        assert.equal(read.body.value, readFileSync(path.join(dir, 'target.txt'), 'utf8'));
      }
    }
  });

  await t.test('a token revoked on one worker is refused by the other at once', async () => {
    await ok(a.request('PUT', '/v1/policies/workers-read', { token: root, body: { document: JSON.stringify({ rules: [{ path: 'prod/**', capabilities: ['read'] }] }) } }));
    const created = await ok(a.request('POST', '/v1/tokens', { token: root, body: { policies: ['workers-read'] } }));
    const token: string = created.body.token;
    assert.equal((await b.request('GET', '/v1/tokens/self', { token })).status, 200); // cached on b
    await ok(a.request('POST', '/v1/tokens/revoke', { token, body: {} }));
    const refused = await b.request('GET', '/v1/tokens/self', { token });
    assert.equal(refused.status, 401, JSON.stringify(refused.body));
  });

  await t.test('a change-feed subscriber on one worker hears of a write made on the other', async () => {
    const feed = await changeFeedOn(server, '1', root);
    try {
      await eventually('the feed is ready', () => feed.text().includes('event: ready'));
      const fed = uniqueName('prod/workers-feed');
      await ok(a.request('POST', '/v1/secrets', { token: root, body: { name: fed, value: 'x' } }));
      await eventually('the write reaches the subscriber on worker 1', () => feed.text().includes(fed));
    } finally {
      feed.close();
    }
  });

  await t.test('/metrics adds up every worker', async () => {
    for (let i = 0; i < 5; i++) {
      await a.request('GET', '/v1/seal-status-unknown');
      await b.request('GET', '/v1/seal-status-unknown');
    }
    const scrape = await ok(a.request('GET', '/metrics', { token: root }));
    const unmatched = /custos_http_requests_total\{route="unmatched",method="GET",outcome="failure"\} (\d+)/.exec(scrape.body as string);
    assert.ok(unmatched && Number(unmatched[1]) >= 10, `both workers' 404s counted: ${unmatched?.[0]}`);
    assert.match(scrape.body as string, /^custos_sealed 0$/m);
  });

  await t.test('sealing through one worker seals both; unsealing through the other unseals both', async () => {
    await ok(a.request('POST', '/v1/sys/seal', { token: root }));
    assert.equal((await b.request('GET', '/v1/sys/seal-status')).body.sealed, true);
    assert.equal((await b.request('GET', `/v1/values/${name}`, { token: root })).body.error.code, 'sealed');
    const key = readFileSync(path.join(server.dataDir, 'unseal.key'), 'utf8').trim();
    assert.equal((await ok(b.request('POST', '/v1/sys/unseal', { body: { key } }))).body.sealed, false);
    assert.equal((await a.request('GET', '/v1/sys/seal-status')).body.sealed, false);
    assert.equal((await a.request('GET', `/v1/values/${name}`, { token: root })).status, 200);
  });

  await t.test('a worker killed with SIGKILL is started again and serves', async () => {
    const [pid] = workerPids(server, 1);
    assert.ok(pid);
    b.close();
    process.kill(pid, 'SIGKILL');
    await eventually('worker 1 restarted', () => workerPids(server, 1).length === 2, 60_000);
    assert.notEqual(workerPids(server, 1)[1], pid);
    clients = await pinWorkers(server, 2);
    [a, b] = [clients.get('0')!, clients.get('1')!];
    await ok(a.request('POST', `/v1/values/${name}`, { token: root, body: { value: 'after-restart' } }));
    assert.equal((await b.request('GET', `/v1/values/${name}`, { token: root })).body.value, 'after-restart');
    assert.match(server.output(), /worker 1 died; starting it again/);
  });

  await t.test('concurrent writes through both workers leave one valid audit chain', async () => {
    const burst = await Promise.all(Array.from({ length: 60 }, (_, i) => i % 3 === 0
      ? freshRequest(server, 'POST', `/v1/values/${name}`, { token: root, body: { value: `burst-${i}-${randomBytes(4).toString('hex')}` } })
      : freshRequest(server, 'GET', `/v1/values/${name}`, { token: root })));
    for (const r of burst) assert.ok(r.status < 300, JSON.stringify(r.body));
    assert.deepEqual(new Set(burst.map((r) => r.worker)), new Set(['0', '1']));
    const verify = await runCli(['audit', 'verify', '--json'], { server, env: { CUSTOS_TOKEN: root } });
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.equal(JSON.parse(verify.stdout).ok, true);
    assert.doesNotMatch(server.output(), /audit_tampered|AUDIT LOG TAMPERED/);
  });

  await t.test('SIGTERM drains both workers and the server exits 0', async () => {
    assert.equal(await server.stop(), 0);
    assert.match(server.output(), /shutting down: draining every worker/);
  });
});

test('--workers 2 without --dev: unseal key shares given to different workers add up, and a restarted worker is unsealed', { timeout: 180_000 }, async (t) => {
  const server = await startServer({ dev: false, args: ['--workers', '2'] });
  t.after(async () => {
    await server.kill();
    server.cleanup();
  });
  const clients = await pinWorkers(server, 2);
  t.after(() => [...clients.values()].forEach((c) => c.close()));
  const [a, b] = [clients.get('0')!, clients.get('1')!];
  const init = await ok(a.request('POST', '/v1/sys/init', { body: { shares: 3, threshold: 2 } }));
  const keys: string[] = init.body.keys;
  const first = await ok(a.request('POST', '/v1/sys/unseal', { body: { key: keys[0] } }));
  assert.deepEqual([first.body.sealed, first.body.progress], [true, 1]);
  assert.equal((await b.request('GET', '/v1/sys/seal-status')).body.progress, 1);
  // The CLI, on a new connection: whichever worker takes it completes the threshold for both.
  const cli = await runCli(['operator', 'unseal', keys[2]!, '--json'], { env: { CUSTOS_ADDR: server.address, HOME: server.home } });
  assert.equal(cli.code, 0, cli.stdout + cli.stderr);
  assert.equal(JSON.parse(cli.stdout).sealed, false);
  for (const c of [a, b]) assert.equal((await c.request('GET', '/v1/sys/seal-status')).body.sealed, false);
  // Key shares never reach the logs.
  for (const key of keys) assert.ok(!server.output().includes(key));

  const [pid] = workerPids(server, 0);
  a.close();
  process.kill(pid!, 'SIGKILL');
  await eventually('worker 0 restarted', () => workerPids(server, 0).length === 2, 60_000);
  const again = await pinWorkers(server, 2);
  t.after(() => [...again.values()].forEach((c) => c.close()));
  assert.equal((await again.get('0')!.request('GET', '/v1/sys/seal-status')).body.sealed, false);
  assert.equal((await again.get('0')!.request('GET', '/v1/secrets', { token: init.body.root_token })).status, 200);
  for (const key of keys) assert.ok(!server.output().includes(key));
});

test('--workers 2: a worker that keeps dying stops the server with exit code 1 and says why; a taken port fails at once', { timeout: 240_000 }, async (t) => {
  const server = await startServer({ args: ['--workers', '2'] });
  t.after(async () => {
    await server.kill();
    server.cleanup();
  });
  const taken = await runCli(['server', '--dev', '--workers', '2', '--port', String(server.port), '--data-dir', path.join(server.dataDir, 'other')], { env: { HOME: server.home } });
  assert.equal(taken.code, 1);
  assert.match(taken.stderr, /error: port_in_use: /);

  const exited = new Promise<number | null>((resolve) => server.process.once('exit', (code) => resolve(code)));
  for (let killed = 1; killed <= 5; killed++) {
    await eventually(`worker 1 running (start ${killed})`, () => workerPids(server, 1).length === killed, 60_000);
    process.kill(workerPids(server, 1)[killed - 1]!, 'SIGKILL');
  }
  assert.equal(await exited, 1);
  assert.match(server.output(), /worker 1 died 5 times within 60 s; giving up/);
});

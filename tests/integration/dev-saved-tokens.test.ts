import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { runCli, startServer, type RunningServer } from '../support/custos-server.js';

/**
 * A second `--dev` server on a busy port fails before it creates anything (no store, no
 * token), says which flag or variable changes the port, and never replaces the running
 * server's saved token; servers on different addresses keep one saved token each, and the
 * CLI picks the one for CUSTOS_ADDR.
 */

const freePort = () => new Promise<number>((resolve) => {
  const probe = createServer();
  probe.listen(0, '127.0.0.1', () => {
    const { port } = probe.address() as { port: number };
    probe.close(() => resolve(port));
  });
});

test('a second dev server on a busy port changes nothing and says how to pick another port; tokens are kept per address', async (t) => {
  const home = mkdtempSync(path.join(os.tmpdir(), 'custos-home-'));
  const servers: RunningServer[] = [];
  t.after(async () => {
    for (const s of servers) {
      await s.stop();
      s.cleanup();
    }
    rmSync(home, { recursive: true, force: true });
  });
  const port = await freePort();
  const first = await startServer({ home, port });
  servers.push(first);
  const legacy = path.join(home, '.custos', 'token');
  const tokens = path.join(home, '.custos', 'tokens.json');
  assert.equal(readFileSync(legacy, 'utf8').trim(), first.token, 'the first server still fills ~/.custos/token');
  assert.deepEqual(JSON.parse(readFileSync(tokens, 'utf8')), { [first.address]: first.token });
  const before = { legacy: readFileSync(legacy, 'utf8'), tokens: readFileSync(tokens, 'utf8') };

  // Same port, another data dir: refused before anything is created.
  const busyData = path.join(home, 'second-data');
  await assert.rejects(startServer({ home, port, dataDir: busyData }), (error: Error) => {
    assert.match(error.message, /error: port_in_use: 127\.0\.0\.1:\d+ is already in use/);
    assert.match(error.message, /--port or CUSTOS_PORT/);
    assert.doesNotMatch(error.message, /Root token/);
    return true;
  });
  assert.equal(existsSync(path.join(busyData, 'custos.db')), false, 'no new store');
  assert.equal(readFileSync(legacy, 'utf8'), before.legacy, '~/.custos/token untouched');
  assert.equal(readFileSync(tokens, 'utf8'), before.tokens);
  assert.equal((await runCli(['token', 'lookup', '--json'], { server: first })).code, 0, 'the running server is still reachable with its token');

  // Another port: its token is saved under its own address; ~/.custos/token stays the first's.
  const second = await startServer({ home });
  servers.push(second);
  assert.equal(readFileSync(legacy, 'utf8'), before.legacy, 'another server\'s ~/.custos/token is never overwritten');
  assert.deepEqual(JSON.parse(readFileSync(tokens, 'utf8')), { [first.address]: first.token, [second.address]: second.token });
  for (const s of [first, second]) {
    const self = await runCli(['token', 'lookup', '--json'], { server: s });
    assert.equal(self.code, 0, self.stderr);
    assert.deepEqual(JSON.parse(self.stdout).policies, ['root'], `the CLI picks the token saved for ${s.address}`);
  }
  // The same address written differently is the same server.
  const slash = await runCli(['token', 'lookup', '--json'], { server: { address: second.address + '/', home } });
  assert.equal(slash.code, 0, slash.stderr);
});

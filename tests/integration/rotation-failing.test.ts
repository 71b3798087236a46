import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { api, runCli, startServer, type RunningServer } from '../support/custos-server.js';
import { createSecret, createToken, uniqueName, writePolicy } from '../support/http-helpers.js';

/**
 * The rotation overview names what is failing, not only what is due: a secret whose latest run
 * failed, or that is retrying after an error, is listed as failing with the error's summary
 * (never a value); a healthy one is not.
 */
describe('rotation overview: failing rotations', () => {
  let server: RunningServer;
  let dir: string;
  const failsTest = uniqueName('dev/rot-fails-test');
  const failsSet = uniqueName('dev/rot-fails-set');
  const healthy = uniqueName('dev/rot-healthy');
  const VALUES = ['failing-rotation-canary-1', 'failing-rotation-canary-2', 'failing-rotation-canary-3'];

  const script = (name: string, failAt: string, code: number) => {
    const file = path.join(dir, name);
    // Echoes what it was given to stderr (ignored by the rotator) and fails only at one step.
    writeFileSync(file, `#!/bin/sh\ncat >&2\n[ "$CUSTOS_ROTATION_STEP" = "${failAt}" ] && exit ${code}\nexit 0\n`);
    chmodSync(file, 0o755);
    return file;
  };
  const configure = async (name: string, commandPath: string) => {
    const r = await api(server, 'PUT', `/v1/rotation/${name}`, { token: server.token, body: { settings: { rotator: 'command', command: { path: commandPath }, every_seconds: 2592000 } } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  };
  const overview = async (token = server.token) => {
    const r = await api(server, 'GET', '/v1/rotations', { token });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.secrets as { secret: string; failing: string | null; error: string | null; latest_status: string | null; failing_since: string | null }[];
  };

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'custos-rot-fail-'));
    server = await startServer();
    await createSecret(server, failsTest, VALUES[0]!);
    await createSecret(server, failsSet, VALUES[1]!);
    await createSecret(server, healthy, VALUES[2]!);
    await configure(failsTest, script('fails-test.sh', 'test', 3));
    await configure(failsSet, script('fails-set.sh', 'set', 1));
    await configure(healthy, '/bin/true');
  });
  after(async () => {
    await server.stop();
    server.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('before any run nothing is failing', async () => {
    const rows = await overview();
    for (const name of [failsTest, failsSet, healthy]) {
      const row = rows.find((r) => r.secret === name);
      assert.ok(row, name);
      assert.equal(row.failing, null);
      assert.equal(row.latest_status, null);
    }
  });

  test('a command that exits non-zero at test: failed, with the error summary and no value', async () => {
    const run = await api(server, 'POST', `/v1/rotate/${failsTest}?wait=60`, { token: server.token });
    assert.equal(run.body.status, 'failed', JSON.stringify(run.body));
    const row = (await overview()).find((r) => r.secret === failsTest)!;
    assert.equal(row.failing, 'failed');
    assert.equal(row.latest_status, 'failed');
    assert.equal(row.error, 'the rotation command exited with 3 at step test');
    assert.ok(row.failing_since && !Number.isNaN(Date.parse(row.failing_since)));
  });

  test('a command that exits non-zero at set is retrying: failing until a run succeeds', async () => {
    const run = await api(server, 'POST', `/v1/rotate/${failsSet}?wait=60`, { token: server.token });
    assert.equal(run.body.status, 'running', JSON.stringify(run.body));
    const row = (await overview()).find((r) => r.secret === failsSet)!;
    assert.equal(row.failing, 'retrying');
    assert.equal(row.error, 'the rotation command exited with 1 at step set');
  });

  test('a healthy rotation is not failing', async () => {
    const run = await api(server, 'POST', `/v1/rotate/${healthy}?wait=60`, { token: server.token });
    assert.equal(run.body.status, 'succeeded', JSON.stringify(run.body));
    const row = (await overview()).find((r) => r.secret === healthy)!;
    assert.equal(row.failing, null);
    assert.equal(row.error, null);
  });

  test('no value in the overview; callers see only what they may list; the CLI shows the failing column', async () => {
    const all = await api(server, 'GET', '/v1/rotations', { token: server.token });
    for (const value of VALUES) assert.ok(!JSON.stringify(all.body).includes(value), 'no value in the overview');
    await writePolicy(server, 'only-healthy', JSON.stringify({ rules: [{ path: healthy, capabilities: ['list'] }] }));
    const narrow = await createToken(server, { policies: ['only-healthy'] });
    assert.deepEqual((await overview(narrow.token)).map((r) => r.secret), [healthy]);
    const cli = await runCli(['rotation', 'list'], { server });
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /FAILING\s+ERROR/);
    assert.match(cli.stdout, new RegExp(`${failsTest}.*failed\\s+the rotation command exited with 3 at step test`));
  });
});

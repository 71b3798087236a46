import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, startServer, type RunningServer } from '../support/custos-server.js';
import { createToken, writePolicy } from '../support/http-helpers.js';

/** The `custos` CLI as an operator runs it: env overrides, token and policy commands, config validation. */
describe('custos CLI: tokens, policies, environment and configuration', () => {
  let server: RunningServer;
  let scratch: string;
  const cli = (args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}) => runCli(args, { server, ...options });

  before(async () => {
    server = await startServer();
    assert.equal((await runCli(['secret', 'put', 'dev/cli/plain', '--value', 'hunter3'], { server })).code, 0);
    assert.equal((await runCli(['secret', 'put', 'dev/cli/db', '--value', '{}'], { server })).code, 0);
    scratch = mkdtempSync(path.join(os.tmpdir(), 'custos-cli-'));
  });
  after(async () => {
    await server.stop();
    server.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  });

  test('CUSTOS_ADDR and CUSTOS_TOKEN override the defaults (the token file)', async () => {
    await writePolicy(server, 'cli-limited', JSON.stringify({ rules: [{ path: 'dev/cli/plain', capabilities: ['read'] }] }));
    const limited = await createToken(server, { policies: ['cli-limited'] });
    const elsewhere = mkdtempSync(path.join(os.tmpdir(), 'custos-cli-home-'));
    try {
      // No token file in this HOME: only the environment tells the CLI where and who.
      const env = { HOME: elsewhere, CUSTOS_ADDR: server.address, CUSTOS_TOKEN: limited.token };
      const ok = await runCli(['secret', 'get', 'dev/cli/plain'], { env });
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout, 'hunter3\n');
      const denied = await runCli(['secret', 'get', 'dev/cli/db'], { env });
      assert.match(denied.stderr, /^error: permission_denied: /);
      // CUSTOS_TOKEN wins over the root token saved in HOME.
      const overridden = await runCli(['secret', 'get', 'dev/cli/db'], { env: { HOME: server.home, CUSTOS_ADDR: server.address, CUSTOS_TOKEN: limited.token } });
      assert.match(overridden.stderr, /^error: permission_denied: /);
      const noToken = await runCli(['secret', 'get', 'dev/cli/plain'], { env: { HOME: elsewhere, CUSTOS_ADDR: server.address } });
      assert.match(noToken.stderr, /^error: missing_token: /);
      const self = JSON.parse((await runCli(['token', 'lookup', '--json'], { env })).stdout);
      assert.equal(self.accessor, limited.accessor);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  test('token and policy commands', async () => {
    const policyFile = path.join(scratch, 'policy.yaml');
    writeFileSync(policyFile, 'rules:\n  - path: dev/cli/*\n    capabilities: [read, list]\n');
    assert.equal((await cli(['policy', 'write', 'cli-reader', policyFile])).code, 0);
    assert.equal((await cli(['policy', 'read', 'cli-reader'])).stdout, readFileSync(policyFile, 'utf8'));
    assert.ok((await cli(['policy', 'list'])).stdout.split('\n').includes('cli-reader'));
    const jsonPolicy = await cli(['policy', 'write', 'cli-json', '-'], { input: JSON.stringify({ rules: [{ path: 'dev/**', deny: true }] }) });
    assert.equal(jsonPolicy.code, 0, jsonPolicy.stderr);

    const created = JSON.parse((await cli(['token', 'create', '--policy', 'cli-reader', '--ttl', '1h', '--env', 'dev', '--json'])).stdout);
    assert.match(created.token, /^cst_/);
    assert.equal(created.env, 'dev');
    assert.deepEqual(created.policies, ['cli-reader']);
    const looked = JSON.parse((await cli(['token', 'lookup', created.accessor, '--json'])).stdout);
    assert.equal(looked.accessor, created.accessor);
    assert.equal(looked.token, undefined);
    assert.equal((await runCli(['secret', 'get', 'dev/cli/plain'], { env: { HOME: server.home, CUSTOS_ADDR: server.address, CUSTOS_TOKEN: created.token } })).stdout, 'hunter3\n');
    const revoked = await cli(['token', 'revoke', created.accessor]);
    assert.equal(revoked.code, 0);
    assert.match(revoked.stdout, /revoked 1 token/);
    const after = await runCli(['secret', 'get', 'dev/cli/plain'], { env: { HOME: server.home, CUSTOS_ADDR: server.address, CUSTOS_TOKEN: created.token } });
    assert.match(after.stderr, /^error: token_revoked: /);

    assert.equal((await cli(['policy', 'delete', 'cli-reader'])).code, 0);
    assert.match((await cli(['policy', 'read', 'cli-reader'])).stderr, /^error: policy_not_found: /);
    const badPolicy = path.join(scratch, 'bad-policy.yaml');
    writeFileSync(badPolicy, 'rules:\n  - path: dev/*\n    capabilities: [teleport]\n');
    const bad = await cli(['policy', 'write', 'bad', badPolicy]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^error: invalid_policy: /);
  });

  test('server --config with an unknown key or a bad value exits non-zero with a clear message', async () => {
    const unknown = path.join(scratch, 'bad.yaml');
    writeFileSync(unknown, 'port: 0\ncolour: red\n');
    const r1 = await runCli(['server', '--config', unknown, '--data-dir', path.join(scratch, 'never')]);
    assert.notEqual(r1.code, 0);
    assert.match(r1.stderr, /^error: invalid_config: invalid configuration: unknown setting\(s\): colour\n$/);
    const badValue = path.join(scratch, 'bad-port.yaml');
    writeFileSync(badValue, 'port: not-a-port\nregion: mars\n');
    const r2 = await runCli(['server', '--config', badValue]);
    assert.notEqual(r2.code, 0);
    assert.match(r2.stderr, /port/);
    assert.match(r2.stderr, /region: must look like us-east-1/);
    const badEnv = await runCli(['server', '--data-dir', path.join(scratch, 'never')], { env: { CUSTOS_LOG_LEVEL: 'loud' } });
    assert.notEqual(badEnv.code, 0);
    assert.match(badEnv.stderr, /^error: invalid_config: .*log_level/);
    const missingFile = await runCli(['server', '--config', path.join(scratch, 'nope.yaml')]);
    assert.notEqual(missingFile.code, 0);
    assert.match(missingFile.stderr, /cannot read config file/);
    const brokenJson = path.join(scratch, 'broken.json');
    writeFileSync(brokenJson, '{ "port": ');
    const r3 = await runCli(['server', '--config', brokenJson]);
    assert.notEqual(r3.code, 0);
    assert.match(r3.stderr, /^error: invalid_config: config file .*broken\.json is not valid JSON\n$/);
    const brokenYaml = path.join(scratch, 'broken.yaml');
    writeFileSync(brokenYaml, 'storage_password: sup3r-s3cret-pw\nport: [8420\n');
    const r4 = await runCli(['server', '--config', brokenYaml]);
    assert.notEqual(r4.code, 0);
    assert.match(r4.stderr, /^error: invalid_config: config file .*broken\.yaml is not valid YAML/);
    assert.ok(!r4.stderr.includes('sup3r-s3cret-pw'), 'the parse error does not echo the file');
  });

});

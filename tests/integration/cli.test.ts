import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cliPath, runCli, startServer, type RunningServer } from '../support/custos-server.js';
import { createToken, writePolicy } from '../support/http-helpers.js';
import { spawn } from 'node:child_process';

/** The `custos` CLI as a user runs it: output shapes, exit codes, env overrides, config validation, shutdown. */
describe('custos CLI', () => {
  let server: RunningServer;
  let scratch: string;
  const cli = (args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}) => runCli(args, { server, ...options });

  before(async () => {
    server = await startServer();
    scratch = mkdtempSync(path.join(os.tmpdir(), 'custos-cli-'));
  });
  after(async () => {
    await server.stop();
    server.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  });

  test('secret put then get prints the value alone and a newline', async () => {
    const put = await cli(['secret', 'put', 'dev/cli/plain', '--value', 'hunter2', '--description', 'demo', '--owner', 'me', '--tag', 'team=data']);
    assert.equal(put.code, 0, put.stderr);
    assert.match(put.stdout, /^dev\/cli\/plain: version [0-9a-f-]{36}\n$/);
    const get = await cli(['secret', 'get', 'dev/cli/plain']);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(get.stdout, 'hunter2\n');
    assert.equal(get.stderr, '');
    // A second put adds a version and reports its labels.
    const second = await cli(['secret', 'put', 'dev/cli/plain', '--value', 'hunter3']);
    assert.match(second.stdout, /\(CURRENT\)\n$/);
    assert.equal((await cli(['secret', 'get', 'dev/cli/plain'])).stdout, 'hunter3\n');
    assert.equal((await cli(['secret', 'get', 'dev/cli/plain', '--label', 'PREVIOUS'])).stdout, 'hunter2\n');
    const described = JSON.parse((await cli(['secret', 'describe', 'dev/cli/plain', '--json'])).stdout);
    assert.equal(described.description, 'demo');
    assert.equal(described.owner, 'me');
    assert.deepEqual(described.tags, { team: 'data' });
    assert.equal(described.versions.length, 2);
  });

  test('put from stdin and from a file (text and binary); get --field and --json', async () => {
    const json = JSON.stringify({ username: 'etl', password: 'p@ss word', port: 5432 });
    assert.equal((await cli(['secret', 'put', 'dev/cli/db', '-'], { input: json + '\n' })).code, 0);
    assert.equal((await cli(['secret', 'get', 'dev/cli/db'])).stdout, json + '\n', 'one trailing newline from stdin is dropped');
    assert.equal((await cli(['secret', 'get', 'dev/cli/db', '--field', 'password'])).stdout, 'p@ss word\n');
    assert.equal((await cli(['secret', 'get', 'dev/cli/db', '--field', 'port'])).stdout, '5432\n');
    const missingField = await cli(['secret', 'get', 'dev/cli/db', '--field', 'nope']);
    assert.equal(missingField.code, 1);
    assert.match(missingField.stderr, /^error: .*nope/);
    const asJson = JSON.parse((await cli(['secret', 'get', 'dev/cli/db', '--json'])).stdout);
    assert.equal(asJson.value, json);
    assert.deepEqual(asJson.labels, ['CURRENT']);
    assert.match(asJson.version_id, /^[0-9a-f-]{36}$/);

    const textFile = path.join(scratch, 'value.txt');
    writeFileSync(textFile, 'from-a-file');
    assert.equal((await cli(['secret', 'put', 'dev/cli/file', '--file', textFile])).code, 0);
    assert.equal((await cli(['secret', 'get', 'dev/cli/file'])).stdout, 'from-a-file\n');
    const binFile = path.join(scratch, 'value.bin');
    const bytes = randomBytes(300);
    writeFileSync(binFile, bytes);
    assert.equal((await cli(['secret', 'put', 'dev/cli/bin', '--file', binFile, '--binary'])).code, 0);
    const bin = JSON.parse((await cli(['secret', 'get', 'dev/cli/bin', '--json'])).stdout);
    assert.ok(Buffer.from(bin.value_base64, 'base64').equals(bytes));
    const none = await cli(['secret', 'put', 'dev/cli/none']);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /^error: give exactly one of/);
  });

  test('failures exit non-zero with "error: <code>: <message>" on stderr', async () => {
    const missing = await cli(['secret', 'get', 'dev/cli/does-not-exist']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stdout, '');
    assert.match(missing.stderr, /^error: secret_not_found: secret "dev\/cli\/does-not-exist" not found \(request req_[A-Za-z0-9_-]+\)\n$/);
    const invalid = await cli(['secret', 'put', 'dev/../x', '--value', 'v']);
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /^error: invalid_name: /);
    const unreachable = await runCli(['secret', 'get', 'dev/cli/plain'], { env: { CUSTOS_ADDR: 'http://127.0.0.1:1', HOME: server.home } });
    assert.equal(unreachable.code, 3);
    assert.match(unreachable.stderr, /^error: unreachable: cannot reach Custos at http:\/\/127\.0\.0\.1:1/);
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

  test('list, describe, label, delete, restore and password', async () => {
    await cli(['secret', 'put', 'dev/cli/labels', '--value', 'one']);
    const pending = JSON.parse((await cli(['secret', 'put', 'dev/cli/labels', '--value', 'two', '--label', 'PENDING', '--json'])).stdout);
    assert.deepEqual(pending.labels, ['PENDING']);
    const described = JSON.parse((await cli(['secret', 'describe', 'dev/cli/labels', '--json'])).stdout);
    const current = described.versions.find((v: { labels: string[] }) => v.labels.includes('CURRENT')).version_id;
    const moved = await cli(['secret', 'label', 'dev/cli/labels', '--label', 'CURRENT', '--move-to', pending.version_id, '--remove-from', current]);
    assert.equal(moved.code, 0, moved.stderr);
    assert.equal((await cli(['secret', 'get', 'dev/cli/labels'])).stdout, 'two\n');
    const table = await cli(['secret', 'describe', 'dev/cli/labels']);
    assert.match(table.stdout, /VERSION\s+LABELS\s+CREATED/);

    const listed = JSON.parse((await cli(['secret', 'list', 'dev/cli/', '--json'])).stdout);
    assert.ok(listed.map((s: { name: string }) => s.name).includes('dev/cli/labels'));
    const listTable = await cli(['secret', 'list', 'dev/cli/']);
    assert.match(listTable.stdout, /^NAME\s+OWNER/);
    assert.match(listTable.stdout, /dev\/cli\/labels/);

    const del = await cli(['secret', 'delete', 'dev/cli/labels', '--recovery-days', '7']);
    assert.equal(del.code, 0, del.stderr);
    assert.match(del.stdout, /scheduled for deletion/);
    assert.match((await cli(['secret', 'get', 'dev/cli/labels'])).stderr, /^error: secret_scheduled_for_deletion: /);
    assert.equal((await cli(['secret', 'restore', 'dev/cli/labels'])).code, 0);
    assert.equal((await cli(['secret', 'get', 'dev/cli/labels'])).stdout, 'two\n');
    assert.equal((await cli(['secret', 'delete', 'dev/cli/labels', '--force'])).code, 0);
    assert.match((await cli(['secret', 'get', 'dev/cli/labels'])).stderr, /^error: secret_not_found: /);

    const pw = await cli(['secret', 'password', '--length', '24', '--exclude-punctuation']);
    assert.match(pw.stdout, /^[A-Za-z0-9]{24}\n$/);
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

  test('the CLI binary runs directly and shows help', async () => {
    const child = spawn(process.execPath, [cliPath, '--help']);
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise((r) => child.on('close', r));
    assert.equal(code, 0);
    for (const command of ['server', 'operator', 'secret', 'token', 'policy', 'audit']) assert.match(out, new RegExp(`\\b${command}\\b`));
  });
});

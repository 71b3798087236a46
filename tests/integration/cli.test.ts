import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { api, cliPath, runCli, startServer, type RunningServer } from '../support/custos-server.js';
import { spawn } from 'node:child_process';
import { auditHead } from '../support/http-helpers.js';

/** The `custos` CLI as a user runs it: secret commands, output shapes, exit codes. */
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
    const since = await auditHead(server);
    const put = await cli(['secret', 'put', 'dev/cli/plain', '--value', 'hunter2', '--description', 'demo', '--owner', 'me', '--tag', 'team=data']);
    assert.equal(put.code, 0, put.stderr);
    assert.match(put.stdout, /^dev\/cli\/plain: version [0-9a-f-]{36} \(CURRENT\), new secret\n$/);
    // A new secret is made in one request: its audit trail is one create, not a failed write first.
    const events = (await api(server, 'GET', `/v1/audit/events?after_seq=${since}&secret=dev/cli/plain`, { token: server.token })).body.events;
    assert.deepEqual(events.map((e: { operation: string; outcome: string }) => [e.operation, e.outcome]), [['secret.create', 'success']]);
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
    assert.match(none.stderr, /^error: invalid_input: give exactly one of/);
  });

  test('failures exit non-zero with "error: <code>: <message>" on stderr', async () => {
    const missing = await cli(['secret', 'get', 'dev/cli/does-not-exist']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stdout, '');
    assert.match(missing.stderr, /^error: secret_not_found: secret "dev\/cli\/does-not-exist" not found \(request req_[A-Za-z0-9_-]+\)\n$/);
    const invalid = await cli(['secret', 'put', 'dev/../x', '--value', 'v']);
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /^error: invalid_name: /);
    // Not resolved like a file path on the way: this would otherwise read dev/cli/plain.
    const dotted = await cli(['secret', 'get', 'dev/cli/x/../plain']);
    assert.deepEqual([dotted.code, dotted.stdout], [1, '']);
    assert.match(dotted.stderr, /^error: invalid_name: /);
    const unreachable = await runCli(['secret', 'get', 'dev/cli/plain'], { env: { CUSTOS_ADDR: 'http://127.0.0.1:1', HOME: server.home } });
    assert.equal(unreachable.code, 3);
    assert.match(unreachable.stderr, /^error: unreachable: cannot reach Custos at http:\/\/127\.0\.0\.1:1/);
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

  test('the CLI binary runs directly and shows help', async () => {
    const child = spawn(process.execPath, [cliPath, '--help']);
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise((r) => child.on('close', r));
    assert.equal(code, 0);
    for (const command of ['server', 'operator', 'secret', 'token', 'policy', 'audit']) assert.match(out, new RegExp(`\\b${command}\\b`));
  });
});

test('a reader that closes the pipe early (custos secret list | head -1) is not an error', async () => {
  const server = await startServer({ logLevel: 'warn' });
  try {
    for (let i = 0; i < 30; i++) await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name: `dev/pipe/s${i}`, value: 'v' } });
    const { spawnSync } = await import('node:child_process');
    const result = spawnSync('bash', ['-c', `node ${cliPath} secret list dev/ | head -1 >/dev/null; echo "\${PIPESTATUS[0]}"`], {
      env: { ...process.env, CUSTOS_ADDR: server.address, HOME: server.home, CUSTOS_TOKEN: '' }, encoding: 'utf8',
    });
    assert.equal(result.stdout.trim(), '0', result.stderr);
    assert.doesNotMatch(result.stderr, /EPIPE|Unhandled/);
  } finally {
    await server.stop();
    server.cleanup();
  }
});

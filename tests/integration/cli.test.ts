import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

  test('secret get writes a binary value byte for byte to a pipe and to --out (0600), and refuses a terminal', async () => {
    // Invalid UTF-8, NUL, an escape sequence and a trailing newline: all must survive exactly.
    const bytes = Buffer.concat([Buffer.from([0xff, 0xfe, 0x00, 0x1b, 0x5b, 0x32, 0x4a, 0xc3, 0x28, 0x0a]), randomBytes(200)]);
    const binFile = path.join(scratch, 'exact.bin');
    writeFileSync(binFile, bytes);
    assert.equal((await cli(['secret', 'put', 'dev/cli/exact-bin', '--file', binFile, '--binary'])).code, 0);
    const env = { ...process.env, CUSTOS_TOKEN: '', CUSTOS_ADDR: server.address, HOME: server.home };
    const piped = await new Promise<{ code: number | null; stdout: Buffer; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [cliPath, 'secret', 'get', 'dev/cli/exact-bin'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      let err = '';
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
    });
    assert.equal(piped.code, 0, piped.stderr);
    assert.ok(piped.stdout.equals(bytes), 'stdout holds exactly the stored bytes');

    const outFile = path.join(scratch, 'out.bin');
    writeFileSync(outFile, 'older, wider file', { mode: 0o644 });
    const written = await cli(['secret', 'get', 'dev/cli/exact-bin', '--out', outFile]);
    assert.equal(written.code, 0, written.stderr);
    assert.equal(written.stdout, '');
    assert.ok(readFileSync(outFile).equals(bytes), '--out holds exactly the stored bytes');
    assert.equal(statSync(outFile).mode & 0o777, 0o600);
    const textOut = path.join(scratch, 'out.txt');
    assert.equal((await cli(['secret', 'get', 'dev/cli/plain', '--out', textOut])).code, 0);
    assert.equal(readFileSync(textOut, 'utf8'), 'hunter3', 'a text value is written exactly, without a newline');

    // A terminal: script(1) gives the CLI a pseudo-terminal as stdout.
    const command = [process.execPath, cliPath, 'secret', 'get', 'dev/cli/exact-bin'].map((a) => `'${a}'`).join(' ');
    const tty = await new Promise<{ code: number | null; output: Buffer }>((resolve) => {
      const child = spawn('script', ['-qec', command, '/dev/null'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => out.push(c));
      child.on('close', (code) => resolve({ code, output: Buffer.concat(out) }));
    });
    assert.notEqual(tty.code, 0, 'refused');
    assert.match(tty.output.toString('utf8'), /error: binary_value: .*--out FILE/);
    assert.ok(!tty.output.includes(bytes.subarray(10, 40)), 'no value bytes reach the terminal');
  });

  test('secret versions and describe page through every version', async () => {
    assert.equal((await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name: 'dev/cli/many', value: 'v0' } })).status, 201);
    for (let i = 1; i < 105; i++) assert.equal((await api(server, 'POST', '/v1/values/dev/cli/many', { token: server.token, body: { value: `v${i}` } })).status, 201);
    const listed = await cli(['secret', 'versions', 'dev/cli/many', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const versions = JSON.parse(listed.stdout) as { version_id: string; labels: string[] }[];
    assert.equal(versions.length, 105, 'more than one server page (default 100)');
    assert.deepEqual(versions[0]!.labels, ['CURRENT']);
    const described = await cli(['secret', 'describe', 'dev/cli/many']);
    assert.equal(described.code, 0, described.stderr);
    for (const v of versions) assert.ok(described.stdout.includes(v.version_id));
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

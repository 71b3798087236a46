import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { api, repoRoot, startServer, type RunningServer } from '../support/custos-server.js';

/**
 * The example command plugins in examples/database-plugins/ (Snowflake key-pair users, Kafka
 * SCRAM users). Neither system runs here, so each script is driven against stand-in `snowsql`,
 * `kafka-configs.sh` and `kafka-acls.sh` programs on PATH that record their arguments and the
 * files they were handed: what is checked is the contract — the exact statements and arguments,
 * names and keys quoted, secrets only in files — directly and through a Custos server.
 */
const examples = path.join(repoRoot, 'examples/database-plugins');
const snowflake = path.join(examples, 'snowflake-keypair-users.py');
const kafka = path.join(examples, 'kafka-scram-users.py');

interface Call { tool: string; argv: string[]; files: Record<string, { text: string; mode: number }>; env: Record<string, string | undefined> }

describe('example command plugins (Snowflake, Kafka) against stand-in tools', () => {
  let dir: string;
  let bin: string;
  let log: string;
  const calls = (): Call[] => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Call) : []);
  const reset = () => rmSync(log, { force: true });
  const env = () => ({ ...process.env, PATH: `${bin}:${process.env.PATH}` });

  function runScript(script: string, input: object): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(script, [], { env: env(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdin.end(JSON.stringify(input));
    return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  }

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'custos-plugin-examples-'));
    bin = path.join(dir, 'bin');
    log = path.join(dir, 'calls.jsonl');
    const state = path.join(dir, 'kafka-users.json');
    // One recorder for every tool: argv, the files named after the options that take a file, and
    // (kafka-configs.sh) a tiny model of which users hold a SCRAM credential.
    const recorder = `#!${process.execPath}
const fs = require('fs');
const path = require('path');
const tool = path.basename(process.argv[1]);
const argv = process.argv.slice(2);
const files = {};
argv.forEach((a, i) => {
  if (['-f', '--private-key-path', '--command-config', '--add-config-file'].includes(a)) {
    const file = argv[i + 1];
    files[a] = { text: fs.readFileSync(file, 'utf8'), mode: fs.statSync(file).mode & 0o777 };
  }
});
fs.appendFileSync(${JSON.stringify(log)}, JSON.stringify({ tool, argv, files, env: { SNOWSQL_PWD: process.env.SNOWSQL_PWD, PRIVATE_KEY_PASSPHRASE: process.env.PRIVATE_KEY_PASSPHRASE } }) + '\\n');
if (tool === 'kafka-configs.sh') {
  const users = fs.existsSync(${JSON.stringify(state)}) ? JSON.parse(fs.readFileSync(${JSON.stringify(state)}, 'utf8')) : {};
  const name = argv[argv.indexOf('--entity-name') + 1];
  if (argv.includes('--describe')) {
    if (users[name]) process.stdout.write("SCRAM credential configs for user-principal '" + name + "' are SCRAM-SHA-512=iterations=8192\\n");
  } else if (argv.includes('--add-config-file')) users[name] = true;
  else if (argv.includes('--delete-config')) {
    if (!users[name]) { process.stderr.write('Attempt to delete a user credential that does not exist\\n'); process.exit(1); }
    delete users[name];
  }
  fs.writeFileSync(${JSON.stringify(state)}, JSON.stringify(users));
}
`;
    writeFileSync(path.join(dir, 'recorder'), recorder);
    rmSync(bin, { recursive: true, force: true });
    mkdirSync(bin);
    for (const tool of ['snowsql', 'kafka-configs.sh', 'kafka-acls.sh']) {
      writeFileSync(path.join(bin, tool), recorder);
      chmodSync(path.join(bin, tool), 0o755);
    }
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  test('both scripts compile (python3 -m py_compile)', async () => {
    for (const script of [snowflake, kafka]) {
      const child = spawn('python3', ['-m', 'py_compile', script], { env: { ...process.env, PYTHONPYCACHEPREFIX: path.join(dir, 'pycache') }, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      assert.equal(await new Promise((r) => child.on('close', r)), 0, stderr);
    }
  });

  const snowAdmin = { account: 'myorg-acct', user: 'CUSTOS_ADMIN', private_key: '-----BEGIN PRIVATE KEY-----\nADMIN\n-----END PRIVATE KEY-----\n', roles: { etl: 'ANALYST "RO"' } };

  test('Snowflake create: a SERVICE user with the public half of a new key, quoted; the private key is the credential; secrets only in 0600 files', async () => {
    reset();
    const expiration = new Date(Date.now() + 3600_000).toISOString();
    const name = `svc"o'k\\x`;
    const r = await runScript(snowflake, { action: 'create', username: name, password: 'unused', expiration, role: 'etl', admin: snowAdmin });
    assert.equal(r.code, 0, r.stderr);
    const privateKey = JSON.parse(r.stdout).password as string;
    assert.match(privateKey, /^-----BEGIN PRIVATE KEY-----\n/);
    const publicKey = createPublicKey(privateKey).export({ type: 'spki', format: 'der' }).toString('base64');

    const [call, ...more] = calls();
    assert.equal(more.length, 0, 'one snowsql run');
    assert.equal(call!.tool, 'snowsql');
    assert.deepEqual(call!.argv.slice(0, 6), ['-a', 'myorg-acct', '-u', 'CUSTOS_ADMIN', '-r', 'USERADMIN']);
    assert.equal(call!.files['-f']!.text,
      `CREATE USER "svc""o'k\\x" TYPE = SERVICE RSA_PUBLIC_KEY = '${publicKey}' DEFAULT_ROLE = "ANALYST ""RO""" DAYS_TO_EXPIRY = 1 COMMENT = 'Custos dynamic user, lease until ${expiration}';\n` +
      `GRANT ROLE "ANALYST ""RO""" TO USER "svc""o'k\\x";\n`);
    assert.equal(call!.files['-f']!.mode, 0o600);
    assert.equal(call!.files['--private-key-path']!.text, snowAdmin.private_key);
    assert.equal(call!.files['--private-key-path']!.mode, 0o600);
    const argv = call!.argv.join(' ');
    assert.ok(!argv.includes('ADMIN\n') && !argv.includes(publicKey) && !argv.includes('PRIVATE KEY'), 'no key on the command line');
  });

  test('Snowflake renew, revoke and rollback; an unmapped role or an admin secret without a user is refused', async () => {
    reset();
    const name = `svc"o'k\\x`;
    const later = new Date(Date.now() + 36 * 3600_000).toISOString();
    assert.equal((await runScript(snowflake, { action: 'renew', username: name, expiration: later, role: 'etl', admin: snowAdmin })).code, 0);
    assert.equal((await runScript(snowflake, { action: 'revoke', username: name, role: 'etl', admin: snowAdmin })).code, 0);
    assert.equal((await runScript(snowflake, { action: 'rollback', username: name, role: 'etl', admin: { ...snowAdmin, private_key: undefined, password: "pw'd" } })).code, 0);
    const [renew, revoke, rollback] = calls();
    assert.equal(renew!.files['-f']!.text, `ALTER USER IF EXISTS "svc""o'k\\x" SET DAYS_TO_EXPIRY = 2;\n`);
    assert.equal(revoke!.files['-f']!.text, `DROP USER IF EXISTS "svc""o'k\\x";\n`);
    assert.equal(rollback!.files['-f']!.text, `DROP USER IF EXISTS "svc""o'k\\x";\n`);
    assert.equal(rollback!.env.SNOWSQL_PWD, "pw'd", 'a password admin login goes in the environment');
    assert.ok(!rollback!.argv.includes('--private-key-path'));

    reset();
    const unmapped = await runScript(snowflake, { action: 'create', username: 'svc_x', password: 'p', expiration: later, role: 'other', admin: snowAdmin });
    assert.equal(unmapped.code, 2);
    assert.deepEqual(calls(), [], 'nothing ran for a role without a Snowflake role');
    const failing = await runScript(snowflake, { action: 'revoke', username: 'svc_x', role: 'etl', admin: { account: 'a' } });
    assert.equal(failing.code, 2, 'an admin secret without a user is refused');
  });

  test('Kafka create: SCRAM credential and ACLs through files; the admin login escaped for .properties and JAAS; a password of its own', async () => {
    reset();
    const admin = { bootstrap: 'kafka-1:9093', username: 'admin', password: `p"a\\ss'w,o]rd=`, acls: { consumer: [{ operation: 'Read', topic: 'events' }, { operation: 'Read', group: 'etl' }] } };
    const r = await runScript(kafka, { action: 'create', username: 'svc-consumer-k2wll0erhm', password: 'gen,er]ated=', expiration: new Date().toISOString(), role: 'consumer', admin });
    assert.equal(r.code, 0, r.stderr);
    const password = JSON.parse(r.stdout).password as string;
    assert.match(password, /^[A-Za-z0-9_-]{43}$/, 'URL-safe, so it fits SCRAM-SHA-512=[...,password=...]');
    const [configs, acl1, acl2] = calls();
    const common = ['--bootstrap-server', 'kafka-1:9093', '--command-config'];
    assert.deepEqual(configs!.argv.slice(0, 3), common);
    assert.deepEqual(configs!.argv.slice(4), ['--alter', '--add-config-file', configs!.argv[6]!, '--entity-type', 'users', '--entity-name', 'svc-consumer-k2wll0erhm']);
    assert.equal(configs!.files['--add-config-file']!.text, `SCRAM-SHA-512=[iterations=8192,password=${password}]\n`);
    assert.equal(configs!.files['--add-config-file']!.mode, 0o600);
    assert.equal(configs!.files['--command-config']!.text,
      'security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n' +
      `sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="p\\\\"a\\\\\\\\ss'w,o]rd=";\n`);
    assert.equal(configs!.files['--command-config']!.mode, 0o600);
    assert.deepEqual(acl1!.argv.slice(4), ['--add', '--allow-principal', 'User:svc-consumer-k2wll0erhm', '--operation', 'Read', '--topic', 'events']);
    assert.deepEqual(acl2!.argv.slice(4), ['--add', '--allow-principal', 'User:svc-consumer-k2wll0erhm', '--operation', 'Read', '--group', 'etl']);
    for (const c of calls()) assert.ok(!c.argv.join(' ').includes(password) && !c.argv.join(' ').includes('p"a'), 'no secret on a command line');

    reset();
    assert.equal((await runScript(kafka, { action: 'revoke', username: 'svc-consumer-k2wll0erhm', role: 'consumer', admin })).code, 0);
    assert.deepEqual(calls().map((c) => [c.tool, c.argv[4], c.argv[5]]), [
      ['kafka-acls.sh', '--remove', '--force'], ['kafka-acls.sh', '--remove', '--force'], ['kafka-configs.sh', '--describe', '--entity-type'], ['kafka-configs.sh', '--alter', '--delete-config'],
    ]);
    reset();
    const again = await runScript(kafka, { action: 'revoke', username: 'svc-consumer-k2wll0erhm', role: 'consumer', admin });
    assert.equal(again.code, 0, 'revoking a user already gone succeeds');
    assert.ok(!calls().some((c) => c.argv.includes('--delete-config')), 'and deletes nothing');

    reset();
    const hostile = await runScript(kafka, { action: 'create', username: 'svc;rm -rf /', password: 'x', expiration: '', role: 'consumer', admin });
    assert.equal(hostile.code, 2);
    assert.deepEqual(calls(), [], 'a name outside A-Za-z0-9._- reaches no tool');
  });

  describe('through a Custos server (the command plugin runs the Snowflake example)', () => {
    let server: RunningServer;
    before(async () => {
      server = await startServer({ env: { PATH: `${bin}:${process.env.PATH}` }, logLevel: 'warn' });
    });
    after(async () => {
      await server?.stop();
      server?.cleanup();
    });

    test('issued credentials carry the private key whose public half the user was created with; revoking drops the user', async () => {
      reset();
      const token = server.token;
      assert.equal((await api(server, 'POST', '/v1/secrets', { token, body: { name: 'prod/snowflake-admin', value: JSON.stringify(snowAdmin) } })).status, 201);
      const c = await api(server, 'POST', '/v1/database/config/snowflake', { token, body: { plugin: 'command', admin_secret: 'prod/snowflake-admin', allowed_roles: ['etl'], command: { path: snowflake } } });
      assert.equal(c.status, 200, JSON.stringify(c.body));
      const role = await api(server, 'POST', '/v1/database/roles/etl', { token, body: { connection: 'snowflake', creation_statements: [], username_template: 'SVC_{{role}}_{{random}}', default_ttl: 3600 } });
      assert.equal(role.status, 200, JSON.stringify(role.body));

      const r = await api(server, 'POST', '/v1/database/creds/etl', { token, body: {} });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const publicKey = createPublicKey(r.body.password).export({ type: 'spki', format: 'der' }).toString('base64');
      const [create] = calls();
      assert.ok(create!.files['-f']!.text.startsWith(`CREATE USER "${r.body.username}" TYPE = SERVICE RSA_PUBLIC_KEY = '${publicKey}' `), create!.files['-f']!.text);

      assert.equal((await api(server, 'POST', '/v1/leases/revoke', { token, body: { lease_id: r.body.lease_id } })).status, 200);
      assert.equal(calls()[1]!.files['-f']!.text, `DROP USER IF EXISTS "${r.body.username}";\n`);
      assert.ok(!server.output().includes(publicKey) && !server.output().includes('PRIVATE KEY'), 'the key reaches no log line');
      const events = await api(server, 'GET', '/v1/audit/events?order=desc&limit=50', { token });
      assert.ok(!JSON.stringify(events.body).includes('PRIVATE KEY'), 'nor an audit event');
    });
  });
});

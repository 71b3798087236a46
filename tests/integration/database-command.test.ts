import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { api, startServer, type RunningServer } from '../support/custos-server.js';
import { createToken, eventually, writePolicy } from '../support/http-helpers.js';

/**
 * The `command` plugin end to end: a real program (a stand-in for a Snowflake or Kafka user
 * script) keeps its "users" in a file; Custos runs it per action with the JSON contract on stdin.
 */
describe('database engine: command plugin', () => {
  let server: RunningServer;
  let token: string;
  let dir: string;
  const users = () => (existsSync(path.join(dir, 'users.json')) ? JSON.parse(readFileSync(path.join(dir, 'users.json'), 'utf8')) : {}) as Record<string, { password: string; expiration?: string }>;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'custos-cmd-plugin-'));
    const program = path.join(dir, 'users.js');
    writeFileSync(program, `#!${process.execPath}
const fs = require('fs');
const file = ${JSON.stringify(path.join(dir, 'users.json'))};
let input = '';
process.stdin.on('data', (c) => (input += c)).on('end', () => {
  const req = JSON.parse(input);
  if (Object.keys(process.env).some((k) => k.startsWith('CUSTOS_'))) fs.writeFileSync(file + '.env-leak', 'yes');
  if (req.admin.api_key !== 'admin-key') process.exit(3);
  if (req.role === 'broken' && req.action === 'create') process.exit(1);
  if (req.role === 'chatty' && req.action === 'create') process.stdout.write('TOPSECRET-not-json');
  if (req.role === 'keyed' && req.action === 'create') process.stdout.write(JSON.stringify({ password: 'key-from-the-program' }));
  const users = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
  if (req.action === 'create') users[req.username] = { password: req.password, expiration: req.expiration };
  if (req.action === 'renew' && users[req.username]) users[req.username].expiration = req.expiration;
  if (req.action === 'revoke' || req.action === 'rollback') delete users[req.username];
  fs.writeFileSync(file, JSON.stringify(users));
});
`);
    chmodSync(program, 0o755);
    server = await startServer({ env: { CUSTOS_LEASE_SWEEP_SECONDS: '0.2' } });
    token = server.token;
    assert.equal((await api(server, 'POST', '/v1/secrets', { token, body: { name: 'prod/kafka-admin', value: JSON.stringify({ api_key: 'admin-key' }) } })).status, 201);
    const c = await api(server, 'POST', '/v1/database/config/kafka', { token, body: { plugin: 'command', admin_secret: 'prod/kafka-admin', allowed_roles: ['*'], command: { path: program } } });
    assert.equal(c.status, 200, JSON.stringify(c.body));
    for (const role of ['consumer', 'broken', 'chatty', 'keyed']) {
      const r = await api(server, 'POST', `/v1/database/roles/${role}`, { token, body: { connection: 'kafka', creation_statements: [], username_template: 'svc-{{role}}-{{random}}', default_ttl: 600 } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
  });

  after(async () => {
    await server?.stop();
    server?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('create, renew and revoke run the program with the JSON contract; it never sees CUSTOS_* variables', async () => {
    const r = await api(server, 'POST', '/v1/database/creds/consumer', { token, body: {} });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.match(r.body.username, /^svc-consumer-[a-z0-9]{10}$/);
    assert.equal(users()[r.body.username]?.password, r.body.password, 'the program received the password on stdin');
    const before = users()[r.body.username]!.expiration;
    const renewed = await api(server, 'POST', '/v1/leases/renew', { token, body: { lease_id: r.body.lease_id, increment: 1200 } });
    assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
    assert.notEqual(users()[r.body.username]!.expiration, before, 'renew ran with the new expiration');
    assert.equal((await api(server, 'POST', '/v1/leases/revoke', { token, body: { lease_id: r.body.lease_id } })).status, 200);
    assert.equal(users()[r.body.username], undefined);
    assert.equal(existsSync(path.join(dir, 'users.json.env-leak')), false);
  });

  test('a program that fails on create: 502, and the abandoned lease is revoked through the program', async () => {
    const r = await api(server, 'POST', '/v1/database/creds/broken', { token, body: {} });
    assert.equal(r.status, 502);
    assert.equal(r.body.error.code, 'database_statement_failed');
    await eventually('the abandoned lease is revoked', async () =>
      (await api(server, 'GET', '/v1/leases?prefix=database/creds/broken/&include_revoked=true', { token })).body.leases[0]?.state === 'revoked');
  });

  test('create may answer the credential it issued ({"password": …}); other output on create is refused without being echoed', async () => {
    const keyed = await api(server, 'POST', '/v1/database/creds/keyed', { token, body: {} });
    assert.equal(keyed.status, 200, JSON.stringify(keyed.body));
    assert.equal(keyed.body.password, 'key-from-the-program', 'the caller gets what the program issued');
    const chatty = await api(server, 'POST', '/v1/database/creds/chatty', { token, body: {} });
    assert.equal(chatty.status, 502);
    assert.equal(chatty.body.error.code, 'database_statement_failed');
    assert.ok(!JSON.stringify(chatty.body).includes('TOPSECRET'), 'the output is not echoed');
    assert.ok(!server.output().includes('TOPSECRET'));
    await eventually('the refused issuance is rolled back and its lease revoked', async () =>
      (await api(server, 'GET', '/v1/leases?prefix=database/creds/chatty/&include_revoked=true', { token })).body.leases[0]?.state === 'revoked');
  });

  test('configuring a command connection needs update on sys:database/command, beyond database:config', async () => {
    await writePolicy(server, 'db-config', JSON.stringify({ rules: [{ path: 'database:config/*', capabilities: ['update'] }, { path: 'prod/**', capabilities: ['read'] }] }));
    const admin = await createToken(server, { policies: ['db-config'] });
    const r = await api(server, 'POST', '/v1/database/config/kafka2', { token: admin.token, body: { plugin: 'command', admin_secret: 'prod/kafka-admin', allowed_roles: ['*'], command: { path: '/bin/true' } } });
    assert.equal(r.status, 403, JSON.stringify(r.body));
    const relative = await api(server, 'POST', '/v1/database/config/kafka3', { token, body: { plugin: 'command', admin_secret: 'prod/kafka-admin', allowed_roles: ['*'], command: { path: 'users.js' } } });
    assert.equal(relative.status, 400);
  });
});

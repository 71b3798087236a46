import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { api, startServer, type RunningServer } from '../support/custos-server.js';
import { agentRequest, startAgentProcess, writeAgentConfig, type RunningAgent } from '../support/custos-agent.js';
import { enableMount, writeRole } from '../support/auth-helpers.js';
import { auditHead, auditAfter, createToken, writePolicy } from '../support/http-helpers.js';

/**
 * `custos agent` end to end: real server and agent processes, real boto3 processes as the
 * local callers. Upstream requests are counted from the server's audit log; waits are on the
 * agent's log lines (events), never on sleeps.
 */
const hasBoto3 = spawnSync('python3', ['-c', 'import boto3'], { stdio: 'ignore' }).status === 0;
const skipBoto3 = hasBoto3 || process.env.CI ? false : 'python3 boto3 is not installed (CI installs python3-boto3)';

const BOTO3_READ = `
import sys, boto3
c = boto3.client('secretsmanager')
for name in sys.argv[1:]:
    print(name + '=' + c.get_secret_value(SecretId=name)['SecretString'])
`;

function python(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn('python3', ['-c', BOTO3_READ, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** Upstream reads the agent's identity made, by secret, from the server's audit log. */
async function upstreamReads(server: RunningServer, afterSeq: number, accessor: string, token: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const e of await auditAfter(server, afterSeq, token)) {
    if (e.accessor === accessor && e.operation === 'secret.read') counts.set(e.secret, (counts.get(e.secret) ?? 0) + 1);
  }
  return counts;
}

describe('custos agent with a token file', () => {
  let server: RunningServer;
  let root: string;
  let agent: RunningAgent;
  let dir: string;
  let configFile: string;
  let accessor: string;
  let firstServer: RunningServer | undefined;
  const agentTokenFile = () => path.join(dir, 'agent-token');
  const canary = `agent-canary-${randomBytes(8).toString('hex')}`;
  const names = [1, 2, 3, 4, 5].map((i) => `dev/agent/s${i}`);
  const values = new Map(names.map((n, i) => [n, `${canary}-${i}`]));
  const bearer = () => ({ authorization: `Bearer ${agent.token}` });
  const read = (name: string, via: 'tcp' | 'socket' = 'tcp') => agentRequest(via === 'tcp' ? { address: agent.address } : { socket: agent.socket! }, 'GET', `/v1/values/${name}`, { headers: bearer() });
  const awsEnv = () => ({
    PATH: process.env.PATH, HOME: dir, AWS_ENDPOINT_URL: agent.address, AWS_ACCESS_KEY_ID: agent.token, AWS_SECRET_ACCESS_KEY: 'not-checked',
    AWS_DEFAULT_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true', ...(process.env.PYENV_ROOT ? { PYENV_ROOT: process.env.PYENV_ROOT } : {}),
  });

  before(async () => {
    server = await startServer();
    firstServer = server;
    root = server.token;
    dir = mkdtempSync(path.join(os.tmpdir(), 'custos-agent-'));
    await writePolicy(server, 'agent-read', JSON.stringify({ rules: [{ path: 'dev/agent/**', capabilities: ['read', 'list'] }] }));
    const made = await createToken(server, { policies: ['agent-read'], display_name: 'node-agent' });
    accessor = made.accessor;
    writeFileSync(path.join(dir, 'upstream-token'), made.token + '\n', { mode: 0o600 });
    for (const name of names) assert.equal((await api(server, 'POST', '/v1/secrets', { token: root, body: { name, value: values.get(name) } })).status, 201);
    assert.equal((await api(server, 'POST', '/v1/secrets', { token: root, body: { name: 'dev/other/forbidden', value: `${canary}-forbidden` } })).status, 201);
    configFile = writeAgentConfig(dir, {
      server: { address: server.address },
      auth: { method: 'token_file', token_file: 'upstream-token' },
      listen: { tcp: '127.0.0.1:0', socket: 'agent.sock' },
      agent_token_file: 'agent-token',
      cache: { max_stale: '24h', disk: { path: 'cache.bin', key_file: 'cache.key' } },
      log_level: 'debug',
    });
    agent = await startAgentProcess(configFile, agentTokenFile());
    await agent.waitForLog(/"msg":"change feed live"/);
  });
  after(async () => {
    await agent?.stop();
    await server?.stop();
    firstServer?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('local callers must present the agent token; the socket and the files holding secrets are 0600', async () => {
    assert.equal(statSync(agent.socket!).mode & 0o777, 0o600);
    assert.equal(statSync(agentTokenFile()).mode & 0o777, 0o600);
    assert.equal(statSync(path.join(dir, 'cache.key')).mode & 0o777, 0o600);
    for (const target of [{ address: agent.address }, { socket: agent.socket! }]) {
      const none = await agentRequest(target, 'GET', `/v1/values/${names[0]}`);
      assert.equal(none.status, 401);
      assert.equal(none.body.error.code, 'missing_token');
      const wrong = await agentRequest(target, 'GET', `/v1/values/${names[0]}`, { headers: { authorization: 'Bearer custosagent-not-the-token' } });
      assert.equal(wrong.status, 401);
      assert.equal(wrong.body.error.code, 'invalid_token');
      // AWS-shaped: the access key id of SigV4 is the credential; a wrong one is refused.
      const aws = await agentRequest(target, 'POST', '/', {
        headers: { 'x-amz-target': 'secretsmanager.GetSecretValue', 'content-type': 'application/x-amz-json-1.1', authorization: 'AWS4-HMAC-SHA256 Credential=AKIAWRONG/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=00' },
        body: { SecretId: names[0] },
      });
      assert.equal(aws.status, 400);
      assert.equal(aws.body.__type, 'UnrecognizedClientException');
      assert.ok(!JSON.stringify([none.body, wrong.body, aws.body]).includes(canary));
    }
    const malformed = await agentRequest({ address: agent.address }, 'GET', '/v1/values/dev/%zz', { headers: bearer() });
    assert.deepEqual([malformed.status, malformed.body.error.code], [400, 'invalid_request']);
    const dotted = await agentRequest({ address: agent.address }, 'GET', '/v1/values/dev/agent/%2e%2e/other/forbidden', { headers: bearer() });
    assert.equal(dotted.status, 400, 'a dot segment never reaches the server as another name');
    const health = await agentRequest({ address: agent.address }, 'GET', '/agent/health');
    assert.deepEqual(health.body, { status: 'ok', feed: 'live' }, 'no auth_error while authenticated');
  });

  test('1,000 simultaneous local reads of one secret make one upstream request', { timeout: 120_000 }, async () => {
    const name = 'dev/agent/burst';
    assert.equal((await api(server, 'POST', '/v1/secrets', { token: root, body: { name, value: `${canary}-burst` } })).status, 201);
    const mark = agent.output().length;
    await agent.waitForLog(/"msg":"change".*"name":"dev\/agent\/burst"/, mark);
    const head = await auditHead(server);
    const pool = new http.Agent({ keepAlive: true, maxSockets: 200 });
    const host = new URL(agent.address);
    const one = () => new Promise<{ status: number; value: string }>((resolve, reject) => {
      http.get({ host: host.hostname, port: host.port, path: `/v1/values/${name}`, agent: pool, headers: bearer() }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, value: JSON.parse(text).value }));
      }).on('error', reject);
    });
    const results = await Promise.all(Array.from({ length: 1000 }, one));
    pool.destroy();
    assert.ok(results.every((r) => r.status === 200 && r.value === `${canary}-burst`));
    assert.deepEqual([...(await upstreamReads(server, head, accessor, root))], [[name, 1]]);
  });

  test('200 short-lived boto3 processes reading the same 5 secrets: at most 5 upstream requests', { skip: skipBoto3, timeout: 300_000 }, async () => {
    const head = await auditHead(server);
    // As many task starts as the issue asks for, 8 at a time: what a 2-core worker runs at once.
    const processes = 200;
    let done = 0;
    const worker = async () => {
      while (done < processes) {
        done += 1;
        const result = await python(names, awsEnv());
        assert.equal(result.code, 0, result.stderr);
        for (const name of names) assert.ok(result.stdout.includes(`${name}=${values.get(name)}\n`), result.stdout);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    assert.equal(done, processes);
    const reads = await upstreamReads(server, head, accessor, root);
    const total = [...reads.values()].reduce((a, b) => a + b, 0);
    assert.ok(total <= names.length, `upstream reads: ${JSON.stringify([...reads])}`);
  });

  test('boto3 DescribeSecret and BatchGetSecretValue through the agent; refusals per secret, in AWS terms', { skip: skipBoto3, timeout: 60_000 }, async () => {
    const script = `
import json, sys, boto3
c = boto3.client('secretsmanager')
d = c.describe_secret(SecretId=sys.argv[1])
b = c.batch_get_secret_value(SecretIdList=[sys.argv[1], 'dev/other/forbidden', 'dev/agent/missing'])
try:
    c.get_secret_value(SecretId='dev/agent/missing')
    missing = 'served'
except c.exceptions.ResourceNotFoundException:
    missing = 'ResourceNotFoundException'
print(json.dumps({'name': d['Name'], 'stages': list(d['VersionIdsToStages'].values()), 'values': [v['SecretString'] for v in b['SecretValues']], 'errors': sorted(e['ErrorCode'] for e in b['Errors']), 'missing': missing}))
`;
    const child = spawn('python3', ['-c', script, names[3]!], { env: awsEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    assert.equal(await new Promise((r) => child.on('close', r)), 0, stderr);
    const out = JSON.parse(stdout);
    assert.equal(out.name, names[3]);
    assert.deepEqual(out.stages, [['AWSCURRENT']]);
    assert.deepEqual(out.values, [values.get(names[3]!)]);
    assert.deepEqual(out.errors, ['AccessDeniedException', 'ResourceNotFoundException']);
    assert.equal(out.missing, 'ResourceNotFoundException');
  });

  test('an update and a rotation (CURRENT moved) reach the agent by the change feed, and a deleted secret disappears', { timeout: 60_000 }, async () => {
    assert.equal((await read(names[0]!)).body.value, values.get(names[0]!));
    let mark = agent.output().length;
    const updated = `${canary}-updated`;
    assert.equal((await api(server, 'POST', `/v1/values/${names[0]}`, { token: root, body: { value: updated } })).status, 201);
    await agent.waitForLog(/"msg":"change".*"name":"dev\/agent\/s1".*"kind":"written"/, mark);
    assert.equal((await read(names[0]!)).body.value, updated);
    values.set(names[0]!, updated);

    // A rotation's shape: a new version staged as PENDING, then CURRENT moved onto it.
    const before = (await read(names[1]!, 'socket')).body;
    const pending = await api(server, 'POST', `/v1/values/${names[1]}`, { token: root, body: { value: `${canary}-rotated`, labels: ['PENDING'] } });
    assert.equal(pending.status, 201);
    mark = agent.output().length;
    const moved = await api(server, 'POST', `/v1/labels/${names[1]}`, { token: root, body: { label: 'CURRENT', move_to_version_id: pending.body.version_id, remove_from_version_id: before.version_id } });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    await agent.waitForLog(/"msg":"change".*"name":"dev\/agent\/s2".*"kind":"rotated"/, mark);
    const rotated = await read(names[1]!, 'socket');
    assert.equal(rotated.body.value, `${canary}-rotated`);
    assert.equal(rotated.body.version_id, pending.body.version_id);
    values.set(names[1]!, `${canary}-rotated`);

    const doomed = 'dev/agent/doomed';
    await api(server, 'POST', '/v1/secrets', { token: root, body: { name: doomed, value: `${canary}-doomed` } });
    assert.equal((await read(doomed)).status, 200);
    mark = agent.output().length;
    assert.equal((await api(server, 'DELETE', `/v1/secrets/${doomed}?recovery_days=7`, { token: root })).status, 200);
    await agent.waitForLog(/"msg":"change".*"name":"dev\/agent\/doomed".*"kind":"deleted"/, mark);
    const gone = await read(doomed);
    // As the server answers it: scheduled for deletion (409) or gone (404), never the value.
    assert.ok(gone.status === 404 || gone.status === 409, JSON.stringify(gone.body));
    assert.match(gone.body.error.code, /secret_not_found|secret_scheduled_for_deletion/);
  });

  test('the agent never serves what its own identity may not read, cached or not', { timeout: 60_000 }, async () => {
    const forbidden = await read('dev/other/forbidden');
    assert.equal(forbidden.status, 403);
    assert.ok(!JSON.stringify(forbidden.body).includes(canary));
    // Cached while allowed; then the agent's policy narrows: the feed resets it, and the server refuses.
    const narrowed = 'dev/agent/narrowed';
    await api(server, 'POST', '/v1/secrets', { token: root, body: { name: narrowed, value: `${canary}-narrowed` } });
    assert.equal((await read(narrowed)).status, 200);
    const mark = agent.output().length;
    await writePolicy(server, 'agent-read', JSON.stringify({ rules: [{ path: 'dev/agent/**', capabilities: ['read', 'list'] }, { path: narrowed, deny: true }] }));
    await agent.waitForLog(/"msg":"reset/, mark);
    const refused = await read(narrowed);
    assert.equal(refused.status, 403);
    assert.ok(!JSON.stringify(refused.body).includes(canary));
  });

  test('a new token in the token file is picked up, and a token with a TTL is renewed before it expires', { timeout: 60_000 }, async () => {
    const mark = agent.output().length;
    const next = await createToken(server, { policies: ['agent-read'], display_name: 'node-agent-2', ttl: '3s' });
    writeFileSync(path.join(dir, 'upstream-token'), next.token + '\n', { mode: 0o600 });
    const line = await agent.waitForLog(/"msg":"authenticated with the token file"/, mark);
    assert.equal(JSON.parse(line).accessor, next.accessor);
    await agent.waitForLog(new RegExp(`"msg":"token renewed","accessor":"${next.accessor}"`), mark);
    // The old token is revoked: the agent keeps working on the new one.
    assert.equal((await api(server, 'POST', '/v1/tokens/revoke', { token: root, body: { accessor } })).status, 200);
    await api(server, 'POST', '/v1/secrets', { token: root, body: { name: 'dev/agent/after-swap', value: `${canary}-swap` } });
    assert.equal((await read('dev/agent/after-swap')).body.value, `${canary}-swap`);
    // Back to a token without a TTL: a 3-second token cannot outlive the outage test below.
    const lasting = await createToken(server, { policies: ['agent-read'], display_name: 'node-agent-3' });
    const swapped = agent.output().length;
    writeFileSync(path.join(dir, 'upstream-token'), lasting.token + '\n', { mode: 0o600 });
    assert.equal(JSON.parse(await agent.waitForLog(/"msg":"authenticated with the token file"/, swapped)).accessor, lasting.accessor);
    accessor = lasting.accessor;
  });

  test('during an outage reads keep succeeding with X-Custos-Stale, also after the agent restarts from its disk cache', { timeout: 180_000 }, async () => {
    for (const name of names) assert.equal((await read(name)).body.value, values.get(name));
    const mark = agent.output().length;
    await server.stop();
    await agent.waitForLog(/"msg":"change feed lost/, mark);
    for (const name of names) {
      const r = await read(name);
      assert.equal(r.status, 200);
      assert.equal(r.body.value, values.get(name));
      assert.match(String(r.headers['x-custos-stale']), /^\d+$/);
    }
    const metrics = await agentRequest({ address: agent.address }, 'GET', '/agent/metrics', { headers: bearer() });
    assert.match(String(metrics.body), /^custos_agent_feed_live 0$/m);
    assert.match(String(metrics.body), /^custos_agent_stale_answers_total [1-9]\d*$/m);
    if (hasBoto3) {
      const result = await python(names, awsEnv());
      assert.equal(result.code, 0, result.stderr);
      for (const name of names) assert.ok(result.stdout.includes(`${name}=${values.get(name)}\n`));
    }
    // A new agent process: nothing in memory; it serves from the encrypted disk cache.
    const firstOutput = agent.output();
    await agent.stop();
    agent = await startAgentProcess(configFile, agentTokenFile());
    await agent.waitForLog(/"msg":"restored the disk cache"/);
    for (const name of names) {
      const r = await read(name, 'socket');
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.value, values.get(name));
      assert.ok(r.headers['x-custos-stale'] !== undefined);
    }
    // What was never cached is not invented, and what was refused is not served from disk either.
    assert.equal((await read('dev/agent/never-read')).status, 503);
    assert.equal((await read('dev/agent/narrowed')).status, 503);

    // Canary: no value (and no token) in the agent's logs or in the cache file, in plaintext.
    const cacheFile = readFileSync(path.join(dir, 'cache.bin'));
    const upstreamToken = readFileSync(path.join(dir, 'upstream-token'), 'utf8').trim();
    for (const [where, text] of [['first agent log', firstOutput], ['second agent log', agent.output()], ['disk cache', cacheFile.toString('latin1')]] as const) {
      assert.ok(!text.includes(canary), `${where} holds a secret value`);
      assert.ok(!text.includes(upstreamToken), `${where} holds the upstream token`);
      assert.ok(!text.includes(agent.token), `${where} holds the agent token`);
    }
    assert.ok(!cacheFile.toString('latin1').includes('dev/agent/s1'), 'the disk cache holds a name in plaintext');

    // The server comes back: the agent resubscribes and serves fresh values again.
    const back = agent.output().length;
    server = await startServer({ dataDir: server.dataDir, home: server.home, port: server.port });
    await agent.waitForLog(/"msg":"change feed live"/, back);
    const fresh = await read(names[2]!);
    assert.equal(fresh.status, 200);
    assert.equal(fresh.headers['x-custos-stale'], undefined);
  });
});

describe('custos agent with AppRole', () => {
  let server: RunningServer;
  let dir: string;
  let agent: RunningAgent;

  before(async () => {
    server = await startServer();
    dir = mkdtempSync(path.join(os.tmpdir(), 'custos-agent-approle-'));
    await writePolicy(server, 'agent-read', JSON.stringify({ rules: [{ path: 'dev/**', capabilities: ['read', 'list'] }] }));
    await enableMount(server, 'approle', 'approle');
    await writeRole(server, 'approle', 'node-agent', { policies: ['agent-read'], token_ttl: '10m', token_max_ttl: '1h' });
    const roleId = (await api(server, 'GET', '/v1/auth/approle/role/node-agent/role-id', { token: server.token })).body.role_id as string;
    const secretId = (await api(server, 'POST', '/v1/auth/approle/role/node-agent/secret-id', { token: server.token, body: {} })).body.secret_id as string;
    writeFileSync(path.join(dir, 'secret-id'), secretId, { mode: 0o600 });
    const configFile = writeAgentConfig(dir, {
      server: { address: server.address },
      auth: { method: 'approle', mount: 'approle', role_id: roleId, secret_id_file: 'secret-id' },
      listen: { tcp: '127.0.0.1:0' },
      agent_token_file: 'agent-token',
    });
    agent = await startAgentProcess(configFile, path.join(dir, 'agent-token'));
    await agent.waitForLog(/"msg":"change feed live"/);
  });
  after(async () => {
    await agent?.stop();
    await server?.stop();
    server?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('logs in with AppRole, and logs in again when its token is revoked', { timeout: 60_000 }, async () => {
    await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name: 'dev/approle/a', value: 'a-value' } });
    const headers = { authorization: `Bearer ${agent.token}` };
    assert.equal((await agentRequest({ address: agent.address }, 'GET', '/v1/values/dev/approle/a', { headers })).body.value, 'a-value');
    const first = JSON.parse(await agent.waitForLog(/"msg":"logged in with AppRole"/)).accessor as string;
    const mark = agent.output().length;
    assert.equal((await api(server, 'POST', '/v1/tokens/revoke', { token: server.token, body: { accessor: first } })).status, 200);
    const second = JSON.parse(await agent.waitForLog(/"msg":"logged in with AppRole"/, mark)).accessor as string;
    assert.notEqual(second, first);
    await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name: 'dev/approle/b', value: 'b-value' } });
    assert.equal((await agentRequest({ address: agent.address }, 'GET', '/v1/values/dev/approle/b', { headers })).body.value, 'b-value');
    const events = await auditAfter(server, 0);
    assert.ok(events.some((e) => e.accessor === second && e.operation === 'secret.read' && e.secret === 'dev/approle/b'), 'the server audits the agent identity');
  });
});

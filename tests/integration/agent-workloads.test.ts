import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { generateKeyPair } from 'jose';
import { parse as parseYaml } from 'yaml';
import { api, startServer, type RunningServer } from '../support/custos-server.js';
import { agentRequest, startAgentProcess, writeAgentConfig, type RunningAgent } from '../support/custos-agent.js';
import { enableMount, writeRole } from '../support/auth-helpers.js';
import { auditAfter, auditHead, createToken, writePolicy } from '../support/http-helpers.js';
import { kubernetesClaims, startIssuer, type LocalIssuer } from '../support/oidc-issuer.js';

/**
 * `custos agent` for workloads: JWT auto-auth with a rotating projected service-account token
 * (a real local issuer with its own keys and JWKS over HTTP), templates re-rendered on change
 * with a reload command, the local caller carried to the server's audit, and the alert raised
 * when the agent reaches the server again after serving stale values. Real server and agent
 * processes; waits are on log lines and file contents (events), never on sleeps.
 */

const hasBoto3 = spawnSync('python3', ['-c', 'import boto3'], { stdio: 'ignore' }).status === 0;
const skipBoto3 = hasBoto3 || process.env.CI ? false : 'python3 boto3 is not installed (CI installs python3-boto3)';

/** Polls `check` until it returns a value (bounded by the test's own timeout, not a timing assertion). */
async function eventually<T>(what: string, check: () => T | undefined | Promise<T | undefined>, ms = 30_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > until) assert.fail(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('custos agent for workloads (JWT auto-auth, templates, caller audit, recovery alert)', () => {
  let server: RunningServer;
  let issuer: LocalIssuer;
  let dir: string;
  let configArgs: string[];
  let agent: RunningAgent;
  const canary = `wl-canary-${randomBytes(8).toString('hex')}`;
  const jwtFile = () => path.join(dir, 'sa-token');
  const marker = () => path.join(dir, 'reloads');
  const profiles = () => path.join(dir, 'out', 'profiles.yml');
  const envFile = () => path.join(dir, 'out', 'app.env');
  const bearer = () => ({ authorization: `Bearer ${agent.token}` });
  const read = (name: string, headers: Record<string, string> = {}) => agentRequest({ address: agent.address }, 'GET', `/v1/values/${name}`, { headers: { ...bearer(), ...headers } });
  const saToken = (options: Parameters<LocalIssuer['sign']>[1] = {}) => issuer.sign(kubernetesClaims('custos', 'custos-agent'), options);
  const loginLine = (from: number) => agent.waitForLog(/"msg":"logged in with a JWT"/, from).then((line) => JSON.parse(line).accessor as string);
  let accessor: string;

  before(async () => {
    issuer = await startIssuer();
    dir = mkdtempSync(path.join(os.tmpdir(), 'custos-agent-wl-'));
    writeFileSync(path.join(dir, 'custos.json'), JSON.stringify({ alerts: { evaluate_interval_seconds: 0.1, rules: { off_hours: { enabled: false } } } }));
    configArgs = ['--config', path.join(dir, 'custos.json')];
    server = await startServer({ args: configArgs });
    await writePolicy(server, 'wl-read', JSON.stringify({ rules: [{ path: 'dev/wl/**', capabilities: ['read', 'list'] }] }));
    await enableMount(server, 'k8s', 'jwt', { jwks_url: issuer.jwksUrl, bound_issuer: issuer.url });
    await writeRole(server, 'k8s', 'node-agent', {
      policies: ['wl-read'], token_ttl: '10m', bound_audiences: ['custos'], bound_subject: 'system:serviceaccount:custos:custos-agent',
    });
    const secrets: Record<string, string> = {
      'dev/wl/db': JSON.stringify({ username: 'dbt', password: `${canary}-pw1` }),
      'dev/wl/api': `${canary}-api`,
    };
    for (const [name, value] of Object.entries(secrets)) assert.equal((await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name, value } })).status, 201);
    writeFileSync(jwtFile(), await saToken(), { mode: 0o600 });
    writeFileSync(path.join(dir, 'profiles.yml.tmpl'), [
      'warehouse:', '  target: dev', '  outputs:', '    dev:', '      type: postgres', '      user: secret://dev/wl/db#username',
      '      password: secret://dev/wl/db#password', '      # not a reference that is read: secret://dev/wl/nothing', '',
    ].join('\n'));
    writeFileSync(path.join(dir, 'app.env.tmpl'), 'API_KEY="secret://dev/wl/api"\n');
    const configFile = writeAgentConfig(dir, {
      server: { address: server.address },
      auth: { method: 'jwt', mount: 'k8s', role: 'node-agent', jwt_file: 'sa-token' },
      listen: { tcp: '127.0.0.1:0' },
      agent_token_file: 'agent-token',
      templates: [
        { source: 'profiles.yml.tmpl', destination: 'out/profiles.yml', command: `echo reloaded >> '${marker()}'` },
        { source: 'app.env.tmpl', destination: 'out/app.env', mode: '0640' },
      ],
      log_level: 'debug',
    });
    agent = await startAgentProcess(configFile, path.join(dir, 'agent-token'));
    accessor = await loginLine(0);
    await agent.waitForLog(/"msg":"change feed live"/);
  });
  after(async () => {
    await agent?.stop();
    await server?.stop();
    server?.cleanup();
    await issuer?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('JWT auto-auth: a rotated token file means a new login, and reads continue under the new token', { timeout: 60_000 }, async () => {
    assert.equal((await read('dev/wl/api')).body.value, `${canary}-api`);
    const mark = agent.output().length;
    // The kubelet writes a fresh token (another expiry, so another text) into the same file.
    writeFileSync(jwtFile(), await saToken({ expiresIn: 900 }), { mode: 0o600 });
    const next = await loginLine(mark);
    assert.notEqual(next, accessor);
    accessor = next;
    const head = await auditHead(server);
    await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name: 'dev/wl/after-rotation', value: `${canary}-after` } });
    assert.equal((await read('dev/wl/after-rotation')).body.value, `${canary}-after`);
    const reads = (await auditAfter(server, head)).filter((e) => e.operation === 'secret.read' && e.secret === 'dev/wl/after-rotation');
    assert.deepEqual(reads.map((e) => e.accessor), [next], 'the read upstream used the token of the new login');
  });

  test('a forged or an expired token file: a clear auth error, the agent keeps serving on its current token', { timeout: 60_000 }, async () => {
    const { privateKey } = await generateKeyPair('RS256');
    for (const [what, jwt, code] of [
      ['forged (signed by another key under the issuer\'s kid)', await saToken({ key: privateKey }), 'jwt_signature_invalid'],
      ['expired', await saToken({ issuedAt: Math.floor(Date.now() / 1000) - 7200, expiresIn: -3600 }), 'jwt_expired'],
    ] as const) {
      const mark = agent.output().length;
      writeFileSync(jwtFile(), jwt, { mode: 0o600 });
      const line = JSON.parse(await agent.waitForLog(/"msg":"authentication failed"/, mark));
      assert.equal(line.code, code, what);
      assert.equal(line.method, 'jwt');
      assert.equal(line.still_using_previous_token, true);
      assert.ok(!agent.output().includes(jwt), `${what}: the JWT is not logged`);
      const health = await agentRequest({ address: agent.address }, 'GET', '/agent/health');
      assert.equal(health.body.auth_error, code, what);
      assert.equal(agent.process.exitCode, null, `${what}: the agent is still running`);
      assert.equal((await read('dev/wl/api')).body.value, `${canary}-api`, `${what}: still served`);
    }
    // A good token again: the error clears.
    const mark = agent.output().length;
    writeFileSync(jwtFile(), await saToken({ expiresIn: 1200 }), { mode: 0o600 });
    accessor = await loginLine(mark);
    assert.equal((await agentRequest({ address: agent.address }, 'GET', '/agent/health')).body.auth_error, undefined);
    // Its token revoked (renewal would fail too): the agent logs in again with the JWT file.
    const revoked = agent.output().length;
    assert.equal((await api(server, 'POST', '/v1/tokens/revoke', { token: server.token, body: { accessor } })).status, 200);
    const fresh = await loginLine(revoked);
    assert.notEqual(fresh, accessor);
    accessor = fresh;
    await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name: 'dev/wl/after-revoke', value: `${canary}-revoke` } });
    assert.equal((await read('dev/wl/after-revoke')).body.value, `${canary}-revoke`);
  });

  test('an agent started with an expired token file says why it cannot authenticate, stays up, and logs in once the file is good', { timeout: 60_000 }, async () => {
    const other = mkdtempSync(path.join(os.tmpdir(), 'custos-agent-wl2-'));
    const expired = await saToken({ issuedAt: Math.floor(Date.now() / 1000) - 7200, expiresIn: -3600 });
    writeFileSync(path.join(other, 'sa-token'), expired, { mode: 0o600 });
    const configFile = writeAgentConfig(other, {
      server: { address: server.address }, auth: { method: 'jwt', mount: 'k8s', role: 'node-agent', jwt_file: 'sa-token' },
      listen: { tcp: '127.0.0.1:0' }, agent_token_file: 'agent-token',
    });
    const second = await startAgentProcess(configFile, path.join(other, 'agent-token'));
    try {
      assert.equal(JSON.parse(await second.waitForLog(/"msg":"authentication failed"/)).code, 'jwt_expired');
      assert.equal((await agentRequest({ address: second.address }, 'GET', '/agent/health')).body.auth_error, 'jwt_expired');
      const refused = await agentRequest({ address: second.address }, 'GET', '/v1/values/dev/wl/api', { headers: { authorization: `Bearer ${second.token}` } });
      assert.ok(refused.status >= 400, JSON.stringify(refused.body));
      assert.ok(!JSON.stringify(refused.body).includes(canary));
      assert.equal(second.process.exitCode, null);
      const mark = second.output().length;
      writeFileSync(path.join(other, 'sa-token'), await saToken(), { mode: 0o600 });
      await second.waitForLog(/"msg":"logged in with a JWT"/, mark);
      const served = await eventually('the second agent serves', async () => {
        const r = await agentRequest({ address: second.address }, 'GET', '/v1/values/dev/wl/api', { headers: { authorization: `Bearer ${second.token}` } });
        return r.status === 200 ? r : undefined;
      });
      assert.equal(served.body.value, `${canary}-api`);
      assert.ok(!second.output().includes(expired));
    } finally {
      await second.stop();
      rmSync(other, { recursive: true, force: true });
    }
  });

  test('templates: rendered 0600 (or their mode), re-rendered atomically when a secret they name changes, and the reload command runs', { timeout: 60_000 }, async () => {
    const rendered = await eventually('profiles.yml rendered', () => (existsSync(profiles()) ? readFileSync(profiles(), 'utf8') : undefined));
    const first = parseYaml(rendered) as { warehouse: { outputs: { dev: { user: string; password: string } } } };
    assert.deepEqual(first.warehouse.outputs.dev, { type: 'postgres', user: 'dbt', password: `${canary}-pw1` });
    assert.equal(statSync(profiles()).mode & 0o777, 0o600);
    assert.equal(readFileSync(envFile(), 'utf8'), `API_KEY="${canary}-api"\n`);
    assert.equal(statSync(envFile()).mode & 0o777, 0o640);
    await eventually('the reload command ran once', () => (existsSync(marker()) && readFileSync(marker(), 'utf8') === 'reloaded\n' ? true : undefined));

    // A new value with characters YAML must escape: the file still means what it says.
    const next = `${canary}-pw2: "quoted" # not a comment`;
    const mark = agent.output().length;
    assert.equal((await api(server, 'POST', '/v1/values/dev/wl/db', { token: server.token, body: { value: JSON.stringify({ username: 'dbt', password: next }) } })).status, 201);
    const updated = await eventually('profiles.yml re-rendered', () => {
      const text = readFileSync(profiles(), 'utf8');
      return text.includes(`${canary}-pw2`) ? text : undefined;
    });
    assert.equal((parseYaml(updated) as typeof first).warehouse.outputs.dev.password, next);
    assert.equal(statSync(profiles()).mode & 0o777, 0o600);
    await eventually('the reload command ran again', () => (readFileSync(marker(), 'utf8') === 'reloaded\nreloaded\n' ? true : undefined));
    await agent.waitForLog(/"msg":"template rendered","destination":"[^"]*profiles.yml"/, mark);
    // The .env names another secret: it was not rewritten, and no temp file is left behind.
    assert.equal(readFileSync(envFile(), 'utf8'), `API_KEY="${canary}-api"\n`);
    assert.deepEqual(readdirSync(path.dirname(profiles())).sort(), ['app.env', 'profiles.yml']);
    assert.ok(!agent.output().includes(canary), 'the agent log holds a secret value');
  });

  test('the local caller reaches the server\'s audit as on_behalf_of, beside the agent\'s own identity', { timeout: 60_000 }, async () => {
    await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name: 'dev/wl/for-pod', value: `${canary}-pod` } });
    const head = await auditHead(server);
    const long = `pod/etl-7 {"accessor":"acc_root"} ${'x'.repeat(300)}`;
    assert.equal((await read('dev/wl/for-pod', { 'x-custos-caller': long })).body.value, `${canary}-pod`);
    const [event, ...more] = (await auditAfter(server, head)).filter((e) => e.operation === 'secret.read' && e.secret === 'dev/wl/for-pod');
    assert.equal(more.length, 0);
    assert.equal(event.accessor, accessor, 'the principal is the agent\'s token');
    assert.equal(event.detail.on_behalf_of, long.slice(0, 128), 'the caller is recorded, capped');
    // AWS-shaped reads carry it too.
    await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name: 'dev/wl/for-boto', value: `${canary}-boto` } });
    const awsHead = await auditHead(server);
    const aws = await agentRequest({ address: agent.address }, 'POST', '/', {
      headers: { 'x-amz-target': 'secretsmanager.GetSecretValue', 'content-type': 'application/x-amz-json-1.1', ...bearer(), 'x-custos-caller': 'uid=1000' },
      body: { SecretId: 'dev/wl/for-boto' },
    });
    assert.equal(aws.body.SecretString, `${canary}-boto`);
    const awsEvent = (await auditAfter(server, awsHead)).find((e) => e.operation === 'secret.read' && e.secret === 'dev/wl/for-boto');
    assert.deepEqual([awsEvent.accessor, awsEvent.detail.on_behalf_of], [accessor, 'uid=1000']);
  });

  test('a boto3 job names itself with AWS_SDK_UA_APP_ID (no code change): the server\'s audit has it as on_behalf_of', { skip: skipBoto3, timeout: 60_000 }, async () => {
    await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name: 'dev/wl/for-app-id', value: `${canary}-app` } });
    const head = await auditHead(server);
    const child = spawnSync('python3', ['-c', "import boto3; print(boto3.client('secretsmanager').get_secret_value(SecretId='dev/wl/for-app-id')['SecretString'])"], {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH, HOME: dir, AWS_ENDPOINT_URL: agent.address, AWS_ACCESS_KEY_ID: agent.token, AWS_SECRET_ACCESS_KEY: 'unused',
        AWS_DEFAULT_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true', AWS_SDK_UA_APP_ID: 'airflow-worker-3',
        ...(process.env.PYENV_ROOT ? { PYENV_ROOT: process.env.PYENV_ROOT } : {}),
      },
    });
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout.trim(), `${canary}-app`);
    const event = (await auditAfter(server, head)).find((e) => e.operation === 'secret.read' && e.secret === 'dev/wl/for-app-id');
    assert.deepEqual([event.accessor, event.detail.on_behalf_of], [accessor, 'airflow-worker-3']);
  });

  test('abuse: on_behalf_of sent straight to the server never changes the principal or what is allowed', { timeout: 60_000 }, async () => {
    const limited = await createToken(server, { policies: ['wl-read'], display_name: 'limited' });
    const rootAccessor = (await api(server, 'GET', '/v1/tokens/self', { token: server.token })).body.accessor as string;
    await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name: 'prod/wl/locked', value: `${canary}-locked` } });
    const head = await auditHead(server);
    const denied = await api(server, 'GET', '/v1/values/prod/wl/locked', { token: limited.token, headers: { 'x-custos-on-behalf-of': rootAccessor } });
    assert.equal(denied.status, 403);
    assert.ok(!JSON.stringify(denied.body).includes(canary));
    const anonymous = await api(server, 'GET', '/v1/values/prod/wl/locked', { headers: { 'x-custos-on-behalf-of': rootAccessor } });
    assert.equal(anonymous.status, 401);
    const events = (await auditAfter(server, head)).filter((e) => e.secret === 'prod/wl/locked');
    assert.equal(events.length, 2);
    assert.deepEqual(events.map((e) => [e.accessor, e.outcome, e.detail.on_behalf_of]), [[limited.accessor, 'denied', rootAccessor], [null, 'denied', rootAccessor]]);
    // Nothing but the tag: an attempt to smuggle other detail fields stays inside the string.
    const smuggled = await api(server, 'GET', '/v1/values/dev/wl/api', { token: limited.token, headers: { 'x-custos-on-behalf-of': '","alert":"break_glass' } });
    assert.equal(smuggled.status, 200);
    const [event] = (await auditAfter(server, head)).filter((e) => e.secret === 'dev/wl/api' && e.accessor === limited.accessor);
    assert.equal(event.detail.alert, undefined);
    assert.equal(event.detail.on_behalf_of, '","alert":"break_glass');
  });

  test('the server returns after an outage in which the agent served stale values: an agent_recovered alert with the outage and the stale count', { timeout: 120_000 }, async () => {
    assert.equal((await read('dev/wl/api')).body.value, `${canary}-api`);
    const lost = agent.output().length;
    await server.stop();
    await agent.waitForLog(/"msg":"change feed lost/, lost);
    for (let i = 0; i < 3; i++) {
      const stale = await read('dev/wl/api');
      assert.equal(stale.status, 200);
      assert.match(String(stale.headers['x-custos-stale']), /^\d+$/);
    }
    const back = agent.output().length;
    const root = server.token;
    server = await startServer({ dataDir: server.dataDir, home: server.home, port: server.port, args: configArgs });
    Object.assign(server, { token: root });
    const report = JSON.parse(await agent.waitForLog(/"msg":"reported the recovery to the server"/, back));
    assert.ok(report.stale_answers >= 3, JSON.stringify(report));
    assert.ok(report.outage_seconds >= 0);
    const events = (await auditAfter(server, 0)).filter((e) => e.operation === 'agent.recovered');
    assert.equal(events.length, 1);
    assert.equal(events[0].accessor, accessor);
    assert.equal(events[0].detail.alert, 'agent_recovered');
    assert.equal(events[0].detail.stale_answers, report.stale_answers);
    const alert = await eventually('the agent_recovered alert fires', async () => {
      const r = await api(server, 'GET', '/v1/alerts?rule=integrity', { token: root });
      return (r.body.alerts as any[]).find((a) => a.facts.kind === 'agent_recovered');
    });
    assert.equal(alert.severity, 'warning');
    assert.equal(alert.principal, accessor);
    assert.equal(alert.facts.stale_answers, report.stale_answers);
    assert.equal(alert.facts.outage_seconds, report.outage_seconds);
    assert.ok(!JSON.stringify(alert).includes(canary));
  });

  test('agent reports: one per token per minute, numbers only', { timeout: 30_000 }, async () => {
    const reporter = await createToken(server, { policies: ['wl-read'], display_name: 'reporter' });
    const post = (body: unknown) => api(server, 'POST', '/v1/agent/recovered', { token: reporter.token, body });
    for (const bad of [{ outage_seconds: -1, stale_answers: 1 }, { outage_seconds: 1, stale_answers: 1, alert: 'break_glass' }, { outage_seconds: '1', stale_answers: 1 }]) {
      assert.equal((await post(bad)).body.error.code, 'validation_failed', JSON.stringify(bad));
    }
    assert.equal((await post({ outage_seconds: 5, stale_answers: 2 })).status, 202);
    const again = await post({ outage_seconds: 5, stale_answers: 2 });
    assert.deepEqual([again.status, again.body.error.code], [429, 'agent_report_rate_limited']);
    assert.equal((await api(server, 'POST', '/v1/agent/recovered', { body: { outage_seconds: 5, stale_answers: 2 } })).status, 401);
  });
});

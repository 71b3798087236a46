import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { api, runCli, startServer, type RunningServer } from '../support/custos-server.js';
import { createSecret, createToken, eventually, writePolicy } from '../support/http-helpers.js';

const CANARY = 'canary-alert-value-5d2e81';
const HMAC_KEY = 'whsec-integration-9f8e7d6c5b4a';

/**
 * The whole path on a real server: audited requests -> the leader's evaluator -> alert rows ->
 * signed webhook to a local receiver -> `custos alerts` ack/silence; alerts are audited, and
 * the canary value of the secret involved appears nowhere.
 */
describe('alerts end to end', () => {
  let server: RunningServer;
  let dir: string;
  const bodies: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      bodies.push({ headers: req.headers, body });
      res.end('ok');
    });
  });

  before(async () => {
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    dir = mkdtempSync(path.join(os.tmpdir(), 'custos-alerts-'));
    writeFileSync(path.join(dir, 'hook.key'), HMAC_KEY + '\n');
    const config = {
      alerts: {
        evaluate_interval_seconds: 0.1,
        rules: { off_hours: { enabled: false }, expiring: { enabled: false }, failure_burst: { threshold: 3 } },
        sinks: [{ name: 'ops', type: 'webhook', url: `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`, secret_file: path.join(dir, 'hook.key') }],
      },
    };
    writeFileSync(path.join(dir, 'custos.json'), JSON.stringify(config));
    server = await startServer({ args: ['--config', path.join(dir, 'custos.json')] });
  });
  after(async () => {
    await server?.stop();
    server?.cleanup();
    receiver.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('fires first-time access and a denial burst once each, delivers them signed, and never carries the value', async () => {
    await createSecret(server, 'prod/etl/warehouse', CANARY);
    await writePolicy(server, 'prod-read', JSON.stringify({ rules: [{ path: 'prod/**', capabilities: ['read'] }] }));
    const pipeline = await createToken(server, { policies: ['prod-read'], display_name: 'airflow' });
    assert.equal((await api(server, 'GET', '/v1/values/prod/etl/warehouse', { token: pipeline.token })).body.value, CANARY);
    assert.equal((await api(server, 'GET', '/v1/values/prod/etl/warehouse', { token: pipeline.token })).status, 200);
    for (let i = 0; i < 4; i++) assert.equal((await api(server, 'GET', '/v1/values/dev/etl/other', { token: pipeline.token })).status, 403);

    await eventually('two alerts delivered', () => bodies.length >= 2, 15_000);
    const payloads = bodies.map((b) => JSON.parse(b.body));
    const byRule = Object.fromEntries(payloads.map((p) => [p.rule, p]));
    assert.deepEqual(Object.keys(byRule).sort(), ['failure_burst', 'first_time_access']);
    assert.equal(byRule.first_time_access.principal, pipeline.accessor);
    assert.equal(byRule.first_time_access.secret, 'prod/etl/warehouse');
    assert.equal(byRule.failure_burst.facts.failures >= 3, true);
    assert.equal(byRule.failure_burst.principal, pipeline.accessor);
    for (const b of bodies) {
      assert.ok(!b.body.includes(CANARY), 'no value in a webhook body');
      const expected = 'v1=' + createHmac('sha256', HMAC_KEY).update(`${b.headers['x-custos-timestamp']}.${b.body}`).digest('hex');
      assert.equal(b.headers['x-custos-signature'], expected);
    }
    // The audit seqs named in the alert are the reads that triggered it.
    const seq = byRule.first_time_access.audit_seqs[0];
    const events = await api(server, 'GET', `/v1/audit/events?after_seq=${seq - 1}&limit=1`, { token: server.token });
    assert.equal(events.body.events[0].operation, 'secret.read');
    assert.equal(events.body.events[0].accessor, pipeline.accessor);

    const fired = await api(server, 'GET', '/v1/audit/events?operation=alert.fired', { token: server.token });
    assert.equal(fired.body.events.length, 2, 'each alert is an audit event, once');
    await new Promise((r) => setTimeout(r, 300)); // a few more evaluation rounds: still exactly two
    assert.equal((await api(server, 'GET', '/v1/audit/events?operation=alert.fired', { token: server.token })).body.events.length, 2);
  });

  it('custos alerts list/show/ack/silence work for an operator and are refused without sys:alerts', async () => {
    const list = await runCli(['alerts', 'list', '--json'], { server });
    assert.equal(list.code, 0, list.stderr);
    const alerts = JSON.parse(list.stdout) as { id: string; rule: string }[];
    assert.deepEqual(alerts.map((a) => a.rule).sort(), ['failure_burst', 'first_time_access']);
    const burst = alerts.find((a) => a.rule === 'failure_burst')!;
    const ack = await runCli(['alerts', 'ack', burst.id], { server });
    assert.equal(ack.code, 0, ack.stderr);
    assert.match(ack.stdout, /acknowledged/);
    const silence = await runCli(['alerts', 'silence', burst.id, '--for', '2h'], { server });
    assert.equal(silence.code, 0, silence.stderr);
    const shown = await runCli(['alerts', 'show', burst.id, '--json'], { server });
    const detail = JSON.parse(shown.stdout);
    assert.ok(detail.acked_by && detail.silenced_until);
    assert.deepEqual(detail.deliveries.map((d: { status: string }) => d.status), ['delivered']);
    const table = await runCli(['alerts', 'show', burst.id], { server });
    assert.match(table.stdout, /fact: failures/);
    const bad = await runCli(['alerts', 'silence', burst.id, '--for', 'forever'], { server });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /validation_failed/);

    const reader = await createToken(server, { policies: ['prod-read'] });
    const refused = await api(server, 'GET', '/v1/alerts', { token: reader.token });
    assert.equal(refused.body.error.code, 'permission_denied');
    assert.equal((await api(server, 'POST', `/v1/alerts/${burst.id}/ack`, { token: reader.token })).body.error.code, 'permission_denied');
    assert.equal((await api(server, 'GET', '/v1/alerts/alr_000000000000', { token: server.token })).body.error.code, 'alert_not_found');
    const acks = await api(server, 'GET', '/v1/audit/events?operation=alert.ack&outcome=success', { token: server.token });
    assert.equal(acks.body.events.length, 1);
  });

  it('the canary is in no alert, no log line and no database file in plaintext', async () => {
    const all = await api(server, 'GET', '/v1/alerts?limit=1000', { token: server.token });
    assert.ok(!JSON.stringify(all.body).includes(CANARY));
    assert.ok(!server.output().includes(CANARY));
    for (const file of readdirSync(server.dataDir)) {
      if (!file.startsWith('custos.db')) continue;
      assert.ok(!readFileSync(path.join(server.dataDir, file)).includes(Buffer.from(CANARY)), `${file} holds no plaintext canary`);
    }
  });
});

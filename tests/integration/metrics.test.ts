import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { api, startServer, type RunningServer } from '../support/custos-server.js';
import { createSecret, createToken, writePolicy } from '../support/http-helpers.js';
import { parsePrometheusText, type PromFamily } from '../support/prom-text.js';

const CANARY = 'canary-metrics-value-7f3a9c';
const SECRET = 'prod/payments-etl/canary-metrics-db';

async function scrape(server: RunningServer, token?: string) {
  const response = await fetch(`${server.address}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

const sum = (family: PromFamily | undefined, name: string, match: Record<string, string>) =>
  (family?.samples ?? []).filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);

describe('GET /metrics (token-protected by default)', () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer({ env: { CUSTOS_METRICS_ENVIRONMENTS: 'dev,prod' } });
  });
  after(async () => {
    await server.stop();
    server.cleanup();
  });

  it('refuses a scrape without a token and with a token lacking read on sys:metrics', async () => {
    const anonymous = await scrape(server);
    assert.equal(anonymous.status, 401);
    assert.equal(JSON.parse(anonymous.text).error.code, 'missing_token');
    await writePolicy(server, 'prod-reader', JSON.stringify({ rules: [{ path: 'prod/**', capabilities: ['read'] }] }));
    const reader = await createToken(server, { policies: ['prod-reader'] });
    const denied = await scrape(server, reader.token);
    assert.equal(denied.status, 403);
    assert.equal(JSON.parse(denied.text).error.code, 'permission_denied');
    // A sys:** reader bound to an environment is still refused: metrics span every environment.
    await writePolicy(server, 'metrics', JSON.stringify({ rules: [{ path: 'sys:metrics', capabilities: ['read'] }] }));
    const bound = await createToken(server, { policies: ['metrics'], env: 'dev' });
    assert.equal((await scrape(server, bound.token)).status, 403);
    const scraper = await createToken(server, { policies: ['metrics'] });
    assert.equal((await scrape(server, scraper.token)).status, 200);
  });

  it('exposes the families, parsed strictly, with route patterns and bounded labels and no secret name or value', async () => {
    await createSecret(server, SECRET, CANARY);
    await createSecret(server, 'qa/tool/x', 'qa-value');
    for (let i = 0; i < 3; i++) assert.equal((await api(server, 'GET', `/v1/values/${SECRET}`, { token: server.token })).status, 200);
    assert.equal((await api(server, 'GET', '/v1/values/qa/tool/x', { token: server.token })).status, 200);
    assert.equal((await api(server, 'GET', '/v1/values/prod/payments-etl/missing-canary-name', { token: server.token })).status, 404);
    assert.equal((await api(server, 'GET', `/v1/values/${SECRET}`, { token: 'cst_forged' })).status, 401);
    assert.equal((await api(server, 'GET', '/no/such/route/canary-metrics-db')).status, 404);

    const result = await scrape(server, server.token);
    assert.equal(result.status, 200);
    assert.match(result.type ?? '', /^text\/plain; version=0\.0\.4/);
    assert.ok(!result.text.includes(CANARY), 'the value never appears');
    assert.ok(!result.text.includes('canary-metrics-db') && !result.text.includes('payments-etl') && !result.text.includes('missing-canary-name'), 'no secret name or concrete URL appears');
    const families = parsePrometheusText(result.text);

    for (const [name, type] of Object.entries({
      custos_http_requests_total: 'counter', custos_http_request_duration_seconds: 'histogram', custos_secret_reads_total: 'counter',
      custos_request_errors_total: 'counter', custos_audit_pending_events: 'gauge', custos_audit_write_duration_seconds: 'histogram',
      custos_sealed: 'gauge', custos_rotation_runs: 'gauge', custos_rotation_overdue_secrets: 'gauge', custos_alerts_firing: 'gauge',
      process_cpu_user_seconds_total: 'counter', nodejs_eventloop_lag_seconds: 'gauge',
    })) {
      assert.equal(families.get(name)?.type, type, `${name} is a ${type}`);
    }
    const requests = families.get('custos_http_requests_total');
    assert.equal(sum(requests, 'custos_http_requests_total', { route: '/v1/values/*', method: 'GET', outcome: 'success' }), 4);
    assert.equal(sum(requests, 'custos_http_requests_total', { route: '/v1/values/*', outcome: 'failure' }), 1);
    assert.equal(sum(requests, 'custos_http_requests_total', { route: '/v1/values/*', outcome: 'denied' }), 1);
    assert.equal(sum(requests, 'custos_http_requests_total', { route: 'unmatched' }), 1);
    const routes = new Set(requests!.samples.map((s) => s.labels.route));
    for (const route of routes) assert.ok(route === 'unmatched' || route === '/metrics' || route!.startsWith('/v1/'), `route label is a pattern: ${route}`);
    const latency = families.get('custos_http_request_duration_seconds')!;
    assert.equal(sum(latency, 'custos_http_request_duration_seconds_count', { route: '/v1/values/*', outcome: 'success' }), 4);

    const reads = families.get('custos_secret_reads_total');
    assert.equal(sum(reads, 'custos_secret_reads_total', { environment: 'prod', outcome: 'success' }), 3);
    assert.equal(sum(reads, 'custos_secret_reads_total', { environment: 'other', outcome: 'success' }), 1, 'qa is not a configured environment');
    assert.equal(sum(reads, 'custos_secret_reads_total', { environment: 'prod', outcome: 'failure' }), 1);
    assert.deepEqual(new Set(reads!.samples.map((s) => s.labels.environment)), new Set(['prod', 'other']));

    const errors = families.get('custos_request_errors_total');
    assert.equal(sum(errors, 'custos_request_errors_total', { code: 'secret_not_found', outcome: 'failure' }), 1);
    assert.equal(sum(errors, 'custos_request_errors_total', { code: 'invalid_token', outcome: 'denied' }), 1);
    assert.equal(families.get('custos_sealed')!.samples[0]!.value, 0);
    assert.ok(sum(families.get('custos_audit_write_duration_seconds'), 'custos_audit_write_duration_seconds_count', {}) > 0);
  });
});

describe('GET /metrics with metrics_public', () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer({ env: { CUSTOS_METRICS_PUBLIC: 'true' } });
  });
  after(async () => {
    await server.stop();
    server.cleanup();
  });

  it('answers without a token, also while sealed, and reports the seal', async () => {
    const open = await scrape(server);
    assert.equal(open.status, 200);
    assert.equal(parsePrometheusText(open.text).get('custos_sealed')!.samples[0]!.value, 0);
    assert.equal((await api(server, 'POST', '/v1/sys/seal', { token: server.token })).status, 200);
    const sealed = await scrape(server);
    assert.equal(sealed.status, 200);
    assert.equal(parsePrometheusText(sealed.text).get('custos_sealed')!.samples[0]!.value, 1);
  });
});

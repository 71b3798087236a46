import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createMetrics } from './metrics.js';

type Family = { name: string; values: { metricName?: string; labels: Record<string, string>; value: number }[] };

async function family(metrics: ReturnType<typeof createMetrics>, name: string): Promise<Family['values']> {
  const all = (await metrics.collect()) as Family[];
  return all.find((f) => f.name === name)?.values ?? [];
}

describe('request metrics', () => {
  test('a read counts under its first path segment only when that segment is a configured environment', async () => {
    const metrics = createMetrics({ environments: ['prod', 'dev/x', ''], isKnownCode: () => true, processMetrics: false });
    for (const name of ['prod/a', 'prod/a/b', 'production/a', 'prod', 'prodx/a', 'dev/x/a', '/prod/a', null]) metrics.observeRead('secret.read', name, 'success');
    metrics.observeRead('aws.GetSecretValue', 'prod/a', 'denied');
    metrics.observeRead('secret.write', 'prod/a', 'success');
    const counts = Object.fromEntries((await family(metrics, 'custos_secret_reads_total')).map((v) => [`${v.labels.environment}|${v.labels.outcome}`, v.value]));
    assert.deepEqual(counts, { 'prod|success': 2, 'other|success': 6, 'prod|denied': 1 });
  });

  test('requests of one route, method and outcome share one series; latency lands in its bucket', async () => {
    const metrics = createMetrics({ environments: [], isKnownCode: (code) => code === 'permission_denied', processMetrics: false });
    metrics.observeRequest('/v1/values/*', 'GET', 'success', 0.0004, null);
    metrics.observeRequest('/v1/values/*', 'GET', 'success', 0.003, null);
    metrics.observeRequest('/v1/values/*', 'GET', 'denied', 0.001, 'permission_denied');
    metrics.observeRequest(undefined, 'BREW', 'failure', 0.001, 'made_up');
    const requests = (await family(metrics, 'custos_http_requests_total')).map((v) => `${v.labels.route} ${v.labels.method} ${v.labels.outcome} ${v.value}`);
    assert.deepEqual(requests.sort(), ['/v1/values/* GET denied 1', '/v1/values/* GET success 2', 'unmatched other failure 1']);
    const buckets = (await family(metrics, 'custos_http_request_duration_seconds'))
      .filter((v) => v.metricName?.endsWith('_bucket') && v.labels.outcome === 'success' && ['0.0005', '0.0025', '0.005'].includes(v.labels.le!));
    assert.deepEqual(buckets.map((v) => [v.labels.le, v.value]), [['0.0005', 1], ['0.0025', 1], ['0.005', 2]]);
    const errors = (await family(metrics, 'custos_request_errors_total')).map((v) => `${v.labels.code} ${v.labels.outcome}`);
    assert.deepEqual(errors.sort(), ['other failure', 'permission_denied denied']);
  });
});

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { createLocalChangeBus } from '../lib/change-bus.js';
import { createAuthorizer } from '../services/authorizer.js';
import type { Identity } from '../auth/identity.types.js';
import { createPolicyStore } from '../storage/policy-store.js';
import { alertKit, MINUTE, type AlertKit } from '../../tests/support/alert-kit.js';
import { createAlertService } from './alert-service.js';
import type { Sink } from './alert-sinks.js';

/** A local webhook receiver whose answers the test scripts (status per request, in order). */
function receiver() {
  const received: { headers: http.IncomingHttpHeaders; body: string; path: string }[] = [];
  let statuses: number[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ headers: req.headers, body, path: req.url ?? '' });
      res.statusCode = statuses.shift() ?? 200;
      res.end('{"receiver":"body never stored"}');
    });
  });
  return {
    received,
    script(next: number[]) { statuses = next; },
    async start() { await new Promise<void>((r) => server.listen(0, '127.0.0.1', r)); return `http://127.0.0.1:${(server.address() as { port: number }).port}`; },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const SECRET = 'whsec-test-0123456789abcdef';
const ROOT: Identity = { accessor: 'acc_root', displayName: 'root', policies: [], env: null, isRoot: true, expiresAt: null };
const integrityOnly = { rules: { off_hours: { enabled: false }, volume_spike: { enabled: false }, first_time_access: { enabled: false }, failure_burst: { enabled: false }, expiring: { enabled: false }, rotation: { enabled: false }, unused: { enabled: false } } };

describe('webhook and Slack delivery', () => {
  const hook = receiver();
  let base = '';
  let kit: AlertKit;
  before(async () => {
    base = await hook.start();
  });
  after(() => hook.close());

  async function fresh(maxAttempts: number) {
    const sinks: Sink[] = [{ name: 'ops', type: 'webhook', url: `${base}/hook`, secret: SECRET }, { name: 'chat', type: 'slack', url: `${base}/slack`, rules: ['integrity'] }, { name: 'rotation-only', type: 'webhook', url: `${base}/never`, rules: ['rotation'] }];
    kit = await alertKit({ ...integrityOnly, delivery: { max_attempts: maxAttempts, backoff_seconds: 5 } }, { sinks });
    hook.received.length = 0;
  }
  const deliveries = async () => kit.alertStore.deliveries(kit.db, (await kit.alerts())[0]!.id);

  test('a failing receiver is retried with backoff until it answers 2xx; the body is signed and names no value', async () => {
    await fresh(5);
    try {
      hook.script([500, 503, 200, 200]);
      await kit.record({ operation: 'secret.write', accessor: 'acc_oncall', secretName: 'prod/etl/db', detail: { alert: 'break_glass' } });
      await kit.evaluate(); // webhook attempt 1 fails (500); Slack attempt 1 fails (503)
      assert.equal(hook.received.length, 2);
      kit.now += 4_000;
      await kit.evaluate(); // backoff not over: nothing sent
      assert.equal(hook.received.length, 2);
      kit.now += 1_000;
      await kit.evaluate(); // attempt 2 of each succeeds
      assert.equal(hook.received.length, 4);
      const rows = await deliveries();
      assert.deepEqual(rows.map((d) => [d.sink, d.status, d.attempts]).sort(), [['chat', 'delivered', 2], ['ops', 'delivered', 2]]);
      assert.ok(!hook.received.some((r) => r.path === '/never'), 'a sink limited to other rules gets nothing');

      const webhook = hook.received.filter((r) => r.path === '/hook').at(-1)!;
      const timestamp = webhook.headers['x-custos-timestamp'] as string;
      const expected = 'v1=' + createHmac('sha256', SECRET).update(`${timestamp}.${webhook.body}`).digest('hex');
      assert.equal(webhook.headers['x-custos-signature'], expected);
      const payload = JSON.parse(webhook.body);
      assert.deepEqual(Object.keys(payload).sort(), ['audit_seqs', 'event', 'facts', 'fired_at', 'id', 'node', 'occurrences', 'principal', 'resolved_at', 'rule', 'secret', 'severity', 'status', 'summary']);
      assert.equal(payload.rule, 'integrity');
      assert.equal(payload.principal, 'acc_oncall');
      assert.equal(payload.secret, 'prod/etl/db');
      assert.equal(payload.audit_seqs.length, 1);
      assert.ok(!webhook.body.includes(SECRET), 'the signing key is never in the body');
      const slack = JSON.parse(hook.received.filter((r) => r.path === '/slack').at(-1)!.body);
      assert.deepEqual(Object.keys(slack), ['text']);
      assert.match(slack.text, /break_glass/);
      assert.equal(hook.received.find((r) => r.path === '/slack')!.headers['x-custos-signature'], undefined);
    } finally {
      await kit.close();
    }
  });

  test('after max_attempts the delivery is dead-lettered in the database and audited', async () => {
    await fresh(3);
    try {
      hook.script(Array(20).fill(500));
      await kit.record({ operation: 'wrap.unwrap', detail: { alert: 'second_unwrap' } });
      for (let i = 0; i < 4; i++) {
        await kit.evaluate();
        kit.now += 60_000;
      }
      const rows = await deliveries();
      assert.deepEqual(rows.map((d) => [d.sink, d.status, d.attempts, d.last_error]).sort(), [['chat', 'dead', 3, 'HTTP 500'], ['ops', 'dead', 3, 'HTTP 500']]);
      assert.equal(hook.received.length, 6, 'three attempts per sink, then no more');
      assert.equal((await kit.auditOps('alert.delivery_failed')).length, 2);
    } finally {
      await kit.close();
    }
  });

  test('acknowledge records who and keeps the alert firing; silence cancels queued notifications; both need update on sys:alerts', async () => {
    await fresh(5);
    const service = createAlertService({ db: kit.db, alertStore: kit.alertStore, authorizer: createAuthorizer({ db: kit.db, policyStore: createPolicyStore(), changes: createLocalChangeBus() }), now: () => kit.now });
    try {
      hook.script([500, 500]);
      await kit.record({ operation: 'secret.write', detail: { alert: 'break_glass' } });
      await kit.evaluate();
      const [alert] = await kit.alerts();
      const acked = await service.acknowledge(ROOT, alert!.id);
      assert.equal(acked.alert.acked_by, 'acc_root');
      assert.equal(acked.alert.status, 'firing', 'acknowledging does not resolve');
      const silenced = await service.silence(ROOT, alert!.id, 3600);
      assert.ok(silenced.silencedUntil! > kit.now);
      assert.deepEqual(silenced.deliveries.map((d) => d.status), ['cancelled', 'cancelled']);
      kit.now += MINUTE;
      await kit.evaluate();
      assert.equal(hook.received.length, 2, 'no retry after the silence');
      await assert.rejects(service.silence(ROOT, alert!.id, 5), { code: 'validation_failed' });
      await assert.rejects(service.acknowledge(ROOT, 'alr_doesnotexist'), { code: 'alert_not_found' });
      const reader: Identity = { ...ROOT, isRoot: false, accessor: 'acc_reader' };
      await assert.rejects(service.acknowledge(reader, alert!.id), { code: 'permission_denied' });
      await assert.rejects(service.list(reader, {}), { code: 'permission_denied' });
    } finally {
      await kit.close();
    }
  });
});

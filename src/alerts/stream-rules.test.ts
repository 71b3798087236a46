import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { alertKit, DAY, HOUR, MINUTE, type AlertKit } from '../../tests/support/alert-kit.js';

/** Each stream rule over a scripted audit history: fires exactly once, and not just under its threshold. */
const only = (rule: string, extra: Record<string, unknown> = {}) => ({
  rules: Object.fromEntries(['off_hours', 'volume_spike', 'first_time_access', 'failure_burst', 'expiring', 'rotation', 'unused', 'integrity']
    .map((r) => [r, r === rule ? { enabled: true, ...extra } : { enabled: false }])),
});

async function withKit(config: Record<string, unknown>, fn: (kit: AlertKit) => Promise<void>, start?: number) {
  const kit = await alertKit(config, { start });
  try {
    await fn(kit);
  } finally {
    await kit.close();
  }
}

describe('off-hours access', () => {
  test('a prod read before 07:00 on a weekday fires once per principal and day; reads inside the window and in dev do not', async () => {
    await withKit(only('off_hours'), async (kit) => {
      // Recorded in time order, as the log stamps them (an event is never earlier than the one before).
      const tuesday = Date.UTC(2026, 8, 1);
      await kit.read('acc_alice', 'dev/etl/db', tuesday + 3 * HOUR); // no window for dev
      await kit.read('acc_alice', 'prod/etl/db', tuesday + 7 * HOUR); // first minute of the window
      await kit.read('acc_alice', 'prod/etl/db', tuesday + 20 * HOUR - 1); // last ms of the window
      kit.now = tuesday + 21 * HOUR;
      assert.equal((await kit.evaluate()).fired, 0);
      const wednesday = tuesday + DAY;
      await kit.read('acc_alice', 'prod/etl/other', wednesday + 6 * HOUR);
      await kit.read('acc_alice', 'prod/etl/db', wednesday + 7 * HOUR - 1); // 06:59:59.999
      kit.now = wednesday + 8 * HOUR;
      await kit.evaluate();
      const alerts = await kit.alerts('off_hours');
      assert.equal(alerts.length, 1);
      assert.equal(alerts[0]!.principal, 'acc_alice');
      assert.equal(alerts[0]!.occurrences, 2);
      assert.equal(JSON.parse(alerts[0]!.event_seqs).length, 2);
      assert.equal((await kit.auditOps('alert.fired')).length, 1, 'the alert is itself an audit event, once');
    }, Date.UTC(2026, 8, 1, 21));
  });

  test('a Saturday read at noon is off-hours; the configured UTC offset moves the window', async () => {
    await withKit(only('off_hours', { environments: { prod: { start_hour: 9, end_hour: 17 } } }), async (kit) => {
      await kit.read('acc_bob', 'prod/etl/db', Date.UTC(2026, 8, 5, 12));
      await kit.evaluate();
      assert.equal((await kit.alerts('off_hours')).length, 1);
    }, Date.UTC(2026, 8, 5, 12, 30));
    await withKit({ ...only('off_hours', { environments: { prod: { start_hour: 9, end_hour: 17 } } }), utc_offset_minutes: 120 }, async (kit) => {
      await kit.read('acc_bob', 'prod/etl/db', Date.UTC(2026, 8, 1, 7)); // 09:00 at UTC+2: inside
      await kit.evaluate();
      assert.equal((await kit.alerts('off_hours')).length, 0);
    }, Date.UTC(2026, 8, 1, 8));
  });
});

describe('a firing alert refreshed by many events', () => {
  test('counts every occurrence, keeps the latest event\'s summary and facts, and at most 50 distinct seqs, across batches', async () => {
    const sunday = Date.UTC(2026, 8, 6);
    await withKit(only('off_hours'), async (kit) => {
      await kit.read('acc_carol', 'prod/etl/db', sunday + 9 * HOUR);
      kit.now = sunday + 9 * HOUR + MINUTE;
      await kit.evaluate();
      for (let i = 1; i <= 70; i++) await kit.read('acc_carol', 'prod/etl/db', sunday + 10 * HOUR + i * MINUTE);
      kit.now = sunday + 12 * HOUR;
      await kit.evaluate();
      const [alert] = await kit.alerts('off_hours');
      assert.equal(alert!.occurrences, 71);
      assert.match(alert!.summary, /at 11:10 .*on Sun/, 'the last read (10:00 + 70 min) names the alert');
      assert.equal(JSON.parse(alert!.facts).local_time, '2026-09-06T11:10');
      const seqs = JSON.parse(alert!.event_seqs) as number[];
      assert.equal(seqs.length, 50);
      assert.equal(new Set(seqs).size, 50);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'oldest first, the newest kept');
      assert.equal((await kit.auditOps('alert.fired')).length, 1);
    }, sunday + 9 * HOUR);
  });
});

describe('off-hours access learned per principal', () => {
  test('a read in an hour the principal has not read in for 14 days fires, inside the configured window too; its usual hours and thin histories do not', async () => {
    const monday = Date.UTC(2026, 7, 17); // two weeks of history before Tuesday 1 September
    const now = Date.UTC(2026, 8, 1, 21);
    await withKit(only('off_hours', { environments: { prod: { start_hour: 7, end_hour: 20, weekdays: [1, 2, 3, 4, 5, 6, 7] } } }), async (kit) => {
      // acc_etl reads prod every day from 09:00 to 16:59; acc_new read on two days only.
      for (let day = 0; day < 14; day++) {
        for (let hour = 9; hour < 17; hour++) for (let i = 0; i < 3; i++) await kit.read('acc_etl', 'prod/etl/db', monday + day * DAY + hour * HOUR + i * MINUTE);
        if (day >= 12) await kit.read('acc_new', 'prod/etl/db', monday + day * DAY + 10 * HOUR);
        kit.now = monday + day * DAY + 23 * HOUR;
        await kit.evaluate();
      }
      assert.equal((await kit.alerts('off_hours')).length, 0, 'fourteen days inside its own hours (and the configured window) are quiet');
      const tuesday = Date.UTC(2026, 8, 1);
      await kit.read('acc_etl', 'prod/etl/db', tuesday + 10 * HOUR); // usual
      await kit.read('acc_etl', 'prod/etl/db', tuesday + 17 * HOUR + 30 * MINUTE); // within the one-hour margin
      await kit.read('acc_new', 'prod/etl/db', tuesday + 19 * HOUR); // too little history to judge
      await kit.read('acc_etl', 'dev/etl/db', tuesday + 19 * HOUR); // dev is not watched
      kit.now = tuesday + 19 * HOUR + 30 * MINUTE;
      await kit.evaluate();
      assert.equal((await kit.alerts('off_hours')).length, 0);
      await kit.read('acc_etl', 'prod/etl/db', tuesday + 19 * HOUR + 15 * MINUTE); // inside the 07-20 window, but not its hours
      kit.now = tuesday + 20 * HOUR;
      await kit.evaluate();
      const [alert, ...more] = await kit.alerts('off_hours');
      assert.equal(more.length, 0);
      assert.equal(alert!.principal, 'acc_etl');
      const facts = JSON.parse(alert!.facts);
      assert.equal(facts.learned, true);
      assert.equal(facts.usual_hours, '09-18h', 'the 17:30 read counts towards its hours now');
      assert.match(alert!.summary, /has not read in for 14 days/);
    }, now);
  });
});

describe('first-time access', () => {
  test('a prod secret last read 31 days ago fires once; 29 days ago and dev secrets do not', async () => {
    const now = Date.UTC(2026, 8, 1, 10);
    await withKit(only('first_time_access'), async (kit) => {
      await kit.read('acc_alice', 'prod/etl/db', now - 31 * DAY);
      await kit.read('acc_bob', 'prod/etl/db', now - 29 * DAY);
      await kit.evaluate(); // learns the history; fires nothing older than an hour
      assert.equal((await kit.alerts()).length, 0);
      await kit.read('acc_alice', 'prod/etl/db');
      await kit.read('acc_alice', 'prod/etl/db', now + MINUTE);
      await kit.read('acc_bob', 'prod/etl/db');
      await kit.read('acc_carol', 'dev/etl/db');
      kit.now = now + 2 * MINUTE;
      await kit.evaluate();
      const alerts = await kit.alerts('first_time_access');
      assert.deepEqual(alerts.map((a) => [a.principal, a.secret_name]), [['acc_alice', 'prod/etl/db']]);
      assert.equal(JSON.parse(alerts[0]!.facts).lookback_days, 30);
    }, now);
  });

  test('the last read is remembered across a restart (new leader): a read the day after is not first', async () => {
    const now = Date.UTC(2026, 8, 1, 10);
    await withKit(only('first_time_access'), async (kit) => {
      await kit.evaluate();
      await kit.read('acc_dave', 'prod/etl/db');
      await kit.evaluate();
      assert.equal((await kit.alerts()).length, 1);
      kit.restart();
      kit.now = now + DAY;
      await kit.read('acc_dave', 'prod/etl/db');
      const result = await kit.evaluate();
      assert.equal(result.events, 1, 'the new engine resumes after the persisted cursor: only the new read');
      assert.equal((await kit.alerts()).length, 1);
    }, now);
  });
});

describe('volume spike', () => {
  // Baseline: 120 reads in the 10:00 hour on each of the 7 previous days = 10 per 5 minutes;
  // factor 5 puts the threshold at 50 reads in 5 minutes.
  const config = only('volume_spike', { factor: 5, min_reads: 5 });
  const now = Date.UTC(2026, 8, 1, 10, 5);
  async function seed(kit: AlertKit, principal: string) {
    for (let d = 1; d <= 7; d++) for (let i = 0; i < 120; i++) await kit.read(principal, 'prod/etl/db', Date.UTC(2026, 8, 1 - d, 10, 0, i * 25));
  }

  test('51 reads in 5 minutes against a baseline of 10 fire once; 50 do not', async () => {
    await withKit(config, async (kit) => {
      await seed(kit, 'acc_spiky');
      await seed(kit, 'acc_steady');
      await kit.evaluate();
      for (let i = 0; i < 51; i++) await kit.read('acc_spiky', 'prod/etl/db', Date.UTC(2026, 8, 1, 10, 0, i * 5));
      for (let i = 0; i < 50; i++) await kit.read('acc_steady', 'prod/etl/db', Date.UTC(2026, 8, 1, 10, 0, i * 5));
      await kit.read('acc_spiky', 'prod/etl/db', Date.UTC(2026, 8, 1, 10, 4, 30)); // 52nd: same alert
      await kit.evaluate();
      const alerts = await kit.alerts('volume_spike');
      assert.equal(alerts.length, 1);
      assert.equal(alerts[0]!.principal, 'acc_spiky');
      const facts = JSON.parse(alerts[0]!.facts);
      assert.equal(facts.baseline, 10);
      assert.equal(facts.reads, 52);
      assert.equal(alerts[0]!.occurrences, 2);
    }, now);
  });

  test('a principal without history needs min_reads in the window', async () => {
    await withKit(only('volume_spike', { min_reads: 20 }), async (kit) => {
      for (let i = 0; i < 19; i++) await kit.read('acc_new', 'prod/etl/db', Date.UTC(2026, 8, 1, 10, 0, i));
      await kit.evaluate();
      assert.equal((await kit.alerts()).length, 0);
      await kit.read('acc_new', 'prod/etl/db', Date.UTC(2026, 8, 1, 10, 0, 30));
      await kit.evaluate();
      assert.equal((await kit.alerts('volume_spike')).length, 1);
    }, now);
  });
});

describe('failure bursts', () => {
  const now = Date.UTC(2026, 8, 1, 10, 10);
  test('10 denials from one principal in 5 minutes fire once; 9, or 10 spread over 10 minutes, do not', async () => {
    await withKit(only('failure_burst'), async (kit) => {
      const failures = [
        ...Array.from({ length: 9 }, (_, i) => ({ accessor: 'acc_nine', code: 'permission_denied', time: now - 4 * MINUTE + i * 1000 })),
        ...Array.from({ length: 10 }, (_, i) => ({ accessor: 'acc_slow', code: 'environment_denied', time: now - 10 * MINUTE + i * MINUTE })),
        ...Array.from({ length: 12 }, (_, i) => ({ accessor: 'acc_burst', code: i % 2 ? 'secret_not_found' : 'permission_denied', time: now - 2 * MINUTE + i * 1000 })),
        { accessor: 'acc_other', code: 'validation_failed', time: now }, // not a configured code
      ];
      // In time order, as the log stamps them.
      for (const failure of failures.sort((a, b) => a.time - b.time)) await kit.fail(failure);
      await kit.evaluate();
      const alerts = await kit.alerts('failure_burst');
      assert.deepEqual(alerts.map((a) => a.dedupe_key), ['principal:acc_burst']);
      assert.equal(JSON.parse(alerts[0]!.facts).failures, 12);
      assert.equal(alerts[0]!.occurrences, 3);
    }, now);
  });

  test('unauthenticated failures (bad tokens, bad signatures) are counted per source address', async () => {
    await withKit(only('failure_burst', { threshold: 5 }), async (kit) => {
      for (let i = 0; i < 5; i++) await kit.fail({ accessor: null, source: '203.0.113.9', code: i < 3 ? 'invalid_token' : 'invalid_signature', time: now - i * 1000 });
      for (let i = 0; i < 4; i++) await kit.fail({ accessor: null, source: '203.0.113.10', code: 'invalid_token', time: now - i * 1000 });
      await kit.evaluate();
      assert.deepEqual((await kit.alerts('failure_burst')).map((a) => a.dedupe_key), ['source:203.0.113.9']);
    }, now);
  });

  test('the alert resolves after a quiet period and can fire again later', async () => {
    await withKit(only('failure_burst', { threshold: 3 }), async (kit) => {
      for (let i = 0; i < 3; i++) await kit.fail({ accessor: 'acc_x', code: 'permission_denied', time: now + i });
      await kit.evaluate();
      kit.now = now + 16 * MINUTE;
      assert.equal((await kit.evaluate()).resolved, 1);
      const [resolved] = await kit.alerts('failure_burst');
      assert.equal(resolved!.status, 'resolved');
      for (let i = 0; i < 3; i++) await kit.fail({ accessor: 'acc_x', code: 'permission_denied', time: kit.now + i });
      await kit.evaluate();
      assert.deepEqual((await kit.alerts('failure_burst')).map((a) => a.status).sort(), ['firing', 'resolved']);
      assert.equal((await kit.auditOps('alert.resolved')).length, 1);
    }, now);
  });
});

describe('integrity: flagged audit events', () => {
  test('each event with detail.alert fires (critical); other details do not', async () => {
    await withKit(only('integrity'), async (kit) => {
      await kit.record({ operation: 'secret.write', detail: { alert: 'break_glass', reason: 'incident 7' } });
      await kit.record({ operation: 'secret.write', detail: { alert: '' } });
      await kit.record({ operation: 'secret.write', detail: { alerting: 'x', note: 'alert' } });
      await kit.record({ operation: 'wrap.unwrap', detail: { alert: 'second_unwrap' } });
      await kit.evaluate();
      const alerts = await kit.alerts('integrity');
      assert.deepEqual(alerts.map((a) => JSON.parse(a.facts).kind).sort(), ['break_glass', 'second_unwrap']);
      assert.ok(alerts.every((a) => a.severity === 'critical'));
    });
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { alertKit, DAY, HOUR, type AlertKit } from '../../tests/support/alert-kit.js';

/** The inventory rules: expiring credentials, overdue/failed rotation, unused secrets, seal and chain breaks. */
const only = (rule: string, extra: Record<string, unknown> = {}) => ({
  state_check_seconds: 1,
  rules: Object.fromEntries(['off_hours', 'volume_spike', 'first_time_access', 'failure_burst', 'expiring', 'rotation', 'unused', 'integrity']
    .map((r) => [r, r === rule ? { enabled: true, ...extra } : { enabled: false }])),
});
const NOW = Date.UTC(2026, 8, 1, 10);

async function secret(kit: AlertKit, name: string, fields: { last_accessed_at?: number | null; created_at?: number; owner?: string | null } = {}) {
  const id = `sec_${name.replace(/\W/g, '_')}`;
  await kit.db.insertInto('secrets').values({
    id, region: 'us-east-1', name, arn_suffix: 'abcdef', description: null, owner: fields.owner ?? 'data-eng', kms_key_id: null, created_at: fields.created_at ?? NOW - 400 * DAY,
    updated_at: NOW - 400 * DAY, last_accessed_at: fields.last_accessed_at ?? null, last_rotated_at: null, deleted_at: null, delete_after: null, rotation: null, primary_region: null,
  }).execute();
  return id;
}

async function token(kit: AlertKit, accessor: string, expiresAt: number | null, createdAt = NOW - DAY) {
  await kit.db.insertInto('tokens').values({
    accessor, token_hash: `hash_${accessor}`, parent_accessor: null, display_name: `svc-${accessor}`, policies: '[]', env: null, is_root: 0, created_at: createdAt,
    ttl_seconds: null, expires_at: expiresAt, max_expires_at: null, revoked_at: null,
  }).execute();
}

async function withKit(config: Record<string, unknown>, fn: (kit: AlertKit) => Promise<void>, options: Parameters<typeof alertKit>[1] = {}) {
  const kit = await alertKit(config, { start: NOW, ...options });
  try {
    await fn(kit);
  } finally {
    await kit.close();
  }
}

describe('credentials expiring', () => {
  test('a token expiring in 6 days fires once; 8 days does not; revoking it resolves the alert', async () => {
    await withKit(only('expiring'), async (kit) => {
      await token(kit, 'acc_soon', NOW + 6 * DAY);
      await token(kit, 'acc_later', NOW + 8 * DAY);
      await token(kit, 'acc_forever', null);
      // Short-lived by design (a login's, a CI job's): always within the window, never an alert.
      await token(kit, 'acc_login', NOW + 5 * 60_000, NOW - 5 * 60_000);
      await token(kit, 'acc_six_day_ttl', NOW + 5 * DAY, NOW - DAY);
      await kit.evaluate();
      kit.now = NOW + 2000;
      await kit.evaluate();
      const alerts = await kit.alerts('expiring');
      assert.deepEqual(alerts.map((a) => a.principal), ['acc_soon']);
      assert.equal(JSON.parse(alerts[0]!.facts).days_left, 6);
      await kit.db.updateTable('tokens').set({ revoked_at: NOW }).where('accessor', '=', 'acc_soon').execute();
      kit.now = NOW + 4000;
      assert.equal((await kit.evaluate()).resolved, 1);
      assert.equal((await kit.alerts('expiring'))[0]!.status, 'resolved');
    });
  });

  test('an AWS access key expiring within N days fires; a later, revoked or non-expiring one does not', async () => {
    await withKit(only('expiring'), async (kit) => {
      const key = (id: string, expiresAt: number | null, revokedAt: number | null = null) => kit.db.insertInto('aws_access_keys').values({
        access_key_id: id, secret_ciphertext: Buffer.from('sealed'), display_name: `key-${id}`, policies: '[]', env: null, is_root: 0, created_by: 'acc_creator',
        created_at: NOW - DAY, revoked_at: revokedAt, expires_at: expiresAt,
      }).execute();
      await key('AKCUSOON', NOW + 5 * DAY);
      await key('AKCULATER', NOW + 9 * DAY);
      await key('AKCUGONE', NOW + 2 * DAY, NOW - 1);
      await key('AKCUFOREVER', null);
      await kit.evaluate();
      const alerts = await kit.alerts('expiring');
      assert.deepEqual(alerts.map((a) => a.principal), ['aws:AKCUSOON']);
      const facts = JSON.parse(alerts[0]!.facts);
      assert.deepEqual([facts.kind, facts.days_left, facts.created_by], ['aws_key', 5, 'acc_creator']);
    });
  });

  test('a rotation due within N days fires (info); one due later does not', async () => {
    await withKit(only('expiring', { within_days: 3 }), async (kit) => {
      const soon = await secret(kit, 'prod/etl/due-soon');
      const later = await secret(kit, 'prod/etl/due-later');
      await kit.db.insertInto('rotation_schedules').values([{ secret_id: soon, next_due_at: NOW + 2 * DAY, overdue_since: null, updated_at: NOW }, { secret_id: later, next_due_at: NOW + 4 * DAY, overdue_since: null, updated_at: NOW }]).execute();
      await kit.evaluate();
      assert.deepEqual((await kit.alerts('expiring')).map((a) => a.secret_name), ['prod/etl/due-soon']);
    });
  });
});

describe('rotation overdue or failed', () => {
  test('an overdue schedule and a failed last run fire; a run that failed before a later success does not', async () => {
    await withKit(only('rotation'), async (kit) => {
      const overdue = await secret(kit, 'prod/etl/overdue');
      const failed = await secret(kit, 'prod/etl/failed');
      const recovered = await secret(kit, 'prod/etl/recovered');
      await kit.db.insertInto('rotation_schedules').values({ secret_id: overdue, next_due_at: NOW - 2 * DAY, overdue_since: NOW - 2 * DAY, updated_at: NOW }).execute();
      const run = (id: string, secretId: string, name: string, status: 'failed' | 'succeeded', started: number) => ({
        id, secret_id: secretId, secret_name: name, active_secret_id: null, token: id, rotator: 'postgres', trigger: 'schedule', requested_by: 'scheduler', step: 'finish' as const,
        status, attempts: 3, error: 'connection refused', previous_version_id: null, owner_node: null, lease_until: null, next_attempt_at: null, grace_until: null,
        started_at: started, updated_at: started, finished_at: started + 1000,
      });
      await kit.db.insertInto('rotations').values([run('r1', failed, 'prod/etl/failed', 'failed', NOW - HOUR), run('r2', recovered, 'prod/etl/recovered', 'failed', NOW - 2 * HOUR), run('r3', recovered, 'prod/etl/recovered', 'succeeded', NOW - HOUR)]).execute();
      await kit.evaluate();
      const alerts = await kit.alerts('rotation');
      assert.deepEqual(alerts.map((a) => `${JSON.parse(a.facts).kind}:${a.secret_name}`).sort(), ['failed:prod/etl/failed', 'overdue:prod/etl/overdue']);
      assert.equal(JSON.parse(alerts.find((a) => a.secret_name === 'prod/etl/overdue')!.facts).overdue_days, 2);
    });
  });
});

describe('unused secrets', () => {
  test('a secret not read for 91 days fires; 89 days does not; a read resolves it', async () => {
    await withKit(only('unused'), async (kit) => {
      await secret(kit, 'prod/etl/stale', { last_accessed_at: NOW - 91 * DAY });
      await secret(kit, 'prod/etl/fresh', { last_accessed_at: NOW - 89 * DAY });
      await secret(kit, 'prod/etl/new', { created_at: NOW - 10 * DAY });
      await kit.evaluate();
      const alerts = await kit.alerts('unused');
      assert.deepEqual(alerts.map((a) => a.secret_name), ['prod/etl/stale']);
      assert.equal(JSON.parse(alerts[0]!.facts).unused_days, 91);
      await kit.db.updateTable('secrets').set({ last_accessed_at: NOW }).where('name', '=', 'prod/etl/stale').execute();
      kit.now = NOW + 2000;
      await kit.evaluate();
      assert.equal((await kit.alerts('unused'))[0]!.status, 'resolved');
    });
  });
});

describe('integrity: seal and audit chain', () => {
  test('sealed fires once and resolves at unseal', async () => {
    await withKit(only('integrity'), async (kit) => {
      await kit.evaluate();
      kit.setSealed(true);
      kit.now = NOW + 2000;
      await kit.evaluate();
      kit.now = NOW + 4000;
      await kit.evaluate();
      assert.equal((await kit.alerts('integrity')).length, 1);
      kit.setSealed(false);
      kit.now = NOW + 6000;
      await kit.evaluate();
      assert.equal((await kit.alerts('integrity'))[0]!.status, 'resolved');
    });
  });

  test('a failed audit verify fires with the broken seq; a clean verify fires nothing', async () => {
    let verify = { ok: true } as { ok: boolean; problem?: { seq: number; kind: string; message: string } };
    await withKit(only('integrity', { verify_every_minutes: 1 }), async (kit) => {
      await kit.evaluate();
      assert.equal((await kit.alerts()).length, 0);
      verify = { ok: false, problem: { seq: 42, kind: 'altered', message: 'event 42 was altered' } };
      kit.now = NOW + 61_000;
      await kit.evaluate();
      const [alert] = await kit.alerts('integrity');
      assert.equal(JSON.parse(alert!.facts).kind, 'chain_break');
      assert.deepEqual(JSON.parse(alert!.event_seqs), [42]);
    }, { verifyAudit: async () => verify });
  });
});

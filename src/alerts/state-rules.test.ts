import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { alertKit, DAY, HOUR, type AlertKit } from '../../tests/support/alert-kit.js';
import { unusedAlertsPerOwner } from '../storage/migrations/042-unused-alerts-per-owner.js';

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
    id, region: 'us-east-1', name, arn_suffix: 'abcdef', description: null, owner: fields.owner === undefined ? 'data-eng' : fields.owner, kms_key_id: null, created_at: fields.created_at ?? NOW - 400 * DAY,
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
  const every = { check_every_seconds: 1 };
  test('one alert per owner with secrets not read for 90 days, naming the longest unused; reading them resolves it', async () => {
    await withKit(only('unused', every), async (kit) => {
      await secret(kit, 'prod/etl/stale', { last_accessed_at: NOW - 91 * DAY });
      await secret(kit, 'prod/etl/older');
      await secret(kit, 'prod/etl/fresh', { last_accessed_at: NOW - 89 * DAY });
      await secret(kit, 'prod/etl/new', { created_at: NOW - 10 * DAY });
      await secret(kit, 'prod/ml/features', { last_accessed_at: NOW - 100 * DAY, owner: 'ml-team' });
      await secret(kit, 'dev/scratch', { last_accessed_at: NOW - 200 * DAY, owner: null });
      await kit.evaluate();
      const alerts = await kit.alerts('unused');
      assert.deepEqual(alerts.map((a) => String(a.principal)).sort(), ['data-eng', 'ml-team', 'null'], 'one per owner, and one for the secrets with none');
      assert.ok(alerts.every((a) => a.secret_name === null));
      const dataEng = alerts.find((a) => a.principal === 'data-eng')!;
      assert.deepEqual(JSON.parse(dataEng.facts), {
        owner: 'data-eng', secrets: 2, threshold_days: 90, oldest_secret: 'prod/etl/older', oldest_last_accessed_at: null, oldest_unused_days: 400,
        longest_unused: 'prod/etl/older (400 days), prod/etl/stale (91 days)',
      });
      assert.match(dataEng.summary, /^2 secrets owned by data-eng not read for 90 days or more; the longest, prod\/etl\/older, for 400 days \(never read\)/);
      assert.match(alerts.find((a) => a.principal === null)!.summary, /^1 secret with no owner /);
      await kit.db.updateTable('secrets').set({ last_accessed_at: NOW }).where('name', 'in', ['prod/etl/stale', 'prod/etl/older']).execute();
      kit.now = NOW + 2000;
      await kit.evaluate();
      const after = await kit.alerts('unused');
      assert.deepEqual(after.map((a) => `${a.principal}:${a.status}`).sort(), ['data-eng:resolved', 'ml-team:firing', 'null:firing']);
      assert.equal((await kit.auditOps('alert.fired')).length, 3, 'one alert.fired per owner');
    });
  });

  test('a thousand unused secrets of one owner are one alert, counted, naming ten', async () => {
    await withKit(only('unused', every), async (kit) => {
      const rows = Array.from({ length: 1500 }, (_, i) => ({
        id: `sec_bulk_${i}`, region: 'us-east-1', name: `prod/bulk/s-${String(i).padStart(4, '0')}`, arn_suffix: 'abcdef', description: null, owner: 'bulk', kms_key_id: null,
        created_at: NOW - 400 * DAY, updated_at: NOW - 400 * DAY, last_accessed_at: NOW - (100 + i) * DAY, last_rotated_at: null, deleted_at: null, delete_after: null, rotation: null, primary_region: null,
      }));
      for (let i = 0; i < rows.length; i += 500) await kit.db.insertInto('secrets').values(rows.slice(i, i + 500)).execute();
      await kit.evaluate();
      const alerts = await kit.alerts('unused');
      assert.equal(alerts.length, 1);
      const facts = JSON.parse(alerts[0]!.facts);
      assert.equal(facts.secrets, 1500);
      assert.equal(facts.longest_unused.split(', ').length, 10);
      assert.ok(facts.longest_unused.startsWith('prod/bulk/s-1499 ('), facts.longest_unused);
    });
  });

  test('looked at hourly by default: a read resolves the alert at the next hourly check, not the next state check', async () => {
    await withKit(only('unused'), async (kit) => {
      await secret(kit, 'prod/etl/stale', { last_accessed_at: NOW - 91 * DAY });
      await kit.evaluate();
      await kit.db.updateTable('secrets').set({ last_accessed_at: NOW }).where('name', '=', 'prod/etl/stale').execute();
      kit.now = NOW + 5 * 60_000;
      await kit.evaluate();
      assert.equal((await kit.alerts('unused'))[0]!.status, 'firing');
      kit.now = NOW + HOUR;
      await kit.evaluate();
      assert.equal((await kit.alerts('unused'))[0]!.status, 'resolved');
    });
  });

  test('upgrading resolves the per-secret unused alerts without a delivery and cancels their pending deliveries; others are untouched', async () => {
    await withKit(only('unused', every), async (kit) => {
      const alert = (id: string, rule: string, key: string) => ({
        id, rule, dedupe_key: key, active_key: `${rule}|${key}`, status: 'firing' as const, severity: 'info' as const, principal: 'data-eng', secret_name: null, summary: 's', facts: '{}',
        event_seqs: '[]', occurrences: 1, fired_at: NOW - DAY, last_seen_at: NOW - DAY, resolved_at: null, acked_at: null, acked_by: null,
      });
      await kit.alertStore.insertAlert(kit.db, alert('alr_old', 'unused', 'state:prod/etl/stale'));
      await kit.alertStore.insertAlert(kit.db, alert('alr_owner', 'unused', 'state:unused|data-eng'));
      await kit.alertStore.insertAlert(kit.db, alert('alr_rotation', 'rotation', 'state:overdue|prod/etl/x'));
      for (const id of ['alr_old', 'alr_owner']) {
        await kit.alertStore.insertDelivery(kit.db, { id: `dlv_${id}`, alert_id: id, sink: 'hook', event: 'fired', status: 'pending', attempts: 0, next_attempt_at: NOW, last_error: null, created_at: NOW, updated_at: NOW });
      }
      await unusedAlertsPerOwner('sqlite').up(kit.db);
      const byId = new Map((await kit.alerts()).map((a) => [a.id, a.status]));
      assert.deepEqual(Object.fromEntries(byId), { alr_old: 'resolved', alr_owner: 'firing', alr_rotation: 'firing' });
      const deliveries = await kit.db.selectFrom('alert_deliveries').select(['alert_id', 'status']).orderBy('alert_id').execute();
      assert.deepEqual(deliveries.map((d) => `${d.alert_id}:${d.status}`), ['alr_old:cancelled', 'alr_owner:pending']);
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

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openStorage } from '../../src/storage/database.js';
import { alertKit, DAY, MINUTE, type AlertKit } from '../support/alert-kit.js';
import { startPostgresCluster, type PostgresCluster } from '../support/postgres-cluster.js';
import { backlogFiresOnlyTheLastHourInEveryRun, firstRunReadsFromTheHorizon, firstRunWithNothingRecentWaits, pausedBacklogIsNotReplayed, readHistoryIsPrunedPastTheLookback } from '../support/alert-first-run.js';

/**
 * The alert engine's queries on PostgreSQL (upserts with excluded, sums returned as numeric,
 * the failed-rotation subquery, coalesce): the same scripted histories as on SQLite.
 */
describe('alert engine on PostgreSQL', () => {
  let cluster: PostgresCluster;
  let kit: AlertKit;
  const NOW = Date.UTC(2026, 8, 1, 10);
  before(async () => {
    cluster = await startPostgresCluster();
    const { url, password } = await cluster.createDatabase();
    kit = await alertKit({ state_check_seconds: 1, rules: { off_hours: { enabled: false }, volume_spike: { factor: 5, min_reads: 5 }, failure_burst: { threshold: 3 }, expiring: { enabled: false }, unused: { check_every_seconds: 1 } } }, { start: NOW, storage: await openStorage({ url, password }) });
  });
  after(async () => {
    await kit?.close();
    await cluster?.stop();
  });

  test('first-time access, failure burst, volume spike against a baseline, unused and failed rotation each fire once; a restart resumes', async () => {
    await kit.read('acc_old', 'prod/etl/db', NOW - 31 * DAY);
    for (let d = 1; d <= 7; d++) for (let i = 0; i < 12; i++) await kit.read('acc_spike', 'dev/etl/db', Date.UTC(2026, 8, 1 - d, 10, i));
    await kit.evaluate();
    await kit.read('acc_old', 'prod/etl/db');
    await kit.read('acc_old', 'prod/etl/db', NOW + 1);
    for (let i = 0; i < 4; i++) await kit.fail({ accessor: 'acc_bad', code: 'permission_denied', time: NOW + i });
    // Baseline 12 reads per hour = 1 per 5 min; factor 5 -> more than 5 reads fire.
    for (let i = 0; i < 6; i++) await kit.read('acc_spike', 'dev/etl/db', NOW + i * 1000);
    const secretId = 'sec_unused';
    await kit.db.insertInto('secrets').values({ id: secretId, region: 'us-east-1', name: 'prod/etl/stale', arn_suffix: 'a1', description: null, owner: 'data-eng', kms_key_id: null,
      created_at: NOW - 200 * DAY, updated_at: NOW, last_accessed_at: NOW - 95 * DAY, last_rotated_at: null, deleted_at: null, delete_after: null, rotation: null, primary_region: null }).execute();
    await kit.db.insertInto('rotations').values({ id: 'run1', secret_id: secretId, secret_name: 'prod/etl/stale', active_secret_id: null, token: 't', rotator: 'postgres', trigger: 'schedule',
      requested_by: 'scheduler', step: 'set', status: 'failed', attempts: 3, error: 'x', previous_version_id: null, owner_node: null, lease_until: null, next_attempt_at: null, grace_until: null,
      started_at: NOW - DAY, updated_at: NOW - DAY, finished_at: NOW - DAY }).execute();
    kit.now = NOW + MINUTE;
    await kit.evaluate();
    const alerts = await kit.alerts();
    assert.deepEqual(alerts.map((a) => `${a.rule}:${a.principal ?? a.secret_name}`).sort(),
      ['failure_burst:acc_bad', 'first_time_access:acc_old', 'rotation:prod/etl/stale', 'unused:data-eng', 'volume_spike:acc_spike'].sort());
    assert.equal(JSON.parse(alerts.find((a) => a.rule === 'volume_spike')!.facts).baseline, 1);
    kit.restart();
    kit.now = NOW + 2 * MINUTE;
    await kit.read('acc_old', 'prod/etl/db', kit.now);
    // After the cursor: the two alert.fired events of the inventory rules (recorded after the stream pass) and the new read.
    assert.equal((await kit.evaluate()).events, 3);
    assert.equal((await kit.alerts()).length, 5);
    assert.equal((await kit.auditOps('alert.fired')).length, 5);
  });

  // The first run's scripts of src/alerts/alert-first-run.test.ts, each on a database of its own.
  const fresh = async () => {
    const { url, password } = await cluster.createDatabase();
    return openStorage({ url, password });
  };
  test('first run: reads from the longest span the enabled rules look back over, learns from it, fires only for the last hour', async () => firstRunReadsFromTheHorizon(await fresh()));
  test('first run: a backlog longer than one run fires only for the last hour in the runs after the first, across a restart', async () => backlogFiresOnlyTheLastHourInEveryRun(await fresh()));
  test('first run: with no event since the horizon it reads nothing, and the next run finds new events', async () => firstRunWithNothingRecentWaits(await fresh()));
  test('a backlog older than catch_up_hours fires nothing, is read only as far back as the rules look, and the skip is audited once', async () => pausedBacklogIsNotReplayed(await fresh()));
  test('read history older than the longest lookback is pruned in bounded statements, at most hourly once caught up', async () => readHistoryIsPrunedPastTheLookback(await fresh()));
});

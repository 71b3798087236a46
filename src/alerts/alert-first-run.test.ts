import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AlertsConfigSchema } from '../config/alerts-config.js';
import { openStorage } from '../storage/database.js';
import { backlogFiresOnlyTheLastHourInEveryRun, firstRunReadsFromTheHorizon, firstRunWithNothingRecentWaits, pausedBacklogIsNotReplayed, readHistoryIsPrunedPastTheLookback } from '../../tests/support/alert-first-run.js';
import { historySpanMs } from './stream-rules.js';

/** The evaluator's first run over a long log, on SQLite (the same scripts run on PostgreSQL in tests/contract/alerts-postgres.test.ts). */
describe('the alert evaluator\'s first run on SQLite', () => {
  const memory = () => openStorage({ url: 'sqlite::memory:' });
  test('reads from the longest span the enabled rules look back over, learns from it, fires only for the last hour', async () => firstRunReadsFromTheHorizon(await memory()));
  test('a backlog longer than one run fires only for the last hour in the runs after the first, across a restart', async () => backlogFiresOnlyTheLastHourInEveryRun(await memory()));
  test('with no event since the horizon it reads nothing, and the next run finds new events', async () => firstRunWithNothingRecentWaits(await memory()));
  test('a backlog older than catch_up_hours fires nothing, is read only as far back as the rules look, and the skip is audited once', async () => pausedBacklogIsNotReplayed(await memory()));
  test('read history older than the longest lookback is pruned in bounded statements, at most hourly once caught up', async () => readHistoryIsPrunedPastTheLookback(await memory()));
});

describe('how far back the enabled stream rules look', () => {
  const DAY = 86_400_000;
  const span = (rules: Record<string, unknown>) => historySpanMs(AlertsConfigSchema.parse({ rules }));
  test('the longest lookback among the enabled rules, down to a window of minutes, or nothing', () => {
    assert.equal(span({}), 30 * DAY, 'first-time access by default');
    assert.equal(span({ first_time_access: { lookback_days: 90 } }), 90 * DAY);
    assert.equal(span({ first_time_access: { enabled: false } }), 14 * DAY, 'then learned off-hours');
    assert.equal(span({ first_time_access: { enabled: false }, off_hours: { learned: { enabled: false } } }), 7 * DAY, 'then the spike baseline');
    assert.equal(span({ first_time_access: { enabled: false }, off_hours: { enabled: false }, volume_spike: { enabled: false }, failure_burst: { window_minutes: 15 } }), 15 * 60_000);
    assert.equal(span({ first_time_access: { enabled: false }, off_hours: { enabled: false }, volume_spike: { enabled: false }, failure_burst: { enabled: false } }), 0, 'flagged events judge the event alone');
  });
});

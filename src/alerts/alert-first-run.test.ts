import { describe, test } from 'node:test';
import { openStorage } from '../storage/database.js';
import { backlogFiresOnlyTheLastHourInEveryRun, firstRunReadsFromTheHorizon, firstRunWithNothingRecentWaits } from '../../tests/support/alert-first-run.js';

/** The evaluator's first run over a long log, on SQLite (the same scripts run on PostgreSQL in tests/contract/alerts-postgres.test.ts). */
describe('the alert evaluator\'s first run on SQLite', () => {
  const memory = () => openStorage({ url: 'sqlite::memory:' });
  test('reads from the longest span the enabled rules look back over, learns from it, fires only for the last hour', async () => firstRunReadsFromTheHorizon(await memory()));
  test('a backlog longer than one run fires only for the last hour in the runs after the first, across a restart', async () => backlogFiresOnlyTheLastHourInEveryRun(await memory()));
  test('with no event since the horizon it reads nothing, and the next run finds new events', async () => firstRunWithNothingRecentWaits(await memory()));
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cron } from 'croner';
import { engineCron, rotationRulesOf, scheduleFromRules, type AwsRotationRules } from './aws-schedule.js';

const nextRun = (cron: string, from: string) => new Cron(cron, { timezone: 'UTC', paused: true }).nextRun(new Date(from))!.toISOString();
const refused = (rules: AwsRotationRules, pattern: RegExp) => assert.throws(() => scheduleFromRules(rules), (e: Error & { code?: string }) => e.code === 'validation_failed' && pattern.test(e.message));

test('AWS day-of-week numbers count from Sunday = 1; the engine runs on the same day', () => {
  // 2026-11-22 is a Sunday.
  assert.equal(nextRun(engineCron('0 2 ? * 1 *'), '2026-11-21T12:00:00Z'), '2026-11-22T02:00:00.000Z');
  assert.equal(nextRun(engineCron('0 2 ? * 7 *'), '2026-11-22T12:00:00Z'), '2026-11-28T02:00:00.000Z'); // Saturday
  assert.equal(nextRun(engineCron('0 2 ? * 2-6 *'), '2026-11-22T12:00:00Z'), '2026-11-23T02:00:00.000Z'); // Monday to Friday
  assert.equal(nextRun(engineCron('0 2 ? * SUN *'), '2026-11-21T12:00:00Z'), '2026-11-22T02:00:00.000Z');
  assert.equal(nextRun(engineCron('0 2 ? * 6#2 *'), '2026-11-22T12:00:00Z'), '2026-12-11T02:00:00.000Z'); // second Friday
  assert.equal(nextRun(engineCron('0 2 ? * 1,7 *'), '2026-11-23T12:00:00Z'), '2026-11-28T02:00:00.000Z');
});

test("AWS's `N/step` and `?` are translated, and AWS's own examples are accepted", () => {
  assert.equal(engineCron('0 4/12 * * ? *'), '0 4-23/12 * * *');
  assert.equal(nextRun(engineCron('0 4/12 * * ? *'), '2026-11-22T05:00:00Z'), '2026-11-22T16:00:00.000Z');
  assert.equal(nextRun(engineCron('0 8 1 * ? *'), '2026-11-22T00:00:00Z'), '2026-12-01T08:00:00.000Z');
  assert.equal(nextRun(engineCron('0 10 ? * 2#1 *'), '2026-11-22T00:00:00Z'), '2026-12-07T10:00:00.000Z'); // first Monday
  assert.equal(nextRun(engineCron('0 16 L * ? *'), '2026-11-22T00:00:00Z'), '2026-11-30T16:00:00.000Z');
});

test('schedules that AWS refuses are refused with a clear message', () => {
  refused({ ScheduleExpression: 'cron(0 * * * ? *)' }, /every four hours/);
  refused({ ScheduleExpression: 'rate(1 hour)' }, /every four hours/);
  refused({ ScheduleExpression: 'rate(1001 days)' }, /1000 days/);
  refused({ ScheduleExpression: 'cron(0 2 * * 1 *)' }, /one of day-of-month and day-of-week must be \?/);
  refused({ ScheduleExpression: 'cron(0 2 ? * 8 *)' }, /day-of-week 8/);
  refused({ ScheduleExpression: 'cron(0 2 ? * 1 2027)' }, /year field/);
  refused({ ScheduleExpression: 'cron(0 2 ? *)' }, /6 fields/);
  refused({ ScheduleExpression: 'cron(0 99 ? * 1 *)' }, /invalid cron/);
  refused({ ScheduleExpression: 'every day' }, /rate\(N hours\|days\) or cron/);
  refused({ AutomaticallyAfterDays: 30, ScheduleExpression: 'rate(10 days)' }, /not both/);
  refused({ AutomaticallyAfterDays: 0 }, /1 to 1000/);
  refused({ AutomaticallyAfterDays: 30, Duration: '3 hours' }, /Duration is 1h to 24h/);
  refused({ ScheduleExpression: 'rate(4 hours)', Duration: '5h' }, /shorter than the interval/);
});

test('rate() and AutomaticallyAfterDays become intervals with a midnight window of Duration hours', () => {
  assert.deepEqual(scheduleFromRules({ AutomaticallyAfterDays: 30 }), { every_seconds: 30 * 86_400 });
  assert.deepEqual(scheduleFromRules({ AutomaticallyAfterDays: 30, Duration: '3h' }), { every_seconds: 30 * 86_400, window: '00:00-03:00' });
  assert.deepEqual(scheduleFromRules({ ScheduleExpression: 'rate(12 hours)' }), { every_seconds: 12 * 3600, aws_schedule_expression: 'rate(12 hours)' });
  assert.deepEqual(scheduleFromRules({ ScheduleExpression: 'rate(1 day)', Duration: '2h' }), { every_seconds: 86_400, window: '00:00-02:00', aws_schedule_expression: 'rate(1 day)' });
});

test('DescribeSecret echoes the expression that was sent while it still describes the schedule', () => {
  const sent = scheduleFromRules({ ScheduleExpression: 'cron(0 2 ? * 1 *)' });
  assert.deepEqual(rotationRulesOf(sent), { ScheduleExpression: 'cron(0 2 ? * 1 *)' });
  assert.deepEqual(rotationRulesOf(scheduleFromRules({ ScheduleExpression: 'rate(12 hours)', Duration: '2h' })), { ScheduleExpression: 'rate(12 hours)', Duration: '2h' });
  assert.deepEqual(rotationRulesOf(scheduleFromRules({ AutomaticallyAfterDays: 7 })), { AutomaticallyAfterDays: 7 });
  // Changed natively since (custos rotation set --cron): the stale expression is not echoed.
  assert.deepEqual(rotationRulesOf({ ...sent, cron: '30 3 * * 5' }), { ScheduleExpression: 'cron(30 3 ? * 6 *)' });
  assert.deepEqual(rotationRulesOf({ cron: '0 2 * * *' }), { ScheduleExpression: 'cron(0 2 * * ? *)' });
  assert.deepEqual(rotationRulesOf({ every_seconds: 6 * 3600 }), { ScheduleExpression: 'rate(6 hours)' });
  assert.equal(rotationRulesOf({}), null);
});

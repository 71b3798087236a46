import { Cron } from 'croner';
import { AppError } from '../../errors/app-error.js';

/**
 * AWS rotation schedules (RotationRules) onto the rotation engine's settings and back.
 *
 * AWS cron has six fields (minutes hours day-of-month month day-of-week year), numbers days of
 * the week 1-7 from Sunday, writes `?` for "any", and allows `4/12` ("from 4, every 12"). The
 * engine's cron (croner) has five fields, numbers days 0-6 from Sunday and wants `4-23/12`.
 * A secret rotates at most every four hours, as in AWS.
 * https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_schedule.html
 */
export interface EngineSchedule {
  every_seconds?: number;
  cron?: string;
  /** UTC time-of-day window (from Duration) for rate() and AutomaticallyAfterDays schedules. */
  window?: string;
  /** The ScheduleExpression as sent, echoed by DescribeSecret while the schedule still matches it. */
  aws_schedule_expression?: string;
}

const HOUR = 3600;
const DAY = 86_400;
const MIN_INTERVAL_SECONDS = 4 * HOUR;
/** Highest value of minutes, hours, day-of-month, month and (engine) day-of-week, for `N/step`. */
const FIELD_MAX = [59, 23, 31, 12, 6];
/** A number in a day-of-week field that is a day (not the `k` of `N#k`, nor a `/step`). */
const DAY_NUMBER = /(^|[,-])(\d+)(?=$|[,#L/-])/g;

function bad(message: string): never {
  throw new AppError('validation_failed', message);
}

/** RotationRules of RotateSecret, read and type-checked by the operation. */
export interface AwsRotationRules {
  AutomaticallyAfterDays?: number;
  ScheduleExpression?: string;
  Duration?: string;
}

/** `RotationRules` of RotateSecret -> the engine's schedule. Throws InvalidParameter-mapped errors. */
export function scheduleFromRules(rules: AwsRotationRules): EngineSchedule {
  const { AutomaticallyAfterDays: days, ScheduleExpression: expression, Duration: duration } = rules;
  const hasDays = days !== undefined;
  const hasExpression = expression !== undefined;
  if (hasDays && hasExpression) bad('You can set AutomaticallyAfterDays or ScheduleExpression, not both');
  const windowHours = duration !== undefined ? durationHours(duration) : undefined;
  if (hasDays) {
    if (days < 1 || days > 1000) bad('AutomaticallyAfterDays must be from 1 to 1000');
    return { every_seconds: days * DAY, ...windowOf(windowHours, days * DAY) };
  }
  if (!hasExpression) return bad('RotationRules needs AutomaticallyAfterDays or ScheduleExpression');
  const rate = /^rate\((\d+) (hour|hours|day|days)\)$/.exec(expression);
  if (rate) {
    const seconds = Number(rate[1]) * (rate[2]!.startsWith('hour') ? HOUR : DAY);
    if (seconds < MIN_INTERVAL_SECONDS) bad('You can rotate a secret as often as every four hours: rate() needs at least 4 hours');
    if (seconds > 1000 * DAY) bad('rate() is at most 1000 days');
    return { every_seconds: seconds, ...windowOf(windowHours, seconds), aws_schedule_expression: expression };
  }
  const cron = /^cron\((.+)\)$/.exec(expression);
  if (!cron) return bad('ScheduleExpression must be rate(N hours|days) or cron(minutes hours day-of-month month day-of-week year)');
  // A cron schedule starts its run at the cron time; Duration only bounds how late that may be,
  // which the engine does not need (it starts due runs at once), so it is checked, not stored.
  return { cron: engineCron(cron[1]!), aws_schedule_expression: expression };
}

/** An AWS cron body (six fields) -> a five-field croner expression, checked to parse and to run at most every 4 hours. */
export function engineCron(awsCron: string): string {
  const fields = awsCron.trim().split(/\s+/);
  if (fields.length !== 6) bad('a cron() ScheduleExpression has 6 fields: minutes hours day-of-month month day-of-week year');
  const [minutes, hours, dayOfMonth, month, dayOfWeek, year] = fields as [string, string, string, string, string, string];
  if (year !== '*' && year !== '?') bad('Custos rotation schedules repeat every year: the year field of cron() must be *');
  // As in AWS (and EventBridge) cron: one of the two day fields is `?`, the other says which days.
  if ((dayOfMonth === '?') === (dayOfWeek === '?')) bad('in cron(), one of day-of-month and day-of-week must be ? (and only one)');
  const engine = [minutes, hours, dayOfMonth, month, engineDayOfWeek(dayOfWeek)].map((field, i) => withRange(field === '?' ? '*' : field, FIELD_MAX[i]!)).join(' ');
  let runs: Date[];
  try {
    const schedule = new Cron(engine, { timezone: 'UTC', paused: true });
    runs = schedule.nextRuns(6, new Date(Date.UTC(2030, 0, 1)));
    schedule.stop();
  } catch {
    return bad(`invalid cron() expression "${awsCron.slice(0, 100)}"`);
  }
  for (let i = 1; i < runs.length; i++) {
    if (runs[i]!.getTime() - runs[i - 1]!.getTime() < MIN_INTERVAL_SECONDS * 1000) bad('You can rotate a secret as often as every four hours: this cron() runs more often');
  }
  return engine;
}

/** AWS day-of-week numbers (1 = Sunday ... 7 = Saturday) -> croner's (0 = Sunday ... 6 = Saturday); names pass through. */
function engineDayOfWeek(field: string): string {
  return field.replace(DAY_NUMBER, (_m, before: string, day: string) => {
    const n = Number(day);
    if (n < 1 || n > 7) bad(`day-of-week ${day} is not 1-7 (1 = Sunday) or SUN-SAT`);
    return `${before}${n - 1}`;
  });
}

/** `N/step` ("from N, every step") as croner wants it: `N-max/step`. */
function withRange(field: string, max: number): string {
  return field.replace(/(^|,)(\d+)\/(\d+)/g, (_m, before: string, start: string, step: string) => `${before}${start}-${max}/${step}`);
}

function durationHours(duration: string): number {
  const match = /^(\d{1,2})h$/.exec(duration);
  const hours = match ? Number(match[1]) : Number.NaN;
  if (!(hours >= 1 && hours <= 24)) bad('Duration is 1h to 24h, for example 3h');
  return hours;
}

/** rate() and AutomaticallyAfterDays windows open at midnight UTC (as in AWS) and last Duration hours. */
function windowOf(hours: number | undefined, intervalSeconds: number): { window?: string } {
  if (hours === undefined || hours >= 24) return {};
  if (hours * HOUR > intervalSeconds) bad('Duration must be shorter than the interval between rotations');
  return { window: `00:00-${String(hours).padStart(2, '0')}:00` };
}

/** The engine's schedule as AWS RotationRules, for DescribeSecret and ListSecrets. */
export function rotationRulesOf(settings: EngineSchedule): Record<string, string | number> | null {
  if (settings.every_seconds === undefined && settings.cron === undefined) return null;
  const duration: Record<string, string> = settings.window?.startsWith('00:00-') ? { Duration: `${Number(settings.window.slice(6, 8))}h` } : {};
  if (settings.aws_schedule_expression !== undefined && sameSchedule(settings.aws_schedule_expression, settings)) {
    return { ScheduleExpression: settings.aws_schedule_expression, ...duration };
  }
  if (settings.every_seconds !== undefined) {
    const days = settings.every_seconds / DAY;
    if (Number.isInteger(days)) return { AutomaticallyAfterDays: days, ...duration };
    const hours = Math.max(1, Math.round(settings.every_seconds / HOUR));
    return { ScheduleExpression: `rate(${hours} ${hours === 1 ? 'hour' : 'hours'})`, ...duration };
  }
  return { ScheduleExpression: `cron(${awsCron(settings.cron!)})` };
}

/** Whether the stored expression still describes the schedule (a native `custos rotation set` may have changed it since). */
function sameSchedule(expression: string, settings: EngineSchedule): boolean {
  try {
    const parsed = scheduleFromRules({ ScheduleExpression: expression });
    return parsed.every_seconds === settings.every_seconds && parsed.cron === settings.cron;
  } catch {
    return false;
  }
}

/** A five-field engine cron (set natively) -> AWS's six fields, days of the week counted from 1. */
function awsCron(engine: string): string {
  const [minutes = '*', hours = '*', dayOfMonth = '*', month = '*', dayOfWeek = '*'] = engine.trim().split(/\s+/);
  const dow = dayOfWeek.replace(DAY_NUMBER, (_m, before: string, day: string) => `${before}${(Number(day) % 7) + 1}`);
  const [dom, week] = dow === '*' || dow === '?' ? [dayOfMonth, '?'] : [dayOfMonth === '*' ? '?' : dayOfMonth, dow];
  return `${minutes} ${hours} ${dom} ${month} ${week} *`;
}

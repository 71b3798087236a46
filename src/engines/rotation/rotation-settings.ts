import { Cron } from 'croner';
import { z } from 'zod';
import { AppError } from '../../errors/app-error.js';
import type { PasswordOptions } from '../../crypto/password.js';

export const ROTATORS = ['postgres', 'postgres-alternating', 'command', 'webhook'] as const;
export type RotatorName = (typeof ROTATORS)[number];
export type RotationStep = 'create' | 'set' | 'test' | 'finish';
export const ROTATION_STEPS: readonly RotationStep[] = ['create', 'set', 'test', 'finish'];

/** Characters that break connection strings, shells or SQL quoting when left in passwords. */
export const DEFAULT_EXCLUDED_CHARACTERS = '/@"\' \\';
const WINDOW_PATTERN = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$/;

const PasswordRules = z.object({
  length: z.number().int().min(8).max(256).optional(),
  exclude_characters: z.string().max(256).optional(),
  exclude_numbers: z.boolean().optional(),
  exclude_punctuation: z.boolean().optional(),
  exclude_uppercase: z.boolean().optional(),
  exclude_lowercase: z.boolean().optional(),
  require_each_included_type: z.boolean().optional(),
}).strict();

/**
 * Per-secret rotation settings, stored as JSON in `secrets.rotation` (snake_case, as on the
 * wire). A secret with neither `every_seconds` nor `cron` rotates only on demand.
 */
export const RotationSettingsSchema = z.object({
  rotator: z.enum(ROTATORS),
  every_seconds: z.number().int().min(60).max(3650 * 86_400).optional(),
  cron: z.string().min(1).max(128).optional(),
  /** The AWS ScheduleExpression this schedule was set from (RotateSecret), echoed back by DescribeSecret. */
  aws_schedule_expression: z.string().min(1).max(256).optional(),
  /** UTC time-of-day window such as 02:00-04:00 (may wrap midnight: 23:00-01:00). */
  window: z.string().regex(WINDOW_PATTERN, 'window must look like 02:00-04:00 (UTC)').optional(),
  /** How long PREVIOUS keeps working before it is revoked (alternating users). */
  grace_seconds: z.number().int().min(0).max(90 * 86_400).optional(),
  /** Name of a secret holding admin credentials (same JSON shape) used to ALTER ROLE. */
  admin_secret: z.string().min(1).max(512).optional(),
  /** The two database users an alternating rotation flips between. */
  users: z.tuple([z.string().min(1).max(63), z.string().min(1).max(63)]).optional(),
  /**
   * postgres and postgres-alternating: least time between one rotation's finish and the next
   * one's `create`, so a client that just fetched CURRENT or PENDING is not overtaken by the
   * next PENDING or password change before it connects. Default 2 s.
   */
  settle_seconds: z.number().min(0).max(600).optional(),
  /** Query the `test` phase runs with the PENDING credential (default SELECT 1). */
  test_query: z.string().min(1).max(4096).optional(),
  password: PasswordRules.optional(),
  /** command/webhook: JSON field of the value the engine fills with a new password at `create`; null = the external rotator writes PENDING itself. */
  generate_field: z.string().min(1).max(128).nullable().optional(),
  command: z.object({
    path: z.string().min(1).max(4096),
    args: z.array(z.string().max(4096)).max(64).optional(),
    timeout_seconds: z.number().int().min(1).max(3600).optional(),
  }).strict().optional(),
  webhook: z.object({
    url: z.string().url().max(2048).refine((u) => u.startsWith('https://'), 'webhook url must be https://'),
    /** Name of a secret whose value is the HMAC-SHA256 key. */
    hmac_secret: z.string().min(1).max(512),
    /** PEM CA bundle to trust (e.g. a self-signed endpoint). */
    ca_file: z.string().min(1).max(4096).optional(),
    timeout_seconds: z.number().int().min(1).max(600).optional(),
  }).strict().optional(),
}).strict().superRefine((s, ctx) => {
  if (s.every_seconds !== undefined && s.cron !== undefined) ctx.addIssue({ code: 'custom', message: 'give every or cron, not both' });
  if (s.cron !== undefined) {
    try {
      new Cron(s.cron, { timezone: 'UTC', paused: true }).stop();
    } catch {
      ctx.addIssue({ code: 'custom', message: `invalid cron expression "${s.cron}"` });
    }
  }
  if (s.rotator === 'postgres-alternating' && !s.admin_secret) ctx.addIssue({ code: 'custom', message: 'postgres-alternating needs admin_secret (one user cannot re-password the other)' });
  if (s.rotator === 'command' && !s.command) ctx.addIssue({ code: 'custom', message: 'the command rotator needs command.path' });
  if (s.rotator === 'webhook' && !s.webhook) ctx.addIssue({ code: 'custom', message: 'the webhook rotator needs webhook.url and webhook.hmac_secret' });
});

export type RotationSettings = z.infer<typeof RotationSettingsSchema>;

export function parseSettings(input: unknown): RotationSettings {
  const parsed = RotationSettingsSchema.safeParse(input);
  if (!parsed.success) {
    throw new AppError('validation_failed', `invalid rotation settings: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

export function passwordOptions(settings: RotationSettings): PasswordOptions {
  const p = settings.password ?? {};
  return {
    length: p.length ?? 32, excludeCharacters: p.exclude_characters ?? DEFAULT_EXCLUDED_CHARACTERS, excludeNumbers: p.exclude_numbers,
    excludePunctuation: p.exclude_punctuation, excludeUppercase: p.exclude_uppercase, excludeLowercase: p.exclude_lowercase,
    requireEachIncludedType: p.require_each_included_type,
  };
}

/**
 * Least time between one rotation's finish and the next one's password change, for the
 * PostgreSQL rotators: single-user changes the password clients just re-fetched, and
 * alternating re-passwords the user that was CURRENT until that finish, which jobs that
 * fetched it a moment earlier still hold.
 */
export const settleMs = (settings: RotationSettings): number =>
  (settings.rotator === 'postgres' || settings.rotator === 'postgres-alternating' ? (settings.settle_seconds ?? 2) * 1000 : 0);

export const defaultGraceSeconds = (settings: RotationSettings): number => settings.grace_seconds ?? (settings.rotator === 'postgres-alternating' ? 86_400 : 0);

// ---- schedule arithmetic (pure; the clock is always passed in) ----

const MINUTE = 60_000;
const DAY = 86_400_000;
export const MAX_ATTEMPTS = 5;
const BACKOFF_BASE_MS = 15_000;
const BACKOFF_MAX_MS = 3_600_000;
/** Without a window, a due rotation that has not succeeded within this long is overdue. */
export const OVERDUE_AFTER_MS = 3_600_000;
/** After a scheduled run fails for good, the scheduler tries again this much later. */
export const RETRY_FAILED_AFTER_MS = 3_600_000;

export interface Window {
  startMinute: number;
  endMinute: number;
}

export function parseWindow(text: string): Window {
  const m = WINDOW_PATTERN.exec(text);
  if (!m) throw new AppError('validation_failed', 'window must look like 02:00-04:00 (UTC)');
  const startMinute = Number(m[1]) * 60 + Number(m[2]);
  const endMinute = Number(m[3]) * 60 + Number(m[4]);
  if (startMinute === endMinute) throw new AppError('validation_failed', 'the window must not be empty');
  return { startMinute, endMinute };
}

const minuteOfDay = (ms: number) => Math.floor((((ms % DAY) + DAY) % DAY) / MINUTE);

/** True if `ms` falls inside the daily UTC window (start inclusive, end exclusive; may wrap midnight). */
export function inWindow(ms: number, window: Window): boolean {
  const m = minuteOfDay(ms);
  return window.startMinute < window.endMinute ? m >= window.startMinute && m < window.endMinute : m >= window.startMinute || m < window.endMinute;
}

/** The earliest instant at or after `ms` that lies inside the window. */
export function nextWindowOpening(ms: number, window: Window): number {
  if (inWindow(ms, window)) return ms;
  const dayStart = Math.floor(ms / DAY) * DAY;
  const today = dayStart + window.startMinute * MINUTE;
  return today > ms ? today : today + DAY;
}

/** When the window that contains `ms` closes (ms must be inside the window). */
export function windowClosing(ms: number, window: Window): number {
  const dayStart = Math.floor(ms / DAY) * DAY;
  let close = dayStart + window.endMinute * MINUTE;
  if (close <= ms) close += DAY;
  return close;
}

/**
 * The next time a rotation is due: `every` after the last rotation (or after the settings
 * were made, for a secret never rotated), or the cron expression's next run; moved forward
 * into the window if one is set. Null for on-demand-only settings.
 */
export function nextDueAt(settings: RotationSettings, lastRotatedOrConfiguredAt: number): number | null {
  let due: number;
  if (settings.every_seconds !== undefined) due = lastRotatedOrConfiguredAt + settings.every_seconds * 1000;
  else if (settings.cron !== undefined) {
    const next = new Cron(settings.cron, { timezone: 'UTC', paused: true }).nextRun(new Date(lastRotatedOrConfiguredAt));
    if (!next) return null;
    due = next.getTime();
  } else return null;
  return settings.window ? nextWindowOpening(due, parseWindow(settings.window)) : due;
}

/** Due now: past the due time and (if a window is set) inside the window. */
export function isDue(settings: RotationSettings, nextDue: number, now: number): boolean {
  if (now < nextDue) return false;
  return settings.window ? inWindow(now, parseWindow(settings.window)) : true;
}

/** Overdue: the due rotation has not succeeded by the end of its window (or within OVERDUE_AFTER_MS without one). */
export function overdueAt(settings: RotationSettings, nextDue: number): number {
  if (!settings.window) return nextDue + OVERDUE_AFTER_MS;
  const window = parseWindow(settings.window);
  const opening = nextWindowOpening(nextDue, window);
  return windowClosing(opening, window);
}

/** Exponential backoff before retry number `attempts` (1-based): 15 s, 30 s, 60 s ... capped at 1 h. */
export function backoffMs(attempts: number): number {
  return Math.min(BACKOFF_BASE_MS * 2 ** Math.max(0, attempts - 1), BACKOFF_MAX_MS);
}

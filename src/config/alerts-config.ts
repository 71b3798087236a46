import { z } from 'zod';

/**
 * Alert rules and sinks (the `alerts:` block of the config file). Defaults suit a small data
 * team (a handful of people, a few pipelines): quiet unless something is clearly unusual.
 * Times of day are UTC unless `utc_offset_minutes` says otherwise.
 */
const HourWindow = z.object({
  /** Business hours [start, end) as whole hours, e.g. 7 and 20. */
  start_hour: z.number().int().min(0).max(23),
  end_hour: z.number().int().min(1).max(24),
  /** ISO weekdays that count as working days (1 = Monday .. 7 = Sunday). */
  weekdays: z.array(z.number().int().min(1).max(7)).min(1).default([1, 2, 3, 4, 5]),
}).strict();

const Sink = z.object({
  name: z.string().regex(/^[a-z0-9_-]{1,40}$/),
  type: z.enum(['webhook', 'slack']),
  url: z.string().url(),
  /** HMAC-SHA256 key for the X-Custos-Signature header (webhook); from a file so it stays out of the config. */
  secret_file: z.string().min(1).optional(),
  secret: z.string().min(16).optional(),
  /** Only these rules go to this sink (all when absent). */
  rules: z.array(z.string()).optional(),
}).strict();

const rule = <T extends z.ZodRawShape>(shape: T) => z.object({ enabled: z.boolean().default(true), ...shape }).strict();

export const AlertsConfigSchema = z.object({
  enabled: z.boolean().default(true),
  /** How often the leader reads new audit events and runs the time-based checks. */
  evaluate_interval_seconds: z.number().min(0.05).max(3600).default(5),
  /** How often the inventory rules (expiring, rotation, unused, seal) look at the database. */
  state_check_seconds: z.number().min(1).max(86_400).default(60),
  utc_offset_minutes: z.number().int().min(-720).max(840).default(0),
  /** A backlog of audit events older than this (alerts paused, leader down) is not replayed: it fires nothing, and the skip is audited. */
  catch_up_hours: z.number().min(1).max(8_760).default(24),
  rules: z.object({
    off_hours: rule({
      environments: z.record(z.string(), HourWindow).default({ prod: { start_hour: 7, end_hour: 20, weekdays: [1, 2, 3, 4, 5] } }),
      /**
       * Each principal's own usual hours, learned from its reads: a read in an hour of day (± `margin_hours`)
       * in which it made no read over the last `days` days. Only once it has read on `min_days` days and
       * `min_reads` times in all, so a new principal is not "off-hours" everywhere.
       */
      learned: z.object({
        enabled: z.boolean().default(true),
        environments: z.array(z.string()).default(['prod']),
        days: z.number().int().min(3).max(60).default(14),
        min_days: z.number().int().min(1).max(60).default(7),
        min_reads: z.number().int().min(1).default(50),
        margin_hours: z.number().int().min(0).max(6).default(1),
      }).strict().prefault({}),
    }).prefault({}),
    volume_spike: rule({
      window_minutes: z.number().int().min(1).max(60).default(5),
      factor: z.number().min(1).default(5),
      /** No spike below this many reads in a window, whatever the baseline (a quiet principal reading 3 times is not a spike). */
      min_reads: z.number().int().min(1).default(50),
      baseline_days: z.number().int().min(1).max(30).default(7),
    }).prefault({}),
    first_time_access: rule({ environments: z.array(z.string()).default(['prod']), lookback_days: z.number().int().min(1).max(365).default(30) }).prefault({}),
    failure_burst: rule({
      window_minutes: z.number().int().min(1).max(60).default(5),
      threshold: z.number().int().min(2).default(10),
      codes: z.array(z.string()).default(['permission_denied', 'environment_denied', 'secret_not_found', 'invalid_signature', 'invalid_token', 'unknown_access_key', 'missing_token']),
    }).prefault({}),
    expiring: rule({ within_days: z.number().int().min(1).max(365).default(7) }).prefault({}),
    rotation: rule({}).prefault({}),
    /** One alert per owner with secrets not read for `days`; looked at every `check_every_seconds` (its unit is days). */
    unused: rule({ days: z.number().int().min(1).max(3650).default(90), check_every_seconds: z.number().min(1).max(86_400).default(3600) }).prefault({}),
    /** Flagged audit events (detail.alert), the seal, and a periodic audit chain verify. */
    // Each periodic verify walks only the events since the last one; the whole chain (whose cost grows
    // with the log) is walked every full_verify_every_hours.
    integrity: rule({ verify_every_minutes: z.number().min(1).max(10_080).default(360), full_verify_every_hours: z.number().min(1).max(8_760).default(24) }).prefault({}),
  }).strict().prefault({}),
  sinks: z.array(Sink).default([]),
  delivery: z.object({
    max_attempts: z.number().int().min(1).max(20).default(6),
    /** First retry after this long, doubling each attempt. */
    backoff_seconds: z.number().min(0.01).max(3600).default(5),
    timeout_seconds: z.number().min(0.1).max(60).default(5),
  }).strict().prefault({}),
}).strict();

export type AlertsConfig = z.infer<typeof AlertsConfigSchema>;
export type AlertSinkConfig = z.infer<typeof Sink>;

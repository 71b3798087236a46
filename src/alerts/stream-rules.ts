import type { AlertsConfig } from '../config/alerts-config.js';
import { keyMemo } from './key-memo.js';
import { environmentOf, READ_OPERATIONS, type AlertRule, type AuditRecord, type Finding, type Severity } from './alert.types.js';

/**
 * The rules that read the audit stream, event by event, in seq order. They keep short
 * windows in memory; anything with a horizon of days (last read per principal and secret,
 * hourly read counts) comes from `history`, which the engine persists per batch.
 */
export interface StreamHistory {
  /** Last time `principal` read `secret` before this batch (undefined: not within the lookback). */
  lastRead(principal: string, secret: string): number | undefined;
  /** Reads by `principal` in the same hour of day over the previous `days` days. */
  baselineReads(principal: string, hourStart: number, days: number): number;
  /** When `principal` read over the learned off-hours lookback before this hour (undefined: not loaded). */
  readingHours(principal: string, hourStart: number): ReadingHours | undefined;
}

/** A principal's reads by local hour of day, over a lookback: the basis of its usual hours. */
export interface ReadingHours {
  byHour: number[];
  reads: number;
  days: number;
}

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const MAX_SEQS = 20;
const WEEKDAYS = ['', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

type Described = Pick<Finding, 'summary' | 'facts'>;

/**
 * A finding whose summary and facts are written only when read. While an alert fires, every
 * matching event (a weekend's prod reads, a busy principal's spike) refreshes it, and the ledger
 * reads the text of the batch's last occurrence only: formatting dates and strings for each
 * event cost more than the rest of the rules together.
 */
class LazyFinding implements Finding {
  private described: Described | undefined;
  constructor(readonly rule: AlertRule, readonly key: string, readonly severity: Severity, readonly principal: string | null, readonly secret: string | null,
    readonly seqs: number[], readonly time: number, private readonly describe: () => Described) {}
  get summary(): string {
    return (this.described ??= this.describe()).summary;
  }
  get facts(): Finding['facts'] {
    return (this.described ??= this.describe()).facts;
  }
}

/** An exact sliding window of event times and seqs (oldest first); dropped entries are compacted lazily. */
class Window {
  private times: number[] = [];
  private seqs: number[] = [];
  private head = 0;
  push(time: number, seq: number, spanMs: number): number {
    this.times.push(time);
    this.seqs.push(seq);
    while (this.head < this.times.length && this.times[this.head]! <= time - spanMs) this.head++;
    if (this.head > 1024 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.seqs = this.seqs.slice(this.head);
      this.head = 0;
    }
    return this.times.length - this.head;
  }
  recentSeqs(n: number): number[] {
    return this.seqs.slice(Math.max(this.head, this.seqs.length - n));
  }
}

/**
 * Reads per whole minute over the last `minutes` minutes (the current one included): constant
 * memory however many reads a principal makes, where an exact window would keep every event.
 */
class MinuteCounts {
  private minutes: number[] = [];
  private counts: number[] = [];
  private seqs: number[] = [];
  add(time: number, seq: number, minutes: number): number {
    const minute = Math.floor(time / MINUTE);
    const last = this.minutes.length - 1;
    if (last >= 0 && this.minutes[last] === minute) this.counts[last]! += 1;
    else {
      this.minutes.push(minute);
      this.counts.push(1);
    }
    while (this.minutes.length && this.minutes[0]! <= minute - minutes) {
      this.minutes.shift();
      this.counts.shift();
    }
    this.seqs.push(seq);
    if (this.seqs.length > 2 * MAX_SEQS) this.seqs.splice(0, this.seqs.length - MAX_SEQS);
    let sum = 0;
    for (const c of this.counts) sum += c;
    return sum;
  }
  recentSeqs(n: number): number[] {
    return this.seqs.slice(-n);
  }
}

// The last day formatted: events come in time order, so nearly every call is a hit.
let lastDay = { number: NaN, iso: '' };
/** `YYYY-MM-DD` of a day counted from 1970-01-01. */
function isoDay(dayNumber: number): string {
  if (lastDay.number !== dayNumber) lastDay = { number: dayNumber, iso: new Date(dayNumber * DAY).toISOString().slice(0, 10) };
  return lastDay.iso;
}

/**
 * How far before an event the enabled stream rules look: first-time access over its lookback,
 * the volume spike over its baseline days (whole hours of day) and its window, learned off-hours
 * over its days (whole hours), a failure burst over its window. A flagged event and the
 * configured off-hours window judge the event alone. Whether an event fires depends on no
 * event older than this (and, for the hourly histories, the start of the event's hour).
 */
export function historySpanMs(config: AlertsConfig): number {
  const rules = config.rules;
  const spans = [0];
  if (rules.first_time_access.enabled) spans.push(rules.first_time_access.lookback_days * DAY);
  if (rules.volume_spike.enabled) spans.push(rules.volume_spike.baseline_days * DAY, rules.volume_spike.window_minutes * MINUTE);
  if (rules.off_hours.enabled && rules.off_hours.learned.enabled) spans.push(rules.off_hours.learned.days * DAY);
  if (rules.failure_burst.enabled) spans.push(rules.failure_burst.window_minutes * MINUTE);
  return Math.max(...spans);
}

export function createStreamRules(config: AlertsConfig) {
  const rules = config.rules;
  const offsetMs = config.utc_offset_minutes * MINUTE;
  const spikeWindows = new Map<string, MinuteCounts>();
  const failureWindows = new Map<string, Window>();
  // Reads seen in this process, so a second read in the same batch is not "first" again.
  const seenReads = new Map<string, number>();
  const seenPairKey = keyMemo();

  function offHours(e: AuditRecord, env: string): Finding | undefined {
    const window = rules.off_hours.environments[env];
    if (!window) return undefined;
    // By arithmetic, not a Date per event: every read of a covered environment passes here.
    const localMs = e.time + offsetMs;
    const dayNumber = Math.floor(localMs / DAY);
    const hour = Math.floor((localMs - dayNumber * DAY) / HOUR);
    const weekday = ((((dayNumber + 3) % 7) + 7) % 7) + 1; // ISO: day 0 (1970-01-01) was a Thursday
    if (window.weekdays.includes(weekday) && hour >= window.start_hour && hour < window.end_hour) return undefined;
    return new LazyFinding('off_hours', `${e.accessor}|${env}|${isoDay(dayNumber)}`, env === 'prod' ? 'warning' : 'info', e.accessor, e.secret_name, [e.seq], e.time, () => {
      const local = new Date(localMs);
      const hours = `${String(window.start_hour).padStart(2, '0')}:00-${String(window.end_hour).padStart(2, '0')}:00 ${window.weekdays.map((d) => WEEKDAYS[d]).join(',')}`;
      return {
        summary: `${e.accessor} read ${e.secret_name} at ${local.toISOString().slice(11, 16)} (UTC${offsetLabel(config.utc_offset_minutes)}) on ${WEEKDAYS[weekday]}, outside ${env} hours ${hours}`,
        facts: { environment: env, local_time: local.toISOString().slice(0, 16), allowed_hours: hours },
      };
    });
  }

  /** A read in an hour of day in which this principal has not read for weeks (given enough history to know). */
  function unusualHour(e: AuditRecord, env: string, history: StreamHistory): Finding | undefined {
    const learned = rules.off_hours.learned;
    if (!learned.environments.includes(env)) return undefined;
    const profile = history.readingHours(e.accessor!, Math.floor(e.time / HOUR) * HOUR);
    if (!profile || profile.days < learned.min_days || profile.reads < learned.min_reads) return undefined;
    const local = new Date(e.time + offsetMs);
    const hour = local.getUTCHours();
    for (let d = -learned.margin_hours; d <= learned.margin_hours; d++) if (profile.byHour[(hour + d + 24) % 24]! > 0) return undefined;
    const day = local.toISOString().slice(0, 10);
    return new LazyFinding('off_hours', `${e.accessor}|${env}|${day}|learned`, env === 'prod' ? 'warning' : 'info', e.accessor, e.secret_name, [e.seq], e.time, () => {
      const usual = profile.byHour.map((n, h) => (n > 0 ? h : -1)).filter((h) => h >= 0);
      return {
        summary: `${e.accessor} read ${e.secret_name} at ${local.toISOString().slice(11, 16)} (UTC${offsetLabel(config.utc_offset_minutes)}), an hour it has not read in for ${learned.days} days (usually ${hourRanges(usual)})`,
        facts: { environment: env, local_time: local.toISOString().slice(0, 16), learned: true, usual_hours: hourRanges(usual), lookback_days: learned.days, reads_in_lookback: profile.reads },
      };
    });
  }

  function firstTime(e: AuditRecord, env: string, history: StreamHistory): Finding | undefined {
    const rule = rules.first_time_access;
    if (!rule.environments.includes(env)) return undefined;
    const pair = seenPairKey(e.accessor!, e.secret_name!);
    const before = seenReads.get(pair) ?? history.lastRead(e.accessor!, e.secret_name!);
    if (seenReads.size > 200_000) seenReads.clear();
    seenReads.set(pair, e.time);
    if (before !== undefined && before >= e.time - rule.lookback_days * DAY) return undefined;
    return {
      rule: 'first_time_access', key: `${e.accessor}|${e.secret_name}`, severity: 'warning', principal: e.accessor, secret: e.secret_name,
      summary: `${e.accessor} read ${e.secret_name} for the first time in ${rule.lookback_days} days`,
      facts: { environment: env, lookback_days: rule.lookback_days, previous_read: before === undefined ? null : new Date(before).toISOString() }, seqs: [e.seq], time: e.time,
    };
  }

  function spike(e: AuditRecord, history: StreamHistory): Finding | undefined {
    const rule = rules.volume_spike;
    const principal = e.accessor!;
    let window = spikeWindows.get(principal);
    if (!window) spikeWindows.set(principal, (window = new MinuteCounts()));
    const reads = window.add(e.time, e.seq, rule.window_minutes);
    if (reads < rule.min_reads) return undefined;
    const hourStart = Math.floor(e.time / HOUR) * HOUR;
    const baselineTotal = history.baselineReads(principal, hourStart, rule.baseline_days);
    // The baseline per window: reads in that hour of day, averaged over the days and the windows in an hour.
    const baseline = baselineTotal / (rule.baseline_days * (60 / rule.window_minutes));
    const threshold = Math.max(rule.min_reads - 1, rule.factor * baseline);
    if (reads <= threshold) return undefined;
    return new LazyFinding('volume_spike', principal, 'warning', principal, null, window.recentSeqs(MAX_SEQS), e.time, () => ({
      summary: `${principal} read ${reads} secrets in ${rule.window_minutes} min; baseline for this hour is ${baseline.toFixed(1)} per ${rule.window_minutes} min (factor ${rule.factor})`,
      facts: { reads, window_minutes: rule.window_minutes, baseline: Number(baseline.toFixed(3)), factor: rule.factor, baseline_days: rule.baseline_days, min_reads: rule.min_reads },
    }));
  }

  function failures(e: AuditRecord): Finding[] {
    const rule = rules.failure_burst;
    const found: Finding[] = [];
    // Per principal when the request authenticated; per source address when it did not (bad
    // or missing tokens, bad signatures), so one burst raises one alert, not two.
    const [kind, who] = e.accessor ? ['principal', e.accessor] as const : ['source', e.source] as const;
    if (who) {
      const key = `${kind}:${who}`;
      let window = failureWindows.get(key);
      if (!window) failureWindows.set(key, (window = new Window()));
      const count = window.push(e.time, e.seq, rule.window_minutes * MINUTE);
      if (count >= rule.threshold) found.push(new LazyFinding('failure_burst', key, 'warning', kind === 'principal' ? who : e.accessor, e.secret_name, window.recentSeqs(MAX_SEQS), e.time, () => ({
        summary: `${count} denied or failed requests from ${kind} ${who} in ${rule.window_minutes} min (threshold ${rule.threshold}); last: ${e.error_code}`,
        facts: { [kind]: who, failures: count, window_minutes: rule.window_minutes, threshold: rule.threshold, last_code: e.error_code },
      })));
    }
    if (failureWindows.size > 50_000) failureWindows.clear();
    return found;
  }

  function flagged(e: AuditRecord): Finding | undefined {
    // Cheap test first: almost no event carries the flag, and parsing every detail would cost.
    if (!e.detail || !e.detail.includes('"alert"')) return undefined;
    let detail: Record<string, unknown>;
    try {
      detail = JSON.parse(e.detail) as Record<string, unknown>;
    } catch {
      return undefined;
    }
    const kind = detail.alert;
    if (typeof kind !== 'string' || kind === '') return undefined;
    if (kind === 'agent_recovered') {
      // Good news with a cost: the outage's length and how many answers were stale.
      const outage = Number(detail.outage_seconds);
      const stale = Number(detail.stale_answers);
      return {
        rule: 'integrity', key: `${kind}|${e.seq}`, severity: 'warning', principal: e.accessor, secret: null,
        summary: `agent_recovered: the agent of ${e.accessor ?? 'unknown'} reaches the server again after ${outage} s, having served ${stale} stale answer(s)`,
        facts: { kind, operation: e.operation, outcome: e.outcome, outage_seconds: outage, stale_answers: stale }, seqs: [e.seq], time: e.time,
      };
    }
    return {
      rule: 'integrity', key: `${kind}|${e.seq}`, severity: 'critical', principal: e.accessor, secret: e.secret_name,
      summary: `${kind}: ${e.operation} by ${e.accessor ?? 'unknown'}${e.secret_name ? ` on ${e.secret_name}` : ''}`,
      facts: { kind, operation: e.operation, outcome: e.outcome }, seqs: [e.seq], time: e.time,
    };
  }

  return {
    /** Every finding `e` produces, in order. Events of the alert engine itself are skipped. */
    evaluate(e: AuditRecord, history: StreamHistory): Finding[] {
      if (e.operation.startsWith('alert.')) return [];
      const found: Finding[] = [];
      if (rules.integrity.enabled) {
        const f = flagged(e);
        if (f) found.push(f);
      }
      if (e.error_code !== null && e.outcome !== 'success') {
        if (rules.failure_burst.enabled && rules.failure_burst.codes.includes(e.error_code)) found.push(...failures(e));
        return found;
      }
      if (e.outcome !== 'success' || !READ_OPERATIONS.has(e.operation) || !e.accessor || !e.secret_name) return found;
      const env = environmentOf(e.secret_name);
      if (env && rules.off_hours.enabled) {
        // The configured window first; a principal's own usual hours only add what the window lets through.
        const f = offHours(e, env) ?? (rules.off_hours.learned.enabled ? unusualHour(e, env, history) : undefined);
        if (f) found.push(f);
      }
      if (env && rules.first_time_access.enabled) {
        const f = firstTime(e, env, history);
        if (f) found.push(f);
      }
      if (rules.volume_spike.enabled) {
        const f = spike(e, history);
        if (f) found.push(f);
      }
      return found;
    },
    /** Forgets the in-memory windows (a new leader starts from the persisted history). */
    reset(): void {
      spikeWindows.clear();
      failureWindows.clear();
      seenReads.clear();
    },
  };
}

/** `[9, 10, 11, 14]` -> `09-12h, 14-15h`. */
function hourRanges(hours: number[]): string {
  const out: string[] = [];
  for (let i = 0; i < hours.length; i++) {
    let j = i;
    while (j + 1 < hours.length && hours[j + 1] === hours[j]! + 1) j++;
    out.push(`${String(hours[i]).padStart(2, '0')}-${String(hours[j]! + 1).padStart(2, '0')}h`);
    i = j;
  }
  return out.join(', ');
}

function offsetLabel(minutes: number): string {
  if (minutes === 0) return '';
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

import type { Kysely } from 'kysely';
import type { AuditEvent } from '../audit/audit-chain.js';
import { newId } from '../lib/ids.js';
import type { AlertRow, AlertStore } from '../storage/alert-store.js';
import type { Database, Queryable } from '../storage/schema.js';
import type { Finding } from './alert.types.js';
import { sinkTakes, type Sink } from './alert-sinks.js';

const MAX_SEQS = 50;

export interface LedgerDeps {
  db: Kysely<Database>;
  alertStore: AlertStore;
  sinks: readonly Sink[];
  /** Appends an audit event (every alert that fires or resolves is itself audited). */
  recordAudit: (event: AuditEvent) => Promise<void>;
}

interface Active {
  id: string;
  rule: string;
  key: string;
  occurrences: number;
  lastSeen: number;
  seqs: number[];
  /** The same seqs as a set: a busy alert is refreshed by every event, each naming up to 20 seqs. */
  seqSet: Set<number>;
}

const activeOf = (id: string, rule: string, key: string, occurrences: number, lastSeen: number, seqs: number[]): Active =>
  ({ id, rule, key, occurrences, lastSeen, seqs, seqSet: new Set(seqs) });

/**
 * The persisted alert states: fire once per (rule, key) while firing, refresh with later
 * occurrences, resolve. Fired and resolved alerts queue one delivery per sink (unless the
 * key is silenced) in the same transaction, and are audited after it commits.
 */
export function createAlertLedger(deps: LedgerDeps) {
  const { alertStore } = deps;
  let active = new Map<string, Active>();
  // The latest finding of each refreshed alert; its text is written at flush (once per batch, not per event).
  const dirty = new Map<string, Finding>();

  const auditEvent = (operation: string, alert: Pick<AlertRow, 'id' | 'rule' | 'severity' | 'principal' | 'secret_name'>, now: number, extra: Record<string, string | number | boolean | null> = {}): AuditEvent => ({
    time: now, requestId: alert.id, accessor: null, source: null, operation, secretName: alert.secret_name, versionId: null, outcome: 'success',
    errorCode: null, status: 200, latencyUs: 0, detail: { alert_id: alert.id, rule: alert.rule, severity: alert.severity, principal: alert.principal, ...extra },
  });

  async function queueDeliveries(tx: Queryable, alert: Pick<AlertRow, 'id' | 'rule'>, event: 'fired' | 'resolved', now: number): Promise<void> {
    for (const sink of deps.sinks) {
      if (!sinkTakes(sink, alert.rule)) continue;
      await alertStore.insertDelivery(tx, { id: newId(), alert_id: alert.id, sink: sink.name, event, status: 'pending', attempts: 0, next_attempt_at: now, last_error: null, created_at: now, updated_at: now });
    }
  }

  /**
   * Counts one more occurrence of `finding` if its key already fires (true), without a
   * promise: while an alert fires, every matching event of a batch comes here.
   */
  function refresh(f: Finding): boolean {
    const activeKey = `${f.rule}|${f.key}`;
    const current = active.get(activeKey);
    if (!current) return false;
    current.occurrences += 1;
    current.lastSeen = Math.max(current.lastSeen, f.time);
    for (const seq of f.seqs) {
      if (current.seqSet.has(seq)) continue;
      current.seqs.push(seq);
      current.seqSet.add(seq);
    }
    if (current.seqs.length > MAX_SEQS) for (const dropped of current.seqs.splice(0, current.seqs.length - MAX_SEQS)) current.seqSet.delete(dropped);
    dirty.set(activeKey, f);
    return true;
  }

  return {
    /** Reloads the firing alerts (call at the start of each run: another node may have led before). */
    async load(): Promise<void> {
      const rows = await alertStore.firing(deps.db, ['off_hours', 'volume_spike', 'first_time_access', 'failure_burst', 'expiring', 'rotation', 'unused', 'integrity']);
      active = new Map(rows.map((r) => [`${r.rule}|${r.dedupe_key}`, activeOf(r.id, r.rule, r.dedupe_key, r.occurrences, Number(r.last_seen_at), JSON.parse(r.event_seqs) as number[])]));
      dirty.clear();
    },
    isFiring: (rule: string, key: string) => active.has(`${rule}|${key}`),
    refresh,
    firingKeys(rule: string): string[] {
      return [...active.values()].filter((a) => a.rule === rule).map((a) => a.key);
    },
    /** Firing alerts not seen since `before` among `rules` whose key passes `pick`. */
    stale(rules: readonly string[], before: number, pick: (key: string) => boolean): { rule: string; key: string }[] {
      return [...active.values()].filter((a) => rules.includes(a.rule) && a.lastSeen < before && pick(a.key)).map((a) => ({ rule: a.rule, key: a.key }));
    },

    /** Fires `finding` unless its key already fires, in which case it counts one more occurrence. Returns the audit events to record after commit. */
    async apply(tx: Queryable, f: Finding, now: number): Promise<AuditEvent[]> {
      if (refresh(f)) return [];
      const activeKey = `${f.rule}|${f.key}`;
      const silencedUntil = await alertStore.silencedUntil(tx, f.rule, f.key);
      const silenced = silencedUntil !== undefined && silencedUntil > now;
      const row: AlertRow = {
        id: `alr_${newId().replace(/-/g, '').slice(0, 20)}`, rule: f.rule, dedupe_key: f.key, active_key: activeKey, status: 'firing', severity: f.severity,
        principal: f.principal, secret_name: f.secret, summary: f.summary, facts: JSON.stringify(f.facts), event_seqs: JSON.stringify(f.seqs.slice(-MAX_SEQS)),
        occurrences: 1, fired_at: now, last_seen_at: f.time, resolved_at: null, acked_at: null, acked_by: null,
      };
      await alertStore.insertAlert(tx, row);
      if (!silenced) await queueDeliveries(tx, row, 'fired', now);
      active.set(activeKey, activeOf(row.id, f.rule, f.key, 1, f.time, f.seqs.slice(-MAX_SEQS)));
      return [auditEvent('alert.fired', row, now, silenced ? { silenced: true } : {})];
    },

    /** Writes the occurrences counted since the last flush (one update per alert). */
    async flush(tx: Queryable): Promise<void> {
      for (const [activeKey, latest] of dirty) {
        const a = active.get(activeKey);
        if (!a) continue;
        await alertStore.updateAlert(tx, a.id, { occurrences: a.occurrences, last_seen_at: a.lastSeen, event_seqs: JSON.stringify(a.seqs), facts: JSON.stringify(latest.facts), summary: latest.summary });
      }
      dirty.clear();
    },

    async resolve(tx: Queryable, rule: string, key: string, now: number): Promise<AuditEvent[]> {
      const activeKey = `${rule}|${key}`;
      const a = active.get(activeKey);
      if (!a) return [];
      const row = await alertStore.alert(tx, a.id);
      active.delete(activeKey);
      dirty.delete(activeKey);
      if (!row) return [];
      await alertStore.updateAlert(tx, a.id, { status: 'resolved', active_key: null, resolved_at: now, occurrences: a.occurrences, last_seen_at: a.lastSeen, event_seqs: JSON.stringify(a.seqs) });
      const silencedUntil = await alertStore.silencedUntil(tx, rule, key);
      if (!(silencedUntil !== undefined && silencedUntil > now)) await queueDeliveries(tx, row, 'resolved', now);
      return [auditEvent('alert.resolved', row, now)];
    },

    auditEvent,
  };
}

export type AlertLedger = ReturnType<typeof createAlertLedger>;

import type { AlertsConfig } from '../config/alerts-config.js';
import type { AlertStore } from '../storage/alert-store.js';
import type { Queryable } from '../storage/schema.js';
import type { AlertRule, Finding } from './alert.types.js';

const DAY = 86_400_000;
/** The longest unused secrets an `unused` alert names. */
const UNUSED_SAMPLE = 10;
const iso = (t: number | null) => (t === null ? null : new Date(Number(t)).toISOString());
const days = (ms: number) => Math.floor(ms / DAY);

/**
 * Rules over the inventory rather than the stream: they look at the database at an
 * interval and report the full set of what holds now. The engine fires what is new and
 * resolves what no longer holds. Keys start with "state:" so they never mix with stream keys.
 */
export async function stateFindings(q: Queryable, store: AlertStore, config: AlertsConfig, now: number, checks: { sealed: boolean; verify?: { ok: boolean; problem?: { seq: number; kind: string; message: string } }; unused: boolean }): Promise<Map<AlertRule, Finding[]>> {
  const rules = config.rules;
  const found = new Map<AlertRule, Finding[]>();
  const add = (f: Omit<Finding, 'time' | 'seqs'> & { seqs?: number[] }) => {
    const list = found.get(f.rule) ?? [];
    list.push({ seqs: [], time: now, ...f });
    found.set(f.rule, list);
  };

  if (rules.expiring.enabled) {
    found.set('expiring', []);
    const until = now + rules.expiring.within_days * DAY;
    // Only tokens meant to outlive the warning window: one that lives less is always within it.
    for (const t of await store.tokensExpiring(q, now, until, rules.expiring.within_days * DAY)) {
      add({ rule: 'expiring', key: `state:token|${t.accessor}`, severity: 'warning', principal: t.accessor, secret: null,
        summary: `token ${t.display_name} (${t.accessor}) expires ${iso(t.expires_at)}, within ${rules.expiring.within_days} days`,
        facts: { kind: 'token', expires_at: iso(t.expires_at), days_left: Math.ceil((Number(t.expires_at) - now) / DAY), within_days: rules.expiring.within_days } });
    }
    // An AWS key dies with its creator or at its own expiry: boto3 jobs on it fail from then on.
    for (const k of await store.awsKeysExpiring(q, now, until)) {
      add({ rule: 'expiring', key: `state:aws_key|${k.access_key_id}`, severity: 'warning', principal: `aws:${k.access_key_id}`, secret: null,
        summary: `AWS access key ${k.display_name} (${k.access_key_id}) expires ${iso(k.expires_at)}, within ${rules.expiring.within_days} days`,
        facts: { kind: 'aws_key', created_by: k.created_by, expires_at: iso(k.expires_at), days_left: Math.ceil((Number(k.expires_at) - now) / DAY), within_days: rules.expiring.within_days } });
    }
    for (const s of await store.rotationsDue(q, until)) {
      if (s.overdue_since !== null || Number(s.next_due_at) <= now) continue; // overdue: the rotation rule says so
      add({ rule: 'expiring', key: `state:rotation_due|${s.name}`, severity: 'info', principal: s.owner, secret: s.name,
        summary: `${s.name} is due for rotation at ${iso(s.next_due_at)}, within ${rules.expiring.within_days} days`,
        facts: { kind: 'rotation_due', owner: s.owner, next_due_at: iso(s.next_due_at), days_left: Math.ceil((Number(s.next_due_at) - now) / DAY) } });
    }
  }
  if (rules.rotation.enabled) {
    found.set('rotation', []);
    for (const s of await store.rotationsDue(q, now)) {
      const since = s.overdue_since ?? s.next_due_at;
      add({ rule: 'rotation', key: `state:overdue|${s.name}`, severity: 'warning', principal: s.owner, secret: s.name,
        summary: `rotation of ${s.name} is overdue since ${iso(since)}`,
        facts: { kind: 'overdue', owner: s.owner, due_at: iso(s.next_due_at), overdue_days: days(now - Number(since)) } });
    }
    for (const r of await store.failedRotations(q)) {
      add({ rule: 'rotation', key: `state:failed|${r.secret_name}`, severity: 'critical', principal: null, secret: r.secret_name,
        summary: `the last rotation of ${r.secret_name} failed after ${r.attempts} attempt(s)`,
        facts: { kind: 'failed', run_id: r.id, attempts: r.attempts, finished_at: iso(r.finished_at) } });
    }
  }
  // One alert per owner, not per secret: a store of a million secrets, most of them never read,
  // fired 772,227 alerts (each delivered to every sink) and rewrote them all every minute.
  // `custos report unused` lists every secret; the alert names the longest unused.
  if (rules.unused.enabled && checks.unused) {
    found.set('unused', []);
    for (const o of await store.unusedByOwner(q, now - rules.unused.days * DAY, UNUSED_SAMPLE)) {
      const oldest = o.oldest[0]!;
      const oldestDays = days(now - (oldest.last_accessed_at ?? oldest.created_at));
      const whose = o.owner === null ? 'with no owner' : `owned by ${o.owner}`;
      add({ rule: 'unused', key: `state:unused|${o.owner ?? ''}`, severity: 'info', principal: o.owner, secret: null,
        summary: `${o.count} secret${o.count === 1 ? '' : 's'} ${whose} not read for ${rules.unused.days} days or more; the longest, ${oldest.name}, for ${oldestDays} days${oldest.last_accessed_at === null ? ' (never read)' : ''} (custos report unused lists them all)`,
        facts: { owner: o.owner, secrets: o.count, threshold_days: rules.unused.days, oldest_secret: oldest.name, oldest_last_accessed_at: iso(oldest.last_accessed_at), oldest_unused_days: oldestDays,
          longest_unused: o.oldest.map((s) => `${s.name} (${days(now - (s.last_accessed_at ?? s.created_at))} days)`).join(', ') } });
    }
  }
  if (rules.integrity.enabled) {
    found.set('integrity', []);
    if (checks.sealed) add({ rule: 'integrity', key: 'state:sealed', severity: 'critical', principal: null, secret: null, summary: 'Custos is sealed: every data request is refused', facts: { kind: 'seal' } });
    if (checks.verify && !checks.verify.ok && checks.verify.problem) {
      const p = checks.verify.problem;
      add({ rule: 'integrity', key: `state:chain_break|${p.seq}`, severity: 'critical', principal: null, secret: null, summary: `audit chain verify failed: ${p.message}`,
        facts: { kind: 'chain_break', problem: p.kind, seq: p.seq }, seqs: [p.seq] });
    }
  }
  return found;
}

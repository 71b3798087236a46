import type { Kysely } from 'kysely';
import type { Authorizer } from '../../services/authorizer.js';
import type { Identity } from '../../auth/identity.types.js';
import type { ReportStore } from '../../storage/report-store.js';
import type { Database } from '../../storage/schema.js';
import type { Cell, Report, ReportKind } from './report.types.js';
import { createEvidenceCollector, type EvidenceDeps } from './evidence.js';

const DAY = 86_400_000;
const INVENTORY_COLUMNS = ['secret', 'environment', 'owner', 'last_rotated', 'cadence', 'next_due', 'overdue', 'last_accessed', 'reads_30d', 'reads_90d', 'problems'];
const iso = (t: number | null | undefined) => (t === null || t === undefined ? null : new Date(Number(t)).toISOString());
const envOf = (name: string) => (name.includes('/') ? name.slice(0, name.indexOf('/')) : '');

export interface ReportServiceDeps {
  db: Kysely<Database>;
  reportStore: ReportStore;
  authorizer: Pick<Authorizer, 'require' | 'mayAccessUnder'>;
  now: () => number;
  /** The full audit chain verify, for evidence bundles. */
  verifyAudit: EvidenceDeps['verifyAudit'];
}

/** How often a secret rotates, from its rotation settings (null: no rotation configured). */
export function cadenceOf(rotation: string | null): string | null {
  if (!rotation) return null;
  const s = JSON.parse(rotation) as { every_seconds?: number; cron?: string };
  if (s.every_seconds) return s.every_seconds % 86_400 === 0 ? `every ${s.every_seconds / 86_400}d` : `every ${Math.round(s.every_seconds / 3600)}h`;
  if (s.cron) return `cron ${s.cron}`;
  return 'on demand';
}

/**
 * Inventory, access, rotation and unused-secret reports for owners and auditors: metadata and
 * counts from the catalogue and the audit log, never a value. Needs read on sys:reports.
 */
export function createReportService(deps: ReportServiceDeps) {
  const { db, reportStore } = deps;

  async function inventoryRows(now: number) {
    const [secrets, counts] = await Promise.all([reportStore.inventory(db), reportStore.readCounts(db, now - 90 * DAY, now - 30 * DAY)]);
    const totals = new Map<string, { r30: number; r90: number }>();
    for (const c of counts) {
      const t = totals.get(c.secret) ?? { r30: 0, r90: 0 };
      t.r30 += c.recentReads;
      t.r90 += c.reads;
      totals.set(c.secret, t);
    }
    return secrets.map((s) => {
      const cadence = cadenceOf(s.rotation);
      const overdue = s.overdue_since !== null || (s.next_due_at !== null && Number(s.next_due_at) <= now);
      return { s, cadence, overdue, reads: totals.get(s.name) ?? { r30: 0, r90: 0 } };
    });
  }

  const build = (kind: ReportKind, title: string, now: number, since: number | null, columns: string[], rows: Record<string, Cell>[], summary: Record<string, number>, charts: Report['charts'] = []): Report =>
    ({ kind, title, generated_at: iso(now)!, since: iso(since), columns, rows, summary, charts });

  function complianceChart(items: Awaited<ReturnType<typeof inventoryRows>>): Report['charts'][number] {
    const envs = [...new Set(items.map((i) => envOf(i.s.name)))].sort();
    const count = (env: string, pick: (i: (typeof items)[number]) => boolean) => items.filter((i) => envOf(i.s.name) === env && pick(i)).length;
    return {
      title: 'Rotation compliance by environment', type: 'bar', labels: envs,
      series: [
        { name: 'on schedule', values: envs.map((e) => count(e, (i) => i.cadence !== null && !i.overdue)) },
        { name: 'overdue', values: envs.map((e) => count(e, (i) => i.overdue)) },
        { name: 'no rotation', values: envs.map((e) => count(e, (i) => i.cadence === null)) },
      ],
    };
  }

  const service = {
    /** The SOC 2 evidence of one quarter (policies, prod readers, rotation, audit verify) as data; the CLI signs and packs it. */
    evidence: (caller: Identity, period: string) => collectEvidence(caller, period),
    async report(caller: Identity, kind: ReportKind, options: { since?: number; unusedDays?: number } = {}): Promise<Report> {
      await deps.authorizer.require(caller, 'read', 'sys:reports');
      const now = deps.now();
      const since = options.since ?? now - 90 * DAY;
      if (kind === 'inventory') {
        const items = await inventoryRows(now);
        const rows = items.map(({ s, cadence, overdue, reads }) => ({
          secret: s.name, environment: envOf(s.name), owner: s.owner, last_rotated: iso(s.last_rotated_at), cadence, next_due: iso(s.next_due_at), overdue,
          last_accessed: iso(s.last_accessed_at), reads_30d: reads.r30, reads_90d: reads.r90,
          problems: [s.owner ? null : 'no owner', cadence ? null : 'no rotation', overdue ? 'overdue' : null].filter(Boolean).join('; ') || null,
        }));
        return build('inventory', 'Secret inventory', now, null, INVENTORY_COLUMNS, rows, {
          secrets: rows.length, without_owner: items.filter((i) => !i.s.owner).length, without_rotation: items.filter((i) => !i.cadence).length, overdue: items.filter((i) => i.overdue).length,
        }, [complianceChart(items)]);
      }
      if (kind === 'access') {
        const [counts, perDay, names] = await Promise.all([reportStore.readCounts(db, Math.min(since, now - 90 * DAY), now - 30 * DAY), reportStore.readsPerDay(db, since), reportStore.tokenNames(db)]);
        const inPeriod = await reportStore.readCounts(db, now - 90 * DAY, now - 30 * DAY);
        const r90 = new Map(inPeriod.map((c) => [`${c.secret}\u0000${c.accessor}`, c.reads]));
        const rows = counts.sort((a, b) => a.secret.localeCompare(b.secret) || (a.accessor ?? '').localeCompare(b.accessor ?? '')).map((c) => ({
          secret: c.secret, environment: envOf(c.secret), principal: c.accessor, principal_name: c.accessor ? names.get(c.accessor) ?? null : null,
          reads_30d: c.recentReads, reads_90d: r90.get(`${c.secret}\u0000${c.accessor}`) ?? 0, last_read: iso(c.lastRead),
        }));
        const firstDay = Math.floor(since / DAY);
        const lastDay = Math.floor(now / DAY);
        const labels = Array.from({ length: lastDay - firstDay + 1 }, (_, i) => iso((firstDay + i) * DAY)!.slice(0, 10));
        const envs = [...new Set(perDay.map((p) => envOf(p.secret)))].sort();
        const series = envs.map((env) => ({ name: env, values: labels.map((_, i) => perDay.filter((p) => p.day === firstDay + i && envOf(p.secret) === env).reduce((a, p) => a + p.reads, 0)) }));
        return build('access', 'Secret access by principal', now, since, ['secret', 'environment', 'principal', 'principal_name', 'reads_30d', 'reads_90d', 'last_read'], rows, {
          principals: new Set(rows.map((r) => r.principal)).size, secrets_read: new Set(rows.map((r) => r.secret)).size, reads_30d: rows.reduce((a, r) => a + r.reads_30d, 0),
        }, [{ title: 'Accesses per day by environment', type: 'line', labels, series }]);
      }
      if (kind === 'rotation') {
        const [items, runs] = await Promise.all([inventoryRows(now), reportStore.rotationRuns(db, since, now + 1)]);
        const rows = items.map(({ s, cadence, overdue }) => {
          const mine = runs.filter((r) => r.secret_name === s.name);
          return {
            secret: s.name, environment: envOf(s.name), owner: s.owner, cadence, last_rotated: iso(s.last_rotated_at), next_due: iso(s.next_due_at), overdue,
            runs_succeeded: mine.filter((r) => r.status === 'succeeded').length, runs_failed: mine.filter((r) => r.status === 'failed').length, compliant: cadence !== null && !overdue,
          };
        });
        return build('rotation', 'Rotation compliance', now, since, ['secret', 'environment', 'owner', 'cadence', 'last_rotated', 'next_due', 'overdue', 'runs_succeeded', 'runs_failed', 'compliant'], rows, {
          secrets: rows.length, with_rotation: rows.filter((r) => r.cadence).length, compliant: rows.filter((r) => r.compliant).length, overdue: rows.filter((r) => r.overdue).length,
          failed_runs: rows.reduce((a, r) => a + r.runs_failed, 0),
        }, [complianceChart(items)]);
      }
      const days = options.unusedDays ?? 90;
      const items = await inventoryRows(now);
      const rows = items.filter(({ s }) => Number(s.last_accessed_at ?? s.created_at) <= now - days * DAY).map(({ s }) => ({
        secret: s.name, environment: envOf(s.name), owner: s.owner, last_accessed: iso(s.last_accessed_at), unused_days: Math.floor((now - Number(s.last_accessed_at ?? s.created_at)) / DAY),
      }));
      return build('unused', `Secrets unused for ${days} days or more`, now, null, ['secret', 'environment', 'owner', 'last_accessed', 'unused_days'], rows, { unused: rows.length, threshold_days: days });
    },
  };
  const collectEvidence = createEvidenceCollector({ db, reportStore, authorizer: deps.authorizer, verifyAudit: deps.verifyAudit, report: (caller, kind, options) => service.report(caller, kind, options), now: deps.now });
  return service;
}

export type ReportService = ReturnType<typeof createReportService>;

import type { Authorizer } from '../../services/authorizer.js';
import type { Identity } from '../../auth/identity.types.js';
import type { ReportStore } from '../../storage/report-store.js';
import type { Database } from '../../storage/schema.js';
import type { Kysely } from 'kysely';
import { AppError } from '../../errors/app-error.js';
import type { Report } from './report.types.js';

export interface EvidenceDeps {
  db: Kysely<Database>;
  reportStore: ReportStore;
  authorizer: Pick<Authorizer, 'require' | 'mayAccessUnder'>;
  verifyAudit: () => Promise<{ ok: boolean; checked: number; firstSeq: number | null; lastSeq: number | null; headHash: string; problem?: unknown }>;
  report: (caller: Identity, kind: 'inventory' | 'rotation', options: { since?: number }) => Promise<Report>;
  now: () => number;
}

/** `2026-Q3` -> [1 Jul 2026, 1 Oct 2026) in UTC. */
export function quarterBounds(period: string): { start: number; end: number } {
  const m = /^(\d{4})-Q([1-4])$/.exec(period);
  if (!m) throw new AppError('validation_failed', 'period is a quarter like 2026-Q3');
  const year = Number(m[1]);
  const q = Number(m[2]);
  return { start: Date.UTC(year, (q - 1) * 3, 1), end: Date.UTC(year, q * 3, 1) };
}

const iso = (t: number | null | undefined) => (t === null || t === undefined ? null : new Date(Number(t)).toISOString());

/**
 * SOC 2 evidence for one quarter: the policies in force, every live credential that may read
 * prod (an over-approximation: deny rules are not subtracted, so nobody who can is missing),
 * the rotation runs of the quarter and compliance now, and a full audit chain verify. Needs
 * read on sys:reports and on sys:audit. The CLI packs and signs it.
 */
export function createEvidenceCollector(deps: EvidenceDeps) {
  return async (caller: Identity, period: string) => {
    await deps.authorizer.require(caller, 'read', 'sys:reports');
    await deps.authorizer.require(caller, 'read', 'sys:audit');
    const { start, end } = quarterBounds(period);
    const now = deps.now();
    const [policies, credentials, runs, verify, inventory, rotation] = await Promise.all([
      deps.reportStore.policies(deps.db), deps.reportStore.liveCredentials(deps.db, now), deps.reportStore.rotationRuns(deps.db, start, end), deps.verifyAudit(),
      deps.report(caller, 'inventory', {}), deps.report(caller, 'rotation', { since: start }),
    ]);
    const prodReaders = [];
    for (const t of credentials.tokens) {
      const identity: Identity = { accessor: t.accessor, displayName: t.display_name, policies: JSON.parse(t.policies) as string[], env: t.env, isRoot: t.is_root === 1, expiresAt: t.expires_at };
      if (await deps.authorizer.mayAccessUnder(identity, 'read', 'prod/')) prodReaders.push({ kind: 'token', id: t.accessor, name: t.display_name, policies: identity.policies, env: t.env, root: identity.isRoot, created_at: iso(t.created_at), expires_at: iso(t.expires_at) });
    }
    for (const k of credentials.keys) {
      const identity: Identity = { accessor: k.access_key_id, displayName: k.display_name, policies: JSON.parse(k.policies) as string[], env: k.env, isRoot: k.is_root === 1, expiresAt: null };
      if (await deps.authorizer.mayAccessUnder(identity, 'read', 'prod/')) prodReaders.push({ kind: 'aws_access_key', id: k.access_key_id, name: k.display_name, policies: identity.policies, env: k.env, root: identity.isRoot, created_at: iso(k.created_at), expires_at: null });
    }
    return {
      period, period_start: iso(start), period_end: iso(end), generated_at: iso(now),
      files: {
        'policies.json': policies.map((p) => ({ name: p.name, updated_at: iso(p.updated_at), document: p.document })),
        'prod-readers.json': prodReaders,
        'rotation-history.json': runs.map((r) => ({ ...r, started_at: iso(r.started_at), finished_at: iso(r.finished_at) })),
        'rotation-compliance.json': rotation,
        'inventory.json': inventory,
        'audit-verify.json': verify,
      },
    };
  };
}

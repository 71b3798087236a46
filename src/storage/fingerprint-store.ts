import type { Insertable } from 'kysely';
import type { Database, Queryable } from './schema.js';

export type FingerprintRow = Insertable<Database['scan_fingerprints']>;

export interface FingerprintHit {
  secretId: string;
  name: string;
  region: string;
  versionId: string;
  label: string;
  field: string;
  fingerprint: string;
}

/** Queries of the scan fingerprint index (engines/fingerprints). Rows hold OPRF outputs, never values. */
export function createFingerprintStore() {
  return {
    /** Replaces every row of one secret (its CURRENT and PREVIOUS fingerprints) with `rows`. */
    async replaceSecret(q: Queryable, secretId: string, rows: FingerprintRow[]): Promise<void> {
      await q.deleteFrom('scan_fingerprints').where('secret_id', '=', secretId).execute();
      for (let i = 0; i < rows.length; i += 200) await q.insertInto('scan_fingerprints').values(rows.slice(i, i + 200)).execute();
    },

    /** Rows whose fingerprint is one of `fingerprints`, for secrets that still exist and are not deleted. */
    async lookup(q: Queryable, fingerprints: string[]): Promise<FingerprintHit[]> {
      if (fingerprints.length === 0) return [];
      const hits: FingerprintHit[] = [];
      for (let i = 0; i < fingerprints.length; i += 500) {
        const rows = await q.selectFrom('scan_fingerprints as f')
          .innerJoin('secrets as s', 's.id', 'f.secret_id')
          .select(['f.secret_id', 's.name', 's.region', 'f.version_id', 'f.label', 'f.field', 'f.fingerprint'])
          .where('f.fingerprint', 'in', fingerprints.slice(i, i + 500))
          .where('s.deleted_at', 'is', null)
          .execute();
        for (const r of rows) hits.push({ secretId: r.secret_id, name: r.name, region: r.region, versionId: r.version_id, label: r.label, field: r.field, fingerprint: r.fingerprint });
      }
      return hits;
    },

    /** Whether a full build of the index has completed (it survives restarts; only new writes need indexing). */
    async isBuilt(q: Queryable): Promise<boolean> {
      return (await q.selectFrom('system_state').select('value').where('key', '=', 'scan_index_built').executeTakeFirst()) !== undefined;
    },

    async markBuilt(q: Queryable): Promise<void> {
      await q.deleteFrom('system_state').where('key', '=', 'scan_index_built').execute();
      await q.insertInto('system_state').values({ key: 'scan_index_built', value: 'v1' }).execute();
    },

    /**
     * One page of the catch-up: of the (non-replica) secrets after `afterId`, at most `limit` in
     * id order, those whose `labels` point at other versions than their index rows were computed
     * from (or whose labelled versions have no rows: values with no field long enough to
     * fingerprint come back every time). `last` is the page's last id; absent after the last page.
     */
    async staleSecrets(q: Queryable, afterId: string, limit: number, labels: readonly string[]): Promise<{ stale: string[]; last?: string }> {
      const page = (await q.selectFrom('secrets').select('id').where('primary_region', 'is', null).where('id', '>', afterId).orderBy('id').limit(limit).execute()).map((r) => r.id);
      if (page.length === 0) return { stale: [] };
      const [first, last] = [page[0]!, page[page.length - 1]!];
      const pairsOf = (rows: { secret_id: string; version_id: string; label: string }[]) => {
        const pairs = new Map<string, Set<string>>();
        for (const r of rows) {
          let set = pairs.get(r.secret_id);
          if (!set) pairs.set(r.secret_id, (set = new Set()));
          set.add(`${r.label}\u0000${r.version_id}`);
        }
        return pairs;
      };
      const labelled = pairsOf(await q.selectFrom('version_labels').select(['secret_id', 'version_id', 'label'])
        .where('secret_id', '>=', first).where('secret_id', '<=', last).where('label', 'in', labels).execute());
      const indexed = pairsOf(await q.selectFrom('scan_fingerprints').select(['secret_id', 'version_id', 'label']).distinct()
        .where('secret_id', '>=', first).where('secret_id', '<=', last).execute());
      const same = (a = new Set<string>(), b = new Set<string>()) => a.size === b.size && [...a].every((p) => b.has(p));
      return { stale: page.filter((id) => !same(labelled.get(id), indexed.get(id))), last };
    },

    /** Ids of every secret with a labelled version (the set a full rebuild walks). */
    async secretIds(q: Queryable): Promise<string[]> {
      const rows = await q.selectFrom('secrets').select('id').where('primary_region', 'is', null).execute();
      return rows.map((r) => r.id);
    },
  };
}

export type FingerprintStore = ReturnType<typeof createFingerprintStore>;

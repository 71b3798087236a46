import { sql, type Selectable, type Insertable, type Updateable } from 'kysely';
import { AppError } from '../errors/app-error.js';
import type { Database, Dialect, Queryable } from './schema.js';
import { preparedQuery } from './prepared.js';

export type SecretRow = Selectable<Database['secrets']>;
export type VersionRow = Selectable<Database['secret_versions']>;
export type LabelRow = Selectable<Database['version_labels']>;

/** The hot-path row: a secret joined with the version a label points at. */
export type LabelledVersionRow = SecretRow & {
  version_id: string;
  version_created_at: number;
  value_kind: 'string' | 'binary';
  key_term: number;
  wrapped_key: Buffer;
  ciphertext: Buffer;
};

export interface ListSecretsQuery {
  region: string;
  prefix?: string;
  includeDeleted?: boolean;
  /** Keyset pagination: names strictly after this one. */
  afterName?: string;
  limit: number;
}

/** Every query the secrets engine runs. Each method takes the connection or transaction to use. */
export function createSecretStore(dialect: Dialect) {
  const readByLabelQuery = preparedQuery<LabelledVersionRow, { region: string; name: string; label: string }>((q, p) =>
    q
      .selectFrom('secrets as s')
      .innerJoin('version_labels as l', (join) => join.onRef('l.secret_id', '=', 's.id').on('l.label', '=', p('label')))
      .innerJoin('secret_versions as v', (join) => join.onRef('v.secret_id', '=', 's.id').onRef('v.version_id', '=', 'l.version_id'))
      .selectAll('s')
      .select(['v.version_id', 'v.created_at as version_created_at', 'v.value_kind', 'v.key_term', 'v.wrapped_key', 'v.ciphertext'])
      .where('s.region', '=', p('region'))
      .where('s.name', '=', p('name')) as never,
  );
  // PostgreSQL: the version's labels come with the row, saving the read a second round trip.
  const readLabelledQuery = preparedQuery<LabelledVersionRow & { labels: string[] }, { region: string; name: string; label: string }>((q, p) =>
    q
      .selectFrom('secrets as s')
      .innerJoin('version_labels as l', (join) => join.onRef('l.secret_id', '=', 's.id').on('l.label', '=', p('label')))
      .innerJoin('secret_versions as v', (join) => join.onRef('v.secret_id', '=', 's.id').onRef('v.version_id', '=', 'l.version_id'))
      .selectAll('s')
      .select(['v.version_id', 'v.created_at as version_created_at', 'v.value_kind', 'v.key_term', 'v.wrapped_key', 'v.ciphertext'])
      .select(sql<string[]>`array(select vl.label from version_labels vl where vl.secret_id = s.id and vl.version_id = v.version_id order by vl.label)`.as('labels'))
      .where('s.region', '=', p('region'))
      .where('s.name', '=', p('name')) as never,
  );
  const labelsQuery = preparedQuery<LabelRow, { secretId: string }>((q, p) =>
    q.selectFrom('version_labels').selectAll().where('secret_id', '=', p('secretId')).orderBy('label'));

  return {
    /** Row lock for read-modify-write of one secret (PostgreSQL); SQLite serializes writers already. */
    async findByName(q: Queryable, region: string, name: string, options: { forUpdate?: boolean } = {}): Promise<SecretRow | undefined> {
      let query = q.selectFrom('secrets').selectAll().where('region', '=', region).where('name', '=', name);
      if (options.forUpdate && dialect === 'postgres') query = query.forUpdate();
      return query.executeTakeFirst();
    },

    async findById(q: Queryable, id: string): Promise<SecretRow | undefined> {
      return q.selectFrom('secrets').selectAll().where('id', '=', id).executeTakeFirst();
    },

    /** Throws `secret_exists` when another writer (e.g. another node) created the name first. */
    async insert(q: Queryable, row: Insertable<Database['secrets']>): Promise<void> {
      try {
        await q.insertInto('secrets').values(row).execute();
      } catch (error) {
        const e = error as { code?: string; constraint?: string; message?: string };
        const nameTaken = (e.code === '23505' && e.constraint === 'secrets_region_name_unique') || (e.code === 'SQLITE_CONSTRAINT_UNIQUE' && /secrets\.region, secrets\.name/.test(e.message ?? ''));
        if (nameTaken) throw new AppError('secret_exists', `a secret named "${row.name}" already exists`, { cause: error });
        throw error;
      }
    },

    /** Inserts unless a secret with this region and name exists (a racing create); true if inserted. */
    async insertIfAbsent(q: Queryable, row: Insertable<Database['secrets']>): Promise<boolean> {
      const result = await q.insertInto('secrets').values(row).onConflict((oc) => oc.columns(['region', 'name']).doNothing()).executeTakeFirst();
      return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
    },

    async update(q: Queryable, id: string, patch: Updateable<Database['secrets']>): Promise<void> {
      await q.updateTable('secrets').set(patch).where('id', '=', id).execute();
    },

    /** Removes the secret with its versions, labels and tags (foreign keys cascade). */
    async remove(q: Queryable, id: string): Promise<void> {
      await q.deleteFrom('version_labels').where('secret_id', '=', id).execute();
      await q.deleteFrom('secret_versions').where('secret_id', '=', id).execute();
      await q.deleteFrom('secret_tags').where('secret_id', '=', id).execute();
      await q.deleteFrom('secrets').where('id', '=', id).execute();
    },

    async list(q: Queryable, query: ListSecretsQuery): Promise<SecretRow[]> {
      let select = q.selectFrom('secrets').selectAll().where('region', '=', query.region);
      if (query.prefix) {
        // An exact character-prefix test: no LIKE wildcards (`_`, `%` are ordinary characters in
        // names) and no upper bound like prefix+U+FFFF, which misses names going on with an emoji
        // (UTF-8 bytes F0.. sort after EF BF BF). `>=` only narrows the index scan where the
        // collation is binary (SQLite); PostgreSQL locales may order differently.
        if (dialect === 'sqlite') select = select.where('name', '>=', query.prefix);
        select = select.where(sql`substr(name, 1, length(cast(${query.prefix} as text)))`, '=', query.prefix);
      }
      if (!query.includeDeleted) select = select.where('deleted_at', 'is', null);
      if (query.afterName !== undefined) select = select.where('name', '>', query.afterName);
      return select.orderBy('name').limit(query.limit).execute();
    },

    /** Secrets whose recovery window has ended, for the purge job. */
    async listExpiredDeletions(q: Queryable, now: number, limit: number): Promise<SecretRow[]> {
      return q.selectFrom('secrets').selectAll().where('delete_after', '<=', now).limit(limit).execute();
    },

    /** One round trip for a read: the secret and the version `label` points at. */
    async readByLabel(q: Queryable, region: string, name: string, label: string): Promise<LabelledVersionRow | undefined> {
      return (await readByLabelQuery(q, { region, name, label }))[0];
    },

    /** The row a label names and all labels of that version (ordered), or undefined. */
    async readLabelled(q: Queryable, region: string, name: string, label: string): Promise<{ row: LabelledVersionRow; labels: string[] } | undefined> {
      if (dialect === 'postgres') {
        const found = (await readLabelledQuery(q, { region, name, label }))[0];
        if (!found) return undefined;
        const { labels, ...row } = found;
        return { row, labels };
      }
      const row = (await readByLabelQuery(q, { region, name, label }))[0];
      if (!row) return undefined;
      const labels = (await labelsQuery(q, { secretId: row.id })).filter((l) => l.version_id === row.version_id).map((l) => l.label);
      return { row, labels };
    },

    async findVersion(q: Queryable, secretId: string, versionId: string): Promise<VersionRow | undefined> {
      return q.selectFrom('secret_versions').selectAll().where('secret_id', '=', secretId).where('version_id', '=', versionId).executeTakeFirst();
    },

    async insertVersion(q: Queryable, row: Insertable<Database['secret_versions']>): Promise<void> {
      await q.insertInto('secret_versions').values(row).execute();
    },

    /** Versions newest first, without their ciphertext. */
    async listVersions(q: Queryable, secretId: string) {
      return q
        .selectFrom('secret_versions')
        .select(['version_id', 'created_at', 'value_kind', 'key_term', 'last_accessed_at'])
        .where('secret_id', '=', secretId)
        .orderBy('created_at', 'desc')
        .orderBy('version_id')
        .execute();
    },

    async deleteVersions(q: Queryable, secretId: string, versionIds: string[]): Promise<void> {
      if (versionIds.length === 0) return;
      await q.deleteFrom('secret_versions').where('secret_id', '=', secretId).where('version_id', 'in', versionIds).execute();
    },

    async labels(q: Queryable, secretId: string): Promise<LabelRow[]> {
      return labelsQuery(q, { secretId });
    },

    async setLabel(q: Queryable, secretId: string, label: string, versionId: string): Promise<void> {
      await q
        .insertInto('version_labels')
        .values({ secret_id: secretId, label, version_id: versionId })
        .onConflict((oc) => oc.columns(['secret_id', 'label']).doUpdateSet({ version_id: versionId }))
        .execute();
    },

    async removeLabel(q: Queryable, secretId: string, label: string): Promise<void> {
      await q.deleteFrom('version_labels').where('secret_id', '=', secretId).where('label', '=', label).execute();
    },

    async tags(q: Queryable, secretIds: string[]): Promise<Map<string, Record<string, string>>> {
      const result = new Map<string, Record<string, string>>();
      if (secretIds.length === 0) return result;
      const rows = await q.selectFrom('secret_tags').selectAll().where('secret_id', 'in', secretIds).orderBy('key').execute();
      for (const row of rows) {
        const tags = result.get(row.secret_id) ?? {};
        tags[row.key] = row.value;
        result.set(row.secret_id, tags);
      }
      return result;
    },

    async putTags(q: Queryable, secretId: string, tags: Record<string, string>): Promise<void> {
      for (const [key, value] of Object.entries(tags)) {
        await q
          .insertInto('secret_tags')
          .values({ secret_id: secretId, key, value })
          .onConflict((oc) => oc.columns(['secret_id', 'key']).doUpdateSet({ value }))
          .execute();
      }
    },

    async removeTags(q: Queryable, secretId: string, keys: string[]): Promise<void> {
      if (keys.length === 0) return;
      await q.deleteFrom('secret_tags').where('secret_id', '=', secretId).where('key', 'in', keys).execute();
    },

    /** Every secret of a region (ListSecrets filters and sorts these in the service). */
    async listRegion(q: Queryable, region: string, includeDeleted: boolean): Promise<SecretRow[]> {
      let select = q.selectFrom('secrets').selectAll().where('region', '=', region);
      if (!includeDeleted) select = select.where('deleted_at', 'is', null);
      return select.orderBy('created_at').orderBy('name').execute();
    },

    /** Read-only replicas of the primary secret `name` in `primaryRegion`. */
    async findReplicas(q: Queryable, primaryRegion: string, name: string): Promise<SecretRow[]> {
      return q.selectFrom('secrets').selectAll().where('name', '=', name).where('primary_region', '=', primaryRegion).orderBy('region').execute();
    },

    /** Versions with their ciphertext, for copying to replicas. */
    async versionRows(q: Queryable, secretId: string): Promise<VersionRow[]> {
      return q.selectFrom('secret_versions').selectAll().where('secret_id', '=', secretId).execute();
    },

    async clearLabels(q: Queryable, secretId: string): Promise<void> {
      await q.deleteFrom('version_labels').where('secret_id', '=', secretId).execute();
    },

    async clearTags(q: Queryable, secretId: string): Promise<void> {
      await q.deleteFrom('secret_tags').where('secret_id', '=', secretId).execute();
    },

    /** Access times are kept at day granularity (as AWS reports them), so most reads write nothing. */
    async touchAccessed(q: Queryable, secretId: string, day: number): Promise<void> {
      await q.updateTable('secrets').set({ last_accessed_at: day }).where('id', '=', secretId).execute();
    },
  };
}

export type SecretStore = ReturnType<typeof createSecretStore>;

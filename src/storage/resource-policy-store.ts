import type { Queryable } from './schema.js';

/** A stored resource policy with what evaluating it needs to know about its secret. */
export interface ResourcePolicyRow {
  secretId: string;
  name: string;
  region: string;
  arnSuffix: string;
  document: string;
}

/** Queries for AWS resource policies (secret_resource_policies). Each takes the connection or transaction to use. */
export function createResourcePolicyStore() {
  return {
    async find(q: Queryable, secretId: string): Promise<string | undefined> {
      const row = await q.selectFrom('secret_resource_policies').select('document').where('secret_id', '=', secretId).executeTakeFirst();
      return row?.document;
    },

    async put(q: Queryable, secretId: string, document: string, now: number): Promise<void> {
      await q.insertInto('secret_resource_policies').values({ secret_id: secretId, document, updated_at: now })
        .onConflict((c) => c.column('secret_id').doUpdateSet({ document, updated_at: now })).execute();
    },

    async remove(q: Queryable, secretId: string): Promise<void> {
      await q.deleteFrom('secret_resource_policies').where('secret_id', '=', secretId).execute();
    },

    /** Every policy with its secret's name, region and ARN suffix (the table is small: one row per secret that has one). */
    async listAll(q: Queryable): Promise<ResourcePolicyRow[]> {
      const rows = await q.selectFrom('secret_resource_policies as p').innerJoin('secrets as s', 's.id', 'p.secret_id')
        .select(['p.secret_id', 's.name', 's.region', 's.arn_suffix', 'p.document']).execute();
      return rows.map((r) => ({ secretId: r.secret_id, name: r.name, region: r.region, arnSuffix: r.arn_suffix, document: r.document }));
    },
  };
}

export type ResourcePolicyStore = ReturnType<typeof createResourcePolicyStore>;

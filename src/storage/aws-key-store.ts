import type { Insertable, Selectable } from 'kysely';
import type { Database, Queryable } from './schema.js';

export type AwsKeyRow = Selectable<Database['aws_access_keys']>;

/** Queries for SigV4 access keys. */
export function createAwsKeyStore() {
  return {
    async insert(q: Queryable, row: Insertable<Database['aws_access_keys']>): Promise<void> {
      await q.insertInto('aws_access_keys').values(row).execute();
    },
    async find(q: Queryable, accessKeyId: string): Promise<AwsKeyRow | undefined> {
      return q.selectFrom('aws_access_keys').selectAll().where('access_key_id', '=', accessKeyId).executeTakeFirst();
    },
    async list(q: Queryable): Promise<AwsKeyRow[]> {
      return q.selectFrom('aws_access_keys').selectAll().orderBy('created_at').execute();
    },
    async revoke(q: Queryable, accessKeyId: string, at: number): Promise<boolean> {
      const result = await q.updateTable('aws_access_keys').set({ revoked_at: at }).where('access_key_id', '=', accessKeyId).where('revoked_at', 'is', null).executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },
  };
}

export type AwsKeyStore = ReturnType<typeof createAwsKeyStore>;

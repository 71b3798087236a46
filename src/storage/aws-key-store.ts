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
    /** Every key, with its creator's display name when the creator is a token. */
    async list(q: Queryable): Promise<(AwsKeyRow & { creator_name: string | null })[]> {
      return q.selectFrom('aws_access_keys').leftJoin('tokens', 'tokens.accessor', 'aws_access_keys.created_by')
        .selectAll('aws_access_keys').select('tokens.display_name as creator_name').orderBy('aws_access_keys.created_at').execute();
    },
    /** Revokes every key made by one of `creators` (token accessors); returns how many. */
    async revokeCreatedBy(q: Queryable, creators: string[], at: number): Promise<number> {
      if (creators.length === 0) return 0;
      const result = await q.updateTable('aws_access_keys').set({ revoked_at: at }).where('created_by', 'in', creators).where('revoked_at', 'is', null).executeTakeFirst();
      return Number(result.numUpdatedRows);
    },
    async revoke(q: Queryable, accessKeyId: string, at: number): Promise<boolean> {
      const result = await q.updateTable('aws_access_keys').set({ revoked_at: at }).where('access_key_id', '=', accessKeyId).where('revoked_at', 'is', null).executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },
  };
}

export type AwsKeyStore = ReturnType<typeof createAwsKeyStore>;

import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * An AWS access key lives no longer than the token that created it: keys get an expiry, and a
 * key is revoked with its creator's token tree. Keys made before this migration take their
 * creator's expiry and revocation now, so none outlives its creator from here on.
 */
export function awsKeyExpiry(_dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('aws_access_keys').addColumn('expires_at', 'bigint').execute();
      await db.schema.createIndex('aws_keys_by_creator').on('aws_access_keys').column('created_by').execute();
      await sql`update aws_access_keys set expires_at = (select t.expires_at from tokens t where t.accessor = aws_access_keys.created_by)
        where exists (select 1 from tokens t where t.accessor = aws_access_keys.created_by and t.expires_at is not null)`.execute(db);
      await sql`update aws_access_keys set revoked_at = (select t.revoked_at from tokens t where t.accessor = aws_access_keys.created_by)
        where revoked_at is null and exists (select 1 from tokens t where t.accessor = aws_access_keys.created_by and t.revoked_at is not null)`.execute(db);
    },
  };
}

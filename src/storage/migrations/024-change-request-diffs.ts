import type { Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * The metadata diff of a change request (JSON, never a value): what a held create, metadata,
 * tag or rotation change would alter, as approvers review it. Requests made before have none.
 */
export function changeRequestDiffs(_dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('change_requests').addColumn('changes', 'text').execute();
    },
  };
}

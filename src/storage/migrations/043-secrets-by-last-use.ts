import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * The `unused` alert rule counts, per owner, the live secrets not read since a cutoff and names
 * the longest unused. Without an index on when a secret was last used, that read and sorted the
 * whole secrets table (1.8 s at a million secrets on SQLite, blocking the node's only thread).
 * The expression and the condition are the ones the rule's query spells (alert-store.ts).
 */
export function secretsByLastUse(_dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await sql`create index secrets_by_last_use on secrets (owner, coalesce(last_accessed_at, created_at)) where deleted_at is null and primary_region is null`.execute(db);
    },
  };
}

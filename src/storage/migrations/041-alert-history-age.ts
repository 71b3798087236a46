import type { Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * The evaluator's memory (alert_read_counts: reads per principal and hour; alert_access: last read
 * per principal and secret) is pruned once it is older than any rule looks back. Both tables are
 * keyed by principal first, so finding the old rows needs an index by age; without one every
 * prune would read the whole table inside a write.
 */
export function alertHistoryAge(_dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.createIndex('alert_read_counts_by_hour').on('alert_read_counts').columns(['hour_start']).execute();
      await db.schema.createIndex('alert_access_by_last_read').on('alert_access').columns(['last_read_at']).execute();
    },
  };
}

import type { Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * Audit searches by outcome over a time range (`custos audit query --outcome denied --since 30d`)
 * had no index but the one on time alone: over a month of a large log that reads every event of
 * the month to keep the few denied ones. (outcome, time) reads only the matching ones. Searches
 * by secret or principal keep their (secret_name, seq) / (accessor, seq) indexes, which return a
 * page in order without sorting. On PostgreSQL an index on the (partitioned) parent applies to
 * every partition.
 */
export function auditOutcomeIndex(_dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.createIndex('audit_by_outcome_time').on('audit_events').columns(['outcome', 'time']).execute();
    },
  };
}

import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * The condition of the partial indexes below. SQLite uses a partial index only for a query that
 * carries its condition word for word (a bound `outcome = ?` proves nothing to it), so there
 * searches by any other outcome add this term (audit-store.ts); PostgreSQL proves it from the
 * outcome's value.
 */
export const UNSUCCESSFUL = sql<boolean>`outcome <> 'success'`;

/**
 * Searches by outcome together with a principal (`custos audit query --outcome failure
 * --principal acc_…`) read the (outcome, seq) or the (accessor, seq) index and filtered by the
 * other: both filters are weak alone, so with few matches such a search read its whole period
 * (904 ms for a year at 2M events on SQLite). (accessor, outcome, seq) returns exactly the
 * matches, in seq order.
 *
 * Both outcome indexes hold only the events that did not succeed: every index costs every
 * append, and successes are nearly all events (96% of the benchmark's mix) while a search by
 * outcome looks for the others. A search for `success` reads the primary key or the
 * (secret_name, seq) / (accessor, seq) index and keeps nearly every event it reads. So this
 * replaces 038's (outcome, seq) with its partial form, and an append of a success maintains one
 * index fewer than before. On PostgreSQL, an index on the partitioned parent is built on every
 * month partition at the first start-up: allow for it on a large log.
 */
export function auditUnsuccessfulIndexes(_dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await sql`create index audit_unsuccessful_by_accessor on audit_events (accessor, outcome, seq) where ${UNSUCCESSFUL}`.execute(db);
      await sql`create index audit_unsuccessful_by_outcome on audit_events (outcome, seq) where ${UNSUCCESSFUL}`.execute(db);
      await db.schema.dropIndex('audit_by_outcome_seq').ifExists().execute();
    },
  };
}

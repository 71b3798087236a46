import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/** The system_state key of the point from which audit time grows with seq (audit-store.ts). */
export const AUDIT_TIME_ORDER_KEY = 'audit_time_order';

/**
 * From this version on, an appended event is never stamped earlier than the event before it
 * (audit-chain.ts chainRows), so searches bounded by time find their range of seq by an index
 * seek. Events stored before the upgrade may be out of time order (request times, several
 * nodes' clocks): the mark records the last of them and the latest time among them, so a
 * search reaching back before the upgrade still finds every one (it reads them without the seq
 * bound). A store with no events gets no mark (and its snapshot no extra row): all of its log
 * will be in order.
 *
 * Searches by outcome then read (outcome, seq) within that range, in the order they return
 * rows; the (outcome, time) index of 037 had to read a period whole and sort it.
 */
export function auditTimeOrder(_dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await markAuditTimeOrder(db);
      await db.schema.createIndex('audit_by_outcome_seq').on('audit_events').columns(['outcome', 'seq']).execute();
      await db.schema.dropIndex('audit_by_outcome_time').ifExists().execute();
    },
  };
}

/** Records the newest event stored so far and the latest time among them (if any): what follows is in time order. */
export async function markAuditTimeOrder(db: Kysely<any>): Promise<void> {
  const last = await sql<{ seq: number | string | null; time: number | string | null }>`
    select (select max(seq) from audit_events) as seq, (select max(time) from audit_events) as time`.execute(db);
  const row = last.rows[0];
  if (row?.seq === null || row?.seq === undefined) return;
  const value = JSON.stringify({ monotonicAfter: Number(row?.seq ?? 0), maxTimeBefore: row?.time === null || row?.time === undefined ? null : Number(row.time) });
  await db.insertInto('system_state').values({ key: AUDIT_TIME_ORDER_KEY, value }).onConflict((oc) => oc.column('key').doUpdateSet({ value })).execute();
}

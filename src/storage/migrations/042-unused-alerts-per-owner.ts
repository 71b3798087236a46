import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * The `unused` alert rule fires one alert per owner since this migration, instead of one per
 * secret (a store of a million rarely read secrets had hundreds of thousands firing, each sent
 * to every sink). The per-secret alerts still firing are resolved here, without a delivery, and
 * their deliveries not yet sent are cancelled: the per-owner alert that replaces them fires at
 * the evaluator's next unused check and is delivered as usual.
 */
export function unusedAlertsPerOwner(_dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      const now = Date.now();
      const perSecret = (eb: any) => eb.and([eb('rule', '=', 'unused'), eb('status', '=', 'firing'), eb('dedupe_key', 'not like', 'state:unused|%')]);
      await db.updateTable('alert_deliveries').set({ status: 'cancelled', last_error: 'superseded: unused alerts are per owner (migration 042)', updated_at: now })
        .where('status', '=', 'pending').where('alert_id', 'in', db.selectFrom('alerts').select('id').where(perSecret)).execute();
      await db.updateTable('alerts').set({ status: 'resolved', active_key: sql`null`, resolved_at: now }).where(perSecret).execute();
    },
  };
}

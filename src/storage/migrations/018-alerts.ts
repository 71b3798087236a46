import type { Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * Alert engine state. `alert_cursor` is the last audit seq the evaluator consumed, so a
 * restart or a new leader resumes where the old one stopped. `alerts.active_key` holds
 * rule + dedupe key while an alert fires and NULL once resolved; its unique constraint makes
 * "an alert fires once" a database guarantee (NULLs never collide). `alert_access` and
 * `alert_read_counts` are the evaluator's memory (last read per principal and secret, reads
 * per principal per hour) so rules with 7- and 30-day horizons need no scans of the log.
 */
export function alerts(_dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.createTable('alert_cursor')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('seq', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createTable('alerts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('rule', 'text', (c) => c.notNull())
        .addColumn('dedupe_key', 'text', (c) => c.notNull())
        .addColumn('active_key', 'text', (c) => c.unique())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('severity', 'text', (c) => c.notNull())
        .addColumn('principal', 'text')
        .addColumn('secret_name', 'text')
        .addColumn('summary', 'text', (c) => c.notNull())
        .addColumn('facts', 'text', (c) => c.notNull())
        .addColumn('event_seqs', 'text', (c) => c.notNull())
        .addColumn('occurrences', 'integer', (c) => c.notNull())
        .addColumn('fired_at', 'bigint', (c) => c.notNull())
        .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
        .addColumn('resolved_at', 'bigint')
        .addColumn('acked_at', 'bigint')
        .addColumn('acked_by', 'text')
        .execute();
      await db.schema.createIndex('alerts_by_status').on('alerts').columns(['status', 'fired_at']).execute();
      await db.schema.createTable('alert_silences')
        .addColumn('rule', 'text', (c) => c.notNull())
        .addColumn('dedupe_key', 'text', (c) => c.notNull())
        .addColumn('until_at', 'bigint', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('alert_silences_pk', ['rule', 'dedupe_key'])
        .execute();
      await db.schema.createTable('alert_deliveries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('alert_id', 'text', (c) => c.notNull().references('alerts.id').onDelete('cascade'))
        .addColumn('sink', 'text', (c) => c.notNull())
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
        .addColumn('last_error', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('alert_deliveries_due').on('alert_deliveries').columns(['status', 'next_attempt_at']).execute();
      await db.schema.createTable('alert_access')
        .addColumn('principal', 'text', (c) => c.notNull())
        .addColumn('secret_name', 'text', (c) => c.notNull())
        .addColumn('last_read_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('alert_access_pk', ['principal', 'secret_name'])
        .execute();
      await db.schema.createTable('alert_read_counts')
        .addColumn('principal', 'text', (c) => c.notNull())
        .addColumn('hour_start', 'bigint', (c) => c.notNull())
        .addColumn('reads', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('alert_read_counts_pk', ['principal', 'hour_start'])
        .execute();
    },
  };
}

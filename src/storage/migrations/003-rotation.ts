import type { Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * Rotation engine state: one row per rotation run (the persisted four-phase state machine)
 * and one scheduling row per secret with rotation settings. `active_secret_id` is set to the
 * secret id while a run is in flight and NULL afterwards; its unique constraint is the
 * database-level guard for "one rotation at a time per secret" (NULLs never collide, in
 * SQLite and PostgreSQL alike), so two nodes or two requests cannot both start one.
 */
export function rotation(_dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.createTable('rotations')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('secret_id', 'text', (c) => c.notNull().references('secrets.id').onDelete('cascade'))
        .addColumn('secret_name', 'text', (c) => c.notNull())
        .addColumn('active_secret_id', 'text', (c) => c.unique())
        .addColumn('token', 'text', (c) => c.notNull())
        .addColumn('rotator', 'text', (c) => c.notNull())
        .addColumn('trigger', 'text', (c) => c.notNull())
        .addColumn('requested_by', 'text', (c) => c.notNull())
        .addColumn('step', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('error', 'text')
        .addColumn('previous_version_id', 'text')
        .addColumn('owner_node', 'text')
        .addColumn('lease_until', 'bigint')
        .addColumn('next_attempt_at', 'bigint')
        .addColumn('grace_until', 'bigint')
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('finished_at', 'bigint')
        .execute();
      await db.schema.createIndex('rotations_by_secret').on('rotations').columns(['secret_id', 'started_at']).execute();
      await db.schema.createIndex('rotations_by_status').on('rotations').columns(['status', 'next_attempt_at']).execute();
      await db.schema.createTable('rotation_schedules')
        .addColumn('secret_id', 'text', (c) => c.primaryKey().references('secrets.id').onDelete('cascade'))
        .addColumn('next_due_at', 'bigint', (c) => c.notNull())
        .addColumn('overdue_since', 'bigint')
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('rotation_schedules_by_due').on('rotation_schedules').column('next_due_at').execute();
    },
  };
}

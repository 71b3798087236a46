import type { Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * Generic leases: one row per issued credential, stored (never only in memory) with indexes
 * on what the sweeper pages by (state + expiry, state + next attempt). A lease's `data` is the
 * engine's non-secret handle on what it issued (e.g. the database user's name), never a password.
 */
export function leases(_dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.createTable('leases')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('engine', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('env', 'text')
        .addColumn('accessor', 'text')
        .addColumn('data', 'text', (c) => c.notNull())
        // What the lease stands for in the target system (a database user name), for orphan scans.
        .addColumn('handle', 'text')
        .addColumn('issued_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('max_expires_at', 'bigint', (c) => c.notNull())
        .addColumn('renewable', 'integer', (c) => c.notNull())
        // active -> revoking (durable intent) -> revoked; a crash in between leaves `revoking`, retried.
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('revoke_attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'bigint')
        .addColumn('last_error', 'text')
        .addColumn('revoked_at', 'bigint')
        .execute();
      await db.schema.createIndex('leases_state_expiry').on('leases').columns(['state', 'expires_at']).execute();
      await db.schema.createIndex('leases_engine_handle').on('leases').columns(['engine', 'handle']).execute();
      await db.schema.createIndex('leases_state_attempt').on('leases').columns(['state', 'next_attempt_at']).execute();
    },
  };
}

import type { Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * Tamper evidence at both ends of the audit chain: `audit_head` holds the newest event's
 * sequence number and hash, updated in the same transaction as every append, and both it and
 * the retention anchor carry a MAC under the audit key. Deleting the newest events (or the
 * oldest ones and rewriting the anchor) no longer verifies without that key.
 */
export function auditHead(_dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.createTable('audit_head')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('seq', 'bigint', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('mac', 'text', (c) => c.notNull())
        .execute();
      await db.schema.alterTable('audit_anchor').addColumn('mac', 'text').execute();
    },
  };
}

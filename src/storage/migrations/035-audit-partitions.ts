import type { Kysely } from 'kysely';
import type { Dialect } from '../schema.js';
import { partitionAuditEvents } from '../audit-partitions.js';

/**
 * PostgreSQL: audit events in one native partition per month (audit-partitions.ts), so that
 * retention drops whole months. SQLite keeps its one table and prunes in bounded batches.
 */
export function auditPartitions(dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      if (dialect === 'postgres') await partitionAuditEvents(db);
    },
  };
}

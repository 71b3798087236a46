import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * Change requests (separation of duties): a write that a policy says needs approval, held until
 * approved, denied, cancelled or expired. Its operation (the value included) is sealed by the
 * barrier and dropped once the request is closed; approvals are one row per approving identity.
 */
export function changeRequests(dialect: Dialect) {
  const blob = dialect === 'postgres' ? 'bytea' : 'blob';
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.createTable('change_requests')
        .addColumn('id', 'text', (c) => c.primaryKey())
        // pending → approved → applied | failed; pending → denied | cancelled | expired
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('operation', 'text', (c) => c.notNull())
        .addColumn('resource', 'text', (c) => c.notNull())
        .addColumn('summary', 'text', (c) => c.notNull())
        .addColumn('requester_accessor', 'text', (c) => c.notNull())
        // Who counts as the same person: a login role, or the token tree (see approvals/requester.ts)
        .addColumn('requester_key', 'text', (c) => c.notNull())
        .addColumn('requester_name', 'text', (c) => c.notNull())
        // JSON: the requester's policies, group policies and env at request time (no credential)
        .addColumn('requester', 'text', (c) => c.notNull())
        .addColumn('approvers', 'text', (c) => c.notNull())
        .addColumn('min_approvals', 'integer', (c) => c.notNull())
        .addColumn('policy', 'text', (c) => c.notNull())
        .addColumn('payload', sql.raw(blob))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('closed_at', 'bigint')
        .addColumn('closed_by', 'text')
        .addColumn('close_reason', 'text')
        .addColumn('error_code', 'text')
        .addColumn('result', 'text')
        .execute();
      await db.schema.createIndex('change_requests_by_state').on('change_requests').columns(['state', 'created_at']).execute();
      await db.schema.createTable('change_request_approvals')
        .addColumn('request_id', 'text', (c) => c.notNull().references('change_requests.id').onDelete('cascade'))
        .addColumn('approver_key', 'text', (c) => c.notNull())
        .addColumn('approver_accessor', 'text', (c) => c.notNull())
        .addColumn('approver_name', 'text', (c) => c.notNull())
        .addColumn('approved_at', 'bigint', (c) => c.notNull())
        // Two approvals by one identity count once: the key is the identity, not the token.
        .addPrimaryKeyConstraint('change_request_approvals_pk', ['request_id', 'approver_key'])
        .execute();
    },
  };
}

/**
 * Change requests and their approvals. State moves only by conditional updates (`WHERE state =
 * …`), so of two racing approvers, deniers or appliers exactly one wins; the payload column is
 * barrier ciphertext and is cleared whenever a request closes.
 */
import type { Selectable } from 'kysely';
import type { Database, Dialect, Queryable } from './schema.js';

export type ChangeRequestRow = Selectable<Database['change_requests']>;
export type ChangeRequestState = ChangeRequestRow['state'];
export type ApprovalRow = Selectable<Database['change_request_approvals']>;

export function createChangeRequestStore(dialect: Dialect) {
  return {
    async insert(q: Queryable, row: ChangeRequestRow): Promise<void> {
      await q.insertInto('change_requests').values(row).execute();
    },
    /** With `forUpdate` on PostgreSQL the row is locked: approvals of one request are counted one at a time. */
    async find(q: Queryable, id: string, options: { forUpdate?: boolean } = {}): Promise<ChangeRequestRow | undefined> {
      const query = q.selectFrom('change_requests').selectAll().where('id', '=', id);
      return (options.forUpdate && dialect === 'postgres' ? query.forUpdate() : query).executeTakeFirst();
    },
    /** Newest first. */
    async list(q: Queryable, filter: { state?: ChangeRequestState; limit: number }): Promise<ChangeRequestRow[]> {
      let query = q.selectFrom('change_requests').selectAll();
      if (filter.state) query = query.where('state', '=', filter.state);
      return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(filter.limit).execute();
    },
    /** Moves a request from one state to another; false when it was no longer in `from`. */
    async transition(q: Queryable, id: string, from: ChangeRequestState, set: Partial<Omit<ChangeRequestRow, 'id'>>): Promise<boolean> {
      const result = await q.updateTable('change_requests').set(set).where('id', '=', id).where('state', '=', from).executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },
    /** Records an approval; an identity that already approved adds nothing. */
    async addApproval(q: Queryable, row: ApprovalRow): Promise<void> {
      await q.insertInto('change_request_approvals').values(row).onConflict((oc) => oc.columns(['request_id', 'approver_key']).doNothing()).execute();
    },
    async approvals(q: Queryable, requestId: string): Promise<ApprovalRow[]> {
      return q.selectFrom('change_request_approvals').selectAll().where('request_id', '=', requestId).orderBy('approved_at').orderBy('approver_key').execute();
    },
    /** Closes pending requests past their expiry and drops their payloads. */
    async expire(q: Queryable, now: number): Promise<number> {
      const result = await q.updateTable('change_requests').set({ state: 'expired', payload: null, closed_at: now })
        .where('state', '=', 'pending').where('expires_at', '<=', now).executeTakeFirst();
      return Number(result.numUpdatedRows);
    },
  };
}

export type ChangeRequestStore = ReturnType<typeof createChangeRequestStore>;

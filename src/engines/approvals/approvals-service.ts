/**
 * Change requests: separation of duties for writes a policy marks `approval:`. The gate turns
 * such a write into a pending request (its operation sealed by the barrier); other people in the
 * approver groups approve or deny it; on the `min`-th distinct approval the write runs exactly
 * once, as the requester, and its own audit event names the request and the approvers.
 *
 * Exactly once: an approval and the pending → approved transition commit in one transaction
 * (the request row locked on PostgreSQL, the single writer on SQLite), so only the approval that
 * reached `min` goes on; the write then commits in the same transaction as approved → applied
 * (a conditional update in its auditor), so even a second runner could not apply it twice.
 */
import { randomBytes } from 'node:crypto';
import { AppError } from '../../errors/app-error.js';
import type { TransactionAuditor } from '../../lib/audit-scope.js';
import { newRequestId } from '../../lib/ids.js';
import type { Identity } from '../../auth/identity.types.js';
import { approverGroups, type ApprovalRequirement } from '../../policy/approval.js';
import type { AuditEvent } from '../../audit/audit-chain.js';
import type { ChangeRequestRow } from '../../storage/change-request-store.js';
import type { Queryable } from '../../storage/schema.js';
import { transaction } from '../../storage/transaction.js';
import type { ApprovalsServiceDeps, ChangeOperation, ChangeRequestState, ChangeRequestView, MetadataChange } from './approvals.types.js';
import { auditOperationOf, checksOf, execute, summaryOf, validated } from './operations.js';
import { groupsOf, principalOf, requesterIsLive, requesterKeyOf } from './requester.js';
import { changesOf, currentMetadata, withPreconditions } from './review.js';

export const DEFAULT_REQUEST_TTL_MS = 24 * 3600 * 1000;
const PURPOSE = 'change-request';
const ID_PATTERN = /^chr_[A-Za-z0-9_-]{22}$/;
const ADMIN_RESOURCE = 'sys:requests';
const MAX_REASON = 512;

interface RequesterSnapshot { displayName: string; policies: string[]; groupPolicies: string[]; env: string | null }

const firstSegment = (name: string) => name.split('/', 1)[0]!;

export function createApprovalsService(deps: ApprovalsServiceDeps) {
  const { db, store, authorizer, now } = deps;
  const ttlMs = deps.ttlMs ?? DEFAULT_REQUEST_TTL_MS;

  function checkId(id: string): void {
    if (!ID_PATTERN.test(id)) throw new AppError('change_request_not_found', 'no change request has that id');
  }

  async function load(q: Queryable, id: string, forUpdate = false): Promise<ChangeRequestRow> {
    checkId(id);
    const row = await store.find(q, id, { forUpdate });
    if (!row) throw new AppError('change_request_not_found', 'no change request has that id');
    return row;
  }

  async function view(q: Queryable, row: ChangeRequestRow): Promise<ChangeRequestView> {
    const approvals = await store.approvals(q, row.id);
    return {
      id: row.id, state: row.state, operation: row.operation, resource: row.resource, summary: row.summary,
      requester: { accessor: row.requester_accessor, name: row.requester_name }, approvers: JSON.parse(row.approvers) as string[],
      minApprovals: row.min_approvals, approvals: approvals.map((a) => ({ accessor: a.approver_accessor, name: a.approver_name, approvedAt: Number(a.approved_at) })),
      policy: row.policy, createdAt: Number(row.created_at), expiresAt: Number(row.expires_at), closedAt: row.closed_at === null ? null : Number(row.closed_at),
      closedBy: row.closed_by, closeReason: row.close_reason, errorCode: row.error_code, changes: row.changes ? (JSON.parse(row.changes) as MetadataChange[]) : [], result: row.result ? (JSON.parse(row.result) as Record<string, unknown>) : null,
    };
  }

  /** Requests past their expiry close (no audit event: nobody acted); called before any look at requests. */
  const expireDue = () => store.expire(db, now());

  /**
   * Whether the diff may show the secret's current metadata: the requester holds a grant (with
   * approval or not) that shows it anyway — read or list, or rotate for rotation settings.
   */
  async function mayReview(caller: Identity, op: ChangeOperation): Promise<boolean> {
    const capabilities = op.kind.startsWith('rotation.') ? (['read', 'list', 'rotate'] as const) : (['read', 'list'] as const);
    for (const capability of capabilities) if ((await authorizer.decide(caller, capability, op.name)).allowed) return true;
    return false;
  }

  /** Who may see a request: its requester, its approvers (within their env binding), and readers of `sys:requests`. */
  async function maySee(caller: Identity, callerKey: string | null, callerGroups: Set<string>, row: ChangeRequestRow): Promise<boolean> {
    if (callerKey !== null && callerKey === row.requester_key) return true;
    const inEnv = caller.env === null || firstSegment(row.resource) === caller.env;
    if (inEnv && approverGroups({ approvers: JSON.parse(row.approvers) as string[] }).some((g) => callerGroups.has(g))) return true;
    return inEnv && (await authorizer.allows(caller, 'read', ADMIN_RESOURCE));
  }

  async function callerContext(caller: Identity): Promise<{ key: string | null; groups: Set<string> }> {
    const principal = await principalOf(deps, db, caller.accessor);
    return { key: principal?.key ?? null, groups: principal ? await groupsOf(deps, db, principal.row) : new Set() };
  }

  /** An approver (or denier): not the requester, in an approver group, inside its env binding. */
  async function checkApprover(q: Queryable, caller: Identity, row: ChangeRequestRow): Promise<{ key: string }> {
    if (caller.env !== null && firstSegment(row.resource) !== caller.env) {
      throw new AppError('environment_denied', `permission denied: token is bound to environment "${caller.env}"`);
    }
    const principal = await principalOf(deps, q, caller.accessor);
    if (principal && principal.key === row.requester_key) {
      throw new AppError('self_approval_denied', 'the requester (or a token of the same login or token tree) cannot approve or deny its own request');
    }
    const groups = principal ? await groupsOf(deps, q, principal.row) : new Set<string>();
    const approvers = JSON.parse(row.approvers) as string[];
    if (!principal || !approverGroups({ approvers }).some((g) => groups.has(g))) {
      throw new AppError('not_an_approver', `only a member of ${approvers.join(', ')} may approve or deny this request`);
    }
    return principal;
  }

  function refuseClosed(row: ChangeRequestRow): void {
    if (row.state === 'expired') throw new AppError('change_request_expired', `change request ${row.id} expired`);
    if (row.state !== 'pending') throw new AppError('change_request_closed', `change request ${row.id} is ${row.state}`, { details: { state: row.state } });
  }

  /**
   * The second step of a two-step operation failed after the first committed (and with it
   * approved → applied): the request stays applied, its result and an audit event say what is missing.
   */
  async function incomplete(id: string, event: AuditEvent, appError: AppError | null, error: unknown): Promise<void> {
    const code = appError?.code ?? 'internal_error';
    const status = appError?.status ?? 500;
    await transaction(db, undefined, async (tx) => {
      const result = JSON.stringify({ version_id: event.versionId, ...event.detail, incomplete: code });
      await store.transition(tx, id, 'applied', { result });
      await deps.auditLog.appendWithin(tx, { ...event, requestId: newRequestId(), time: now(), outcome: status === 401 || status === 403 ? 'denied' : 'failure', errorCode: code, status, detail: { ...event.detail, incomplete: true } });
    });
    if (!appError) throw error;
  }

  /** Runs the approved operation as the requester; the write and approved → applied commit together. */
  async function apply(id: string): Promise<void> {
    const row = await load(db, id);
    const approvals = await store.approvals(db, id);
    const approvedBy = approvals.map((a) => a.approver_accessor).join(',');
    const at = now();
    const event: AuditEvent = {
      time: at, requestId: newRequestId(), accessor: row.requester_accessor, source: null, operation: row.operation, secretName: row.resource,
      versionId: null, outcome: 'success', errorCode: null, status: 200, latencyUs: 0,
      detail: { change_request: id, approved_by: approvedBy, approvals: approvals.length },
    };
    const fail = async (code: string, status: number) => {
      await transaction(db, undefined, async (tx) => {
        if (await store.transition(tx, id, 'approved', { state: 'failed', payload: null, closed_at: now(), error_code: code })) {
          await deps.auditLog.appendWithin(tx, { ...event, outcome: status === 401 || status === 403 ? 'denied' : 'failure', errorCode: code, status });
        }
      });
    };
    // A revoked requester is a withdrawn (or compromised) one: nothing runs on its behalf.
    if (!(await requesterIsLive(deps, db, row.requester_accessor))) return fail('token_revoked', 401);
    if (row.state !== 'approved') return; // applied (or closed) by another approver meanwhile
    let op: ChangeOperation;
    try {
      op = JSON.parse((await deps.barrier.decryptSystemValue(PURPOSE, id, row.payload!)).toString('utf8')) as ChangeOperation;
    } catch (error) {
      await fail('internal_error', 500);
      throw error;
    }
    const snapshot = JSON.parse(row.requester) as RequesterSnapshot;
    let written = false;
    const auditor: TransactionAuditor = {
      async beforeCommit(tx) {
        if (written) return;
        const result = JSON.stringify({ version_id: event.versionId, ...event.detail });
        if (!(await store.transition(tx as Queryable, id, 'approved', { state: 'applied', payload: null, closed_at: now(), result }))) {
          throw new AppError('change_request_closed', `change request ${id} was applied or closed meanwhile`);
        }
        await deps.auditLog.appendWithin(tx as Queryable, event);
        written = true;
      },
      annotate(fields) {
        if (fields.operation !== undefined) event.operation = fields.operation;
        if (fields.versionId !== undefined) event.versionId = fields.versionId;
        if (fields.detail) event.detail = { ...event.detail, ...fields.detail };
      },
    };
    const requester: Identity = {
      accessor: row.requester_accessor, displayName: snapshot.displayName, policies: snapshot.policies, env: snapshot.env, isRoot: false, expiresAt: null,
      ...(snapshot.groupPolicies.length ? { groupPolicies: snapshot.groupPolicies } : {}), approvedChange: { requestId: id }, audit: auditor,
    };
    event.operation = auditOperationOf(op);
    try {
      const outcome = await execute(deps, requester, op);
      // An operation that turned out to change nothing (cancelling a schedule that is not set) still closes its request, once.
      if (!written) await transaction(db, auditor, async () => {});
      // What only the whole operation knows (a rotation's run started after its settings committed).
      await store.transition(db, id, 'applied', { result: JSON.stringify({ version_id: event.versionId, ...event.detail, ...outcome }) });
    } catch (error) {
      const appError = error instanceof AppError ? error : null;
      if (written) return incomplete(id, event, appError, error);
      await fail(appError?.code ?? 'internal_error', appError?.status ?? 500);
      if (!appError) throw error;
    }
  }

  return {
    /**
     * The gate in front of a write: when policy grants it only with approval (and the caller gave
     * no break-glass reason), the write is held as a new pending request and not carried out.
     * Null means "go ahead": no approval needed, or a refusal the engine itself will give.
     */
    async gate(caller: Identity, op: ChangeOperation): Promise<ChangeRequestView | null> {
      if (caller.isRoot || caller.approvedChange || caller.breakGlassReason !== undefined) return null;
      let requirement: ApprovalRequirement | undefined;
      for (const check of checksOf(op)) {
        const decision = await authorizer.decide(caller, check.capability, check.resource);
        if (!decision.allowed) return null;
        requirement ??= decision.approval;
      }
      if (!requirement) return null;
      op = await withPreconditions(deps, db, validated(op));
      const requesterKey = await requesterKeyOf(deps, db, caller.accessor);
      if (!requesterKey) throw new AppError('approval_required', `"${op.name}" needs approval, and only a token or access key can request it`);
      const id = `chr_${randomBytes(16).toString('base64url')}`;
      const changes = changesOf(op, op.kind === 'secret.create' ? null : (await mayReview(caller, op)) ? await currentMetadata(deps, db, op) : undefined);
      const at = now();
      const snapshot: RequesterSnapshot = { displayName: caller.displayName, policies: caller.policies, groupPolicies: caller.groupPolicies ?? [], env: caller.env };
      const row: ChangeRequestRow = {
        id, state: 'pending', operation: op.kind, resource: op.name, summary: summaryOf(op), requester_accessor: caller.accessor, requester_key: requesterKey,
        requester_name: caller.displayName, requester: JSON.stringify(snapshot), approvers: JSON.stringify(requirement.approvers), min_approvals: requirement.min,
        policy: `${requirement.policy}:${requirement.rule}`, payload: deps.barrier.encryptSystemValue(PURPOSE, id, Buffer.from(JSON.stringify(op))),
        created_at: at, expires_at: at + ttlMs, closed_at: null, closed_by: null, close_reason: null, error_code: null, result: null, changes: JSON.stringify(changes),
      };
      caller.audit?.annotate({ detail: { change_request: id, approval_required: true, approval_policy: requirement.policy } });
      await transaction(db, caller.audit, (tx) => store.insert(tx, row));
      return view(db, row);
    },

    /** Requests the caller may see (its own, those it may approve, all with `read` on `sys:requests`), newest first. */
    async list(caller: Identity, filter: { state?: ChangeRequestState; limit?: number } = {}): Promise<ChangeRequestView[]> {
      await expireDue();
      const limit = Math.min(Math.max(filter.limit ?? 100, 1), 500);
      const context = await callerContext(caller);
      const out: ChangeRequestView[] = [];
      for (const row of await store.list(db, { state: filter.state, limit: 1000 })) {
        if (out.length >= limit) break;
        if (await maySee(caller, context.key, context.groups, row)) out.push(await view(db, row));
      }
      return out;
    },

    async show(caller: Identity, id: string): Promise<ChangeRequestView> {
      await expireDue();
      const row = await load(db, id);
      const context = await callerContext(caller);
      // A request the caller may not see is reported as missing: ids do not confirm existence.
      if (!(await maySee(caller, context.key, context.groups, row))) throw new AppError('change_request_not_found', 'no change request has that id');
      return view(db, row);
    },

    /** Adds the caller's approval; the `min`-th distinct approval carries the write out (exactly once). */
    async approve(caller: Identity, id: string): Promise<ChangeRequestView> {
      await expireDue();
      caller.audit?.annotate({ detail: { change_request: id } });
      const ready = await transaction(db, caller.audit, async (tx) => {
        const row = await load(tx, id, true);
        // Approved but not applied (the server stopped in between): any approver may run it again;
        // the write commits only with approved → applied, so it still happens once.
        if (row.state === 'approved') return (await checkApprover(tx, caller, row)) !== null;
        refuseClosed(row);
        const approver = await checkApprover(tx, caller, row);
        await store.addApproval(tx, { request_id: id, approver_key: approver.key, approver_accessor: caller.accessor, approver_name: caller.displayName, approved_at: now() });
        const count = (await store.approvals(tx, id)).length;
        caller.audit?.annotate({ detail: { resource: row.resource, approvals: count, min_approvals: row.min_approvals } });
        return count >= row.min_approvals && (await store.transition(tx, id, 'pending', { state: 'approved' }));
      });
      if (ready) await apply(id);
      return view(db, await load(db, id));
    },

    async deny(caller: Identity, id: string, reason?: string): Promise<ChangeRequestView> {
      await expireDue();
      caller.audit?.annotate({ detail: { change_request: id } });
      await transaction(db, caller.audit, async (tx) => {
        const row = await load(tx, id, true);
        refuseClosed(row);
        await checkApprover(tx, caller, row);
        await store.transition(tx, id, 'pending', { state: 'denied', payload: null, closed_at: now(), closed_by: caller.accessor, close_reason: reason?.slice(0, MAX_REASON) ?? null });
      });
      return view(db, await load(db, id));
    },

    /** The requester withdraws its own request (or a holder of `delete` on `sys:requests` clears it). */
    async cancel(caller: Identity, id: string, reason?: string): Promise<ChangeRequestView> {
      await expireDue();
      caller.audit?.annotate({ detail: { change_request: id } });
      const context = await callerContext(caller);
      // Permission first, outside the transaction (policy lookups must not wait on its connection).
      const seen = await load(db, id);
      if (context.key !== seen.requester_key) {
        if (!(await maySee(caller, context.key, context.groups, seen))) throw new AppError('change_request_not_found', 'no change request has that id');
        await authorizer.require(caller, 'delete', ADMIN_RESOURCE);
      }
      await transaction(db, caller.audit, async (tx) => {
        const row = await load(tx, id, true);
        refuseClosed(row);
        await store.transition(tx, id, 'pending', { state: 'cancelled', payload: null, closed_at: now(), closed_by: caller.accessor, close_reason: reason?.slice(0, MAX_REASON) ?? null });
      });
      return view(db, await load(db, id));
    },

    /** Closes expired requests (maintenance; lookups do it too). */
    expireDue,
  };
}

export type ApprovalsService = ReturnType<typeof createApprovalsService>;

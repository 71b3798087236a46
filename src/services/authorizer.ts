import type { Kysely } from 'kysely';
import { AppError } from '../errors/app-error.js';
import { evaluate, mayAccessUnder, type Capability, type Decision, type PolicyDocument, type Principal } from '../policy/policy.js';
import { parsePolicyDocument } from '../policy/policy-document.js';
import type { ApprovalRequirement } from '../policy/approval.js';
import type { ChangeBus } from '../lib/change-bus.js';
import type { PolicyStore } from '../storage/policy-store.js';
import type { Database } from '../storage/schema.js';
import type { Identity } from '../auth/identity.types.js';
import type { ResourceDecision } from '../policy/resource-policy.js';

export interface AuthorizerDeps {
  db: Kysely<Database>;
  policyStore: PolicyStore;
  changes: ChangeBus;
  /**
   * AWS resource policies attached to secrets: an explicit Deny there denies, an Allow there
   * grants what the identity's own policies do not (its environment binding still applies).
   */
  resourcePolicies?: { decide(identity: Identity, capability: Capability, name: string): ResourceDecision | Promise<ResourceDecision> };
}

/**
 * Loads an identity's policy documents (cached, invalidated on change) and asks the pure
 * evaluator. Services call `require` for every operation they perform.
 */
export function createAuthorizer({ db, policyStore, changes, resourcePolicies }: AuthorizerDeps) {
  const cache = new Map<string, PolicyDocument | null>();
  changes.subscribe((topic, key) => {
    // '*' means notifications may have been missed (another node's bus reconnected): drop all.
    if (topic === 'policy') key === '*' ? cache.clear() : cache.delete(key);
  });

  async function principalOf(identity: Identity): Promise<Principal> {
    if (identity.isRoot) return { policies: [], env: identity.env, isRoot: true };
    // A token's effective policies: its own plus those of its groups.
    const names = identity.groupPolicies?.length ? [...identity.policies, ...identity.groupPolicies] : identity.policies;
    const missing = names.filter((name) => !cache.has(name));
    if (missing.length > 0) {
      const rows = await policyStore.findMany(db, missing);
      for (const name of missing) {
        const row = rows.find((r) => r.name === name);
        // A policy that was deleted simply grants nothing.
        cache.set(name, row ? parsePolicyDocument(row.name, row.document) : null);
      }
    }
    const policies = names.map((name) => cache.get(name)).filter((p): p is PolicyDocument => !!p);
    return { policies, env: identity.env, isRoot: false };
  }

  /**
   * The secret's resource policy decision (never for `sys:` resources, which are not secrets).
   * Synchronous when the policies are in memory: the read path adds no await.
   */
  function resourceDecision(identity: Identity, capability: Capability, resource: string): ResourceDecision | Promise<ResourceDecision> {
    if (!resourcePolicies || resource.startsWith('sys:')) return null;
    return resourcePolicies.decide(identity, capability, resource);
  }

  const withinEnv = (identity: Identity, resource: string) => identity.env === null || resource.split('/', 1)[0] === identity.env;

  /**
   * A grant that needs approval holds only for the change-request engine carrying out an approved
   * request, or with a break-glass reason where every matching rule allows it. Break-glass needs a
   * write's auditor: its alert rides on the request's own audit event, so without one it is refused.
   */
  function passApproval(identity: Identity, capability: Capability, resource: string, approval: ApprovalRequirement): void {
    if (identity.approvedChange) return;
    const where = { approval_policy: approval.policy, approval_rule: approval.rule };
    const reason = identity.breakGlassReason;
    if (reason === undefined) {
      throw new AppError('approval_required', `"${capability}" on "${resource}" needs approval by ${approval.min} of ${approval.approvers.join(', ')}`, {
        details: { approvers: approval.approvers, min: approval.min, break_glass: approval.breakGlass }, auditDetail: where,
      });
    }
    if (!approval.breakGlass || !identity.audit) {
      throw new AppError('break_glass_not_allowed', `no rule allows break-glass for "${capability}" on "${resource}"`, { auditDetail: { ...where, break_glass_reason: reason } });
    }
    identity.audit.annotate({ detail: { alert: 'break_glass', break_glass: true, break_glass_reason: reason, ...where } });
  }

  return {
    /**
     * Throws `permission_denied` (or `environment_denied`) unless the identity may do this. Which
     * policy and rule denied is told only to a caller who may read that policy (or list policies,
     * for a default deny): to anyone else it maps the policies out. The audit event keeps it.
     */
    async require(identity: Identity, capability: Capability, resource: string): Promise<void> {
      const pending = resourceDecision(identity, capability, resource);
      const byResource = pending instanceof Promise ? await pending : pending;
      const principal = await principalOf(identity);
      if (byResource === 'deny') {
        // Named only to a caller who could read the policy itself (GetResourcePolicy needs `list`).
        const reason = `the secret's resource policy denies ${capability}`;
        const message = evaluate(principal, 'list', resource).allowed ? `permission denied: ${reason}` : `permission denied: "${capability}" on "${resource}"`;
        throw new AppError('permission_denied', message, { auditDetail: { deny_reason: reason } });
      }
      const decision = evaluate(principal, capability, resource);
      if (decision.allowed && decision.approval) return passApproval(identity, capability, resource, decision.approval);
      if (decision.allowed || (byResource === 'allow' && withinEnv(identity, resource))) return;
      // The binding is the caller's own, and says nothing of any policy.
      if (identity.env !== null && decision.reason.startsWith('token is bound to environment')) {
        throw new AppError('environment_denied', `permission denied: ${decision.reason}`);
      }
      const mayReadPolicies = decision.policy !== undefined
        ? evaluate(principal, 'read', `sys:policies/${decision.policy}`).allowed
        : evaluate(principal, 'list', 'sys:policies').allowed;
      const message = mayReadPolicies ? `permission denied: ${decision.reason}` : `permission denied: "${capability}" on "${resource}"`;
      throw new AppError('permission_denied', message, { auditDetail: { deny_reason: decision.reason } });
    },
    async allows(identity: Identity, capability: Capability, resource: string): Promise<boolean> {
      const pending = resourceDecision(identity, capability, resource);
      const byResource = pending instanceof Promise ? await pending : pending;
      if (byResource === 'deny') return false;
      const decision = evaluate(await principalOf(identity), capability, resource);
      // A grant that needs approval is not a grant for a yes/no question (listing, filtering).
      if (decision.allowed && decision.approval) return identity.approvedChange !== undefined;
      return decision.allowed || (byResource === 'allow' && withinEnv(identity, resource));
    },
    /** The policy decision itself, approval requirement included (the change-request gate reads it). */
    async decide(identity: Identity, capability: Capability, resource: string): Promise<Decision> {
      return evaluate(await principalOf(identity), capability, resource);
    },
    /**
     * Refuses policy names that name no policy (a typo would otherwise grant nothing, silently),
     * unless the caller says it will write them later (`allowMissing`). `root` is built in.
     */
    async requireKnownPolicies(names: readonly string[], allowMissing = false): Promise<void> {
      if (allowMissing) return;
      const wanted = names.filter((n) => n !== 'root');
      if (wanted.length === 0) return;
      const found = new Set((await policyStore.findMany(db, [...wanted])).map((r) => r.name));
      const missing = wanted.filter((n) => !found.has(n));
      if (missing.length > 0) {
        throw new AppError('policy_not_found', `no such policy: ${missing.join(', ')} (write it first, or pass allow_missing_policies / --allow-missing-policy)`, { details: { missing } });
      }
    },
    async mayAccessUnder(identity: Identity, capability: Capability, prefix: string): Promise<boolean> {
      return mayAccessUnder(await principalOf(identity), capability, prefix);
    },
  };
}

export type Authorizer = ReturnType<typeof createAuthorizer>;

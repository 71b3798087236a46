import type { Kysely } from 'kysely';
import { AppError } from '../../errors/app-error.js';
import type { ChangeBus } from '../../lib/change-bus.js';
import type { Capability } from '../../policy/policy.js';
import {
  decide, grantedCapabilities, isPublic, parseResourcePolicy, principalArn, validateResourcePolicy, type ResourceDecision, type ResourcePolicy,
} from '../../policy/resource-policy.js';
import type { ResourcePolicyStore } from '../../storage/resource-policy-store.js';
import type { Database } from '../../storage/schema.js';
import type { SecretRow, SecretStore } from '../../storage/secret-store.js';
import { transaction } from '../../storage/transaction.js';
import type { Authorizer } from '../../services/authorizer.js';
import type { Identity } from '../../auth/identity.types.js';
import type { SecretRef } from './secrets-service.js';
import { validateSecretName } from './secret-rules.js';

/**
 * AWS resource policies on secrets (Put/Get/Delete/ValidateResourcePolicy): stored one per
 * secret, and evaluated by the authorizer for every caller that is not root, on both APIs.
 */

/** Change-bus key (topic `policy`) announcing that some secret's resource policy changed. */
const CHANGE_KEY = 'resource-policy:';

/** Fails closed: a stored document the parser no longer accepts denies everything to everyone but root. */
const DENY_ALL: ResourcePolicy = { statements: [{ effect: 'Deny', principals: ['*'], actions: ['*'], resources: ['*'], conditional: false }] };

export interface ResourcePolicyIndexDeps {
  db: Kysely<Database>;
  store: ResourcePolicyStore;
  changes: ChangeBus;
  accountId: string;
}

/**
 * Every resource policy in memory, keyed by secret name, for the authorizer. It is reloaded after
 * any resource-policy change and, while any policy exists, after any secret change (a deleted
 * secret's policy goes with it). With no policy at all a decision costs two property reads.
 */
export function createResourcePolicyIndex({ db, store, changes, accountId }: ResourcePolicyIndexDeps) {
  let byName: Map<string, { arn: string; policy: ResourcePolicy }[]> | null = null;
  let generation = 0;
  const invalidate = () => {
    generation += 1;
    byName = null;
  };
  changes.subscribe((topic, key) => {
    if (topic === 'policy' && (key === '*' || key.startsWith(CHANGE_KEY))) invalidate();
    else if (topic === 'secret' && (byName === null || byName.size > 0)) invalidate();
  });

  async function load(): Promise<Map<string, { arn: string; policy: ResourcePolicy }[]>> {
    const started = generation;
    const map = new Map<string, { arn: string; policy: ResourcePolicy }[]>();
    for (const row of await store.listAll(db)) {
      let policy: ResourcePolicy;
      try {
        policy = parseResourcePolicy(row.document);
      } catch {
        policy = DENY_ALL;
      }
      const arn = `arn:aws:secretsmanager:${row.region}:${accountId}:secret:${row.name}-${row.arnSuffix}`;
      map.set(row.name, [...(map.get(row.name) ?? []), { arn, policy }]);
    }
    // A change that arrived while loading may not be in what was read: use it once, keep nothing.
    if (started === generation) byName = map;
    return map;
  }

  function decideIn(map: Map<string, { arn: string; policy: ResourcePolicy }[]>, identity: Identity, capability: Capability, name: string): ResourceDecision {
    const entries = map.get(name);
    if (!entries) return null;
    const principal = principalArn(accountId, identity.accessor);
    let result: ResourceDecision = null;
    for (const { arn, policy } of entries) {
      const d = decide(policy, { accountId, principal, capability, secretArn: arn });
      if (d === 'deny') return 'deny';
      if (d === 'allow') result = 'allow';
    }
    return result;
  }

  return {
    /**
     * What the resource policies on secret `name` (in any region: replicas share their primary's)
     * decide for this identity. Root identities are not subject to resource policies. Synchronous
     * when the index is loaded, so the read path pays no extra await.
     */
    decide(identity: Identity, capability: Capability, name: string): ResourceDecision | Promise<ResourceDecision> {
      if (identity.isRoot) return null;
      if (byName !== null) return byName.size === 0 ? null : decideIn(byName, identity, capability, name);
      return load().then((map) => decideIn(map, identity, capability, name));
    },
  };
}

export type ResourcePolicyIndex = ReturnType<typeof createResourcePolicyIndex>;

export interface ResourcePolicyServiceDeps {
  db: Kysely<Database>;
  secretStore: SecretStore;
  store: ResourcePolicyStore;
  authorizer: Authorizer;
  changes: ChangeBus;
  /** The region of a ref that names none (the native API's). */
  region: string;
  arnOf: (row: Pick<SecretRow, 'region' | 'name' | 'arn_suffix'>) => string;
  now: () => number;
}

export function createResourcePolicyService(deps: ResourcePolicyServiceDeps) {
  const { db, secretStore, store, authorizer } = deps;

  async function rowOf(q: Parameters<SecretStore['findByName']>[0], ref: SecretRef, forUpdate = false): Promise<SecretRow> {
    const row = await secretStore.findByName(q, ref.region ?? deps.region, ref.name, { forUpdate });
    if (!row) throw new AppError('secret_not_found', `secret "${ref.name}" not found`);
    return row;
  }

  /** An approved change request applies only over the document its approvers reviewed. */
  async function unchangedSince(q: Parameters<SecretStore['findByName']>[0], row: SecretRow, expected: string | null | undefined): Promise<void> {
    if (expected === undefined) return;
    if (((await store.find(q, row.id)) ?? null) !== expected) {
      throw new AppError('resource_policy_changed', `the resource policy of "${row.name}" changed after the change request was made`);
    }
  }

  function writable(row: SecretRow): void {
    if (row.deleted_at !== null) throw new AppError('secret_scheduled_for_deletion', `secret "${row.name}" is scheduled for deletion; restore it first`);
    if (row.primary_region !== null) {
      throw new AppError('invalid_request', `secret "${row.name}" is a read-only replica of ${row.primary_region}`, { details: { primary_region: row.primary_region } });
    }
  }

  /**
   * `require`, or with `approvable` also a grant that needs approval: validating a document
   * changes nothing, so a caller who could request the change may check it first.
   */
  async function requireGrant(caller: Identity, capability: Capability, name: string, approvable: boolean): Promise<void> {
    if (approvable && (await authorizer.decide(caller, capability, name)).allowed) return;
    await authorizer.require(caller, capability, name);
  }

  /** Parses and checks a document for `caller`: it may only grant capabilities it holds itself. */
  async function checked(caller: Identity, name: string, document: string, blockPublic: boolean, approvable = false): Promise<void> {
    const policy = parseResourcePolicy(document);
    if (blockPublic && isPublic(policy)) {
      throw new AppError('invalid_policy', 'BlockPublicPolicy is set and the policy allows access to every principal ("*")', { details: { reason: 'public' } });
    }
    for (const capability of grantedCapabilities(policy)) await requireGrant(caller, capability, name, approvable);
  }

  return {
    /** The secret's policy document (a replica answers with its primary's), or null. Needs `read` or `list`. */
    async get(caller: Identity, ref: SecretRef): Promise<{ arn: string; name: string; document: string | null }> {
      validateSecretName(ref.name);
      if (!(await authorizer.allows(caller, 'read', ref.name))) await authorizer.require(caller, 'list', ref.name);
      const row = await rowOf(db, ref);
      const holder = row.primary_region === null ? row : await secretStore.findByName(db, row.primary_region, row.name);
      const document = holder ? ((await store.find(db, holder.id)) ?? null) : null;
      return { arn: deps.arnOf(row), name: row.name, document };
    },

    /** Attaches (or replaces) the secret's policy. Needs `update`, plus every capability an Allow in it grants. */
    async put(caller: Identity, ref: SecretRef, document: string, blockPublic = false, expected?: string | null): Promise<{ arn: string; name: string }> {
      validateSecretName(ref.name);
      await authorizer.require(caller, 'update', ref.name);
      await checked(caller, ref.name, document, blockPublic);
      const row = await transaction(db, caller.audit, async (tx) => {
        const row = await rowOf(tx, ref, true);
        writable(row);
        await unchangedSince(tx, row, expected);
        await store.put(tx, row.id, document, deps.now());
        return row;
      });
      deps.changes.publish('policy', CHANGE_KEY + row.id);
      return { arn: deps.arnOf(row), name: row.name };
    },

    /** Removes the secret's policy (none attached is not an error). Needs `update`. */
    async remove(caller: Identity, ref: SecretRef, expected?: string | null): Promise<{ arn: string; name: string }> {
      validateSecretName(ref.name);
      await authorizer.require(caller, 'update', ref.name);
      const row = await transaction(db, caller.audit, async (tx) => {
        const row = await rowOf(tx, ref, true);
        writable(row);
        await unchangedSince(tx, row, expected);
        await store.remove(tx, row.id);
        return row;
      });
      deps.changes.publish('policy', CHANGE_KEY + row.id);
      return { arn: deps.arnOf(row), name: row.name };
    },

    /** ValidateResourcePolicy: syntax and public access; with a secret, also what the caller may grant on it. */
    async validate(caller: Identity, ref: SecretRef | undefined, document: string): Promise<{ CheckName: string; ErrorMessage: string }[]> {
      const errors = validateResourcePolicy(document);
      if (!ref) return errors;
      validateSecretName(ref.name);
      await requireGrant(caller, 'update', ref.name, true);
      await rowOf(db, ref);
      if (errors.length === 0) {
        try {
          await checked(caller, ref.name, document, false, true);
        } catch (error) {
          if (!(error instanceof AppError) || (error.code !== 'permission_denied' && error.code !== 'environment_denied')) throw error;
          errors.push({ CheckName: 'GRANT_CHECK', ErrorMessage: 'The policy allows actions the caller may not perform on this secret itself.' });
        }
      }
      return errors;
    },
  };
}

export type ResourcePolicyService = ReturnType<typeof createResourcePolicyService>;

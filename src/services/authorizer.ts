import type { Kysely } from 'kysely';
import { AppError } from '../errors/app-error.js';
import { evaluate, mayAccessUnder, parsePolicyDocument, type Capability, type PolicyDocument, type Principal } from '../policy/policy.js';
import type { ChangeBus } from '../lib/change-bus.js';
import type { PolicyStore } from '../storage/policy-store.js';
import type { Database } from '../storage/schema.js';
import type { Identity } from './identity.types.js';

export interface AuthorizerDeps {
  db: Kysely<Database>;
  policyStore: PolicyStore;
  changes: ChangeBus;
}

/**
 * Loads an identity's policy documents (cached, invalidated on change) and asks the pure
 * evaluator. Services call `require` for every operation they perform.
 */
export function createAuthorizer({ db, policyStore, changes }: AuthorizerDeps) {
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

  return {
    /** Throws `permission_denied` (or `environment_denied`) unless the identity may do this. */
    async require(identity: Identity, capability: Capability, resource: string): Promise<void> {
      const decision = evaluate(await principalOf(identity), capability, resource);
      if (!decision.allowed) {
        const envDenied = identity.env !== null && decision.reason.startsWith('token is bound to environment');
        throw new AppError(envDenied ? 'environment_denied' : 'permission_denied', `permission denied: ${decision.reason}`);
      }
    },
    async allows(identity: Identity, capability: Capability, resource: string): Promise<boolean> {
      return evaluate(await principalOf(identity), capability, resource).allowed;
    },
    async mayAccessUnder(identity: Identity, capability: Capability, prefix: string): Promise<boolean> {
      return mayAccessUnder(await principalOf(identity), capability, prefix);
    },
  };
}

export type Authorizer = ReturnType<typeof createAuthorizer>;

import type { Kysely } from 'kysely';
import { transaction } from '../storage/transaction.js';
import { AppError } from '../errors/app-error.js';
import type { ChangeBus } from '../lib/change-bus.js';
import { type PolicyDocument } from '../policy/policy.js';
import { parsePolicyDocument, validatePolicyName } from '../policy/policy-document.js';
import type { PolicyStore } from '../storage/policy-store.js';
import type { Database } from '../storage/schema.js';
import type { Authorizer } from './authorizer.js';
import type { Identity } from '../auth/identity.types.js';

export interface StoredPolicy {
  name: string;
  /** The document as written (YAML or JSON), so `policy read` returns what was written. */
  document: string;
  rules: PolicyDocument['rules'];
  createdAt: number;
  updatedAt: number;
}

export function createPolicyService(deps: { db: Kysely<Database>; policyStore: PolicyStore; authorizer: Authorizer; changes: ChangeBus; now: () => number }) {
  const { db, policyStore, authorizer } = deps;
  const resource = (name: string) => `sys:policies/${name}`;

  return {
    async write(caller: Identity, name: string, document: string): Promise<StoredPolicy> {
      validatePolicyName(name);
      await authorizer.require(caller, 'update', resource(name));
      const parsed = parsePolicyDocument(name, document);
      const at = deps.now();
      await transaction(db, caller.audit, (tx) => policyStore.upsert(tx, name, document, at));
      deps.changes.publish('policy', name);
      const row = (await policyStore.find(db, name))!;
      return { name, document, rules: parsed.rules, createdAt: row.created_at, updatedAt: row.updated_at };
    },
    async read(caller: Identity, name: string): Promise<StoredPolicy> {
      validatePolicyName(name);
      await authorizer.require(caller, 'read', resource(name));
      const row = await policyStore.find(db, name);
      if (!row) throw new AppError('policy_not_found', `policy "${name}" not found`);
      return { name, document: row.document, rules: parsePolicyDocument(name, row.document).rules, createdAt: row.created_at, updatedAt: row.updated_at };
    },
    async list(caller: Identity): Promise<string[]> {
      await authorizer.require(caller, 'list', 'sys:policies');
      return (await policyStore.list(db)).map((r) => r.name);
    },
    async remove(caller: Identity, name: string): Promise<void> {
      validatePolicyName(name);
      await authorizer.require(caller, 'delete', resource(name));
      if (!(await transaction(db, caller.audit, (tx) => policyStore.remove(tx, name)))) throw new AppError('policy_not_found', `policy "${name}" not found`);
      deps.changes.publish('policy', name);
    },
  };
}

export type PolicyService = ReturnType<typeof createPolicyService>;

import { requireHeldPolicies } from '../../policy/grants.js';
import type { Kysely } from 'kysely';
import { AppError } from '../../errors/app-error.js';
import type { ChangeBus } from '../../lib/change-bus.js';
import { validatePolicyName } from '../../policy/policy-document.js';
import type { GroupMemberRow, GroupStore } from '../../storage/group-store.js';
import type { Database } from '../../storage/schema.js';
import { transaction } from '../../storage/transaction.js';
import type { Authorizer } from '../../services/authorizer.js';
import type { Identity } from '../identity.types.js';

export type MemberKind = GroupMemberRow['kind'];

export interface GroupInfo {
  name: string;
  policies: string[];
  description: string | null;
  members: { kind: MemberKind; value: string; addedBy: string; addedAt: number }[];
  updatedAt: number;
}

export interface GroupServiceDeps {
  db: Kysely<Database>;
  store: GroupStore;
  authorizer: Authorizer;
  changes: ChangeBus;
  now: () => number;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const ROLE_MEMBER = /^[a-z0-9][a-z0-9_-]{0,63}\/[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$/;
const ACCESSOR_MEMBER = /^acc_[A-Za-z0-9_-]{16}$/;
const AWS_KEY_MEMBER = /^AKCU[A-Z2-7]{16}$/;
const MEMBER_PATTERNS: Record<MemberKind, RegExp> = { role: ROLE_MEMBER, accessor: ACCESSOR_MEMBER, aws_key: AWS_KEY_MEMBER };
const resource = (name: string) => `sys:groups/${name}`;

function checkName(name: string): void {
  if (!NAME.test(name)) throw new AppError('validation_failed', 'a group name is 1-64 characters of A-Z a-z 0-9 _ . - starting with a letter or digit');
}

/**
 * Groups: named sets of policies. Members are auth roles (`<mount>/<role>`: every token that
 * role's logins issue) or single tokens (by accessor). A token's effective policies are its own
 * plus its groups'; the env binding still comes first, so a group never lifts it. Only someone
 * holding every policy of a group may shape it or its membership (no self-promotion).
 */
export function createGroupService(deps: GroupServiceDeps) {
  const { db, store, authorizer, now } = deps;
  // (role|accessor) -> policies, dropped on any group change; a second at most across nodes.
  const cache = new Map<string, { policies: string[]; at: number }>();
  deps.changes.subscribe((topic) => {
    if (topic === 'group') cache.clear();
  });

  // Changing a group hands its policies to every member: only a holder of all of them may.
  const holdsAll = (caller: Identity, policies: string[]) => requireHeldPolicies(caller, policies, 'a group');

  async function load(name: string): Promise<GroupInfo> {
    const row = await store.find(db, name);
    if (!row) throw new AppError('group_not_found', `no group "${name}"`);
    const members = await store.members(db, name);
    return {
      name: row.name, policies: JSON.parse(row.policies) as string[], description: row.description, updatedAt: row.updated_at,
      members: members.map((m) => ({ kind: m.kind, value: m.value, addedBy: m.added_by, addedAt: m.added_at })),
    };
  }

  const changed = () => deps.changes.publish('group', '*');

  return {
    /** Creates or replaces a group's policies. */
    async write(caller: Identity, name: string, input: { policies: string[]; description?: string }): Promise<GroupInfo> {
      checkName(name);
      await authorizer.require(caller, 'update', resource(name));
      if (input.policies.length === 0) throw new AppError('validation_failed', 'a group needs at least one policy');
      for (const p of input.policies) validatePolicyName(p);
      holdsAll(caller, input.policies);
      const existing = await store.find(db, name);
      if (existing) holdsAll(caller, JSON.parse(existing.policies) as string[]);
      const at = now();
      caller.audit?.annotate({ detail: { group: name } });
      await transaction(db, caller.audit, (tx) => store.upsert(tx, {
        name, policies: JSON.stringify(input.policies), description: input.description?.slice(0, 256) ?? null, created_at: existing?.created_at ?? at, updated_at: at,
      }));
      changed();
      return load(name);
    },

    async read(caller: Identity, name: string): Promise<GroupInfo> {
      checkName(name);
      await authorizer.require(caller, 'read', resource(name));
      return load(name);
    },

    /** The groups the caller may read. */
    async list(caller: Identity): Promise<GroupInfo[]> {
      if (!(await authorizer.mayAccessUnder(caller, 'read', 'sys:groups/'))) throw new AppError('permission_denied', 'permission denied: no policy grants "read" on groups');
      const out: GroupInfo[] = [];
      for (const row of await store.list(db)) if (await authorizer.allows(caller, 'read', resource(row.name))) out.push(await load(row.name));
      return out;
    },

    async remove(caller: Identity, name: string): Promise<void> {
      checkName(name);
      await authorizer.require(caller, 'delete', resource(name));
      const group = await load(name);
      holdsAll(caller, group.policies);
      caller.audit?.annotate({ detail: { group: name } });
      await transaction(db, caller.audit, (tx) => store.remove(tx, name));
      changed();
    },

    async addMember(caller: Identity, name: string, kind: MemberKind, value: string): Promise<GroupInfo> {
      checkName(name);
      await authorizer.require(caller, 'update', resource(name));
      if (!Object.hasOwn(MEMBER_PATTERNS, kind) || !MEMBER_PATTERNS[kind].test(value)) {
        throw new AppError('validation_failed', 'a member is a role "<mount>/<role>", a token accessor "acc_…" or an AWS access key id "AKCU…"');
      }
      const group = await load(name);
      holdsAll(caller, group.policies);
      caller.audit?.annotate({ detail: { group: name, member_kind: kind, member: value } });
      await transaction(db, caller.audit, (tx) => store.addMember(tx, { group_name: name, kind, value, added_by: caller.accessor, added_at: now() }));
      changed();
      return load(name);
    },

    async removeMember(caller: Identity, name: string, kind: MemberKind, value: string): Promise<GroupInfo> {
      checkName(name);
      await authorizer.require(caller, 'update', resource(name));
      const group = await load(name);
      holdsAll(caller, group.policies);
      caller.audit?.annotate({ detail: { group: name, member_kind: kind, member: value } });
      const removed = await transaction(db, caller.audit, (tx) => store.removeMember(tx, name, kind, value));
      if (!removed) throw new AppError('group_member_not_found', `"${value}" is not a member of "${name}"`);
      changed();
      return load(name);
    },

    /** Policies a token gets through its groups (by its auth role and its accessor); cached a second. */
    async policiesOf(token: { accessor: string; authMount: string | null; authRole: string | null }): Promise<string[]> {
      const role = token.authMount && token.authRole ? `${token.authMount}/${token.authRole}` : null;
      return cachedPolicies([{ kind: 'accessor', value: token.accessor }, ...(role ? [{ kind: 'role' as const, value: role }] : [])]);
    },

    /** Policies an AWS access key gets through its groups, so boto3 on a worker has the role's least privilege. */
    async policiesOfAwsKey(accessKeyId: string): Promise<string[]> {
      return cachedPolicies([{ kind: 'aws_key', value: accessKeyId }]);
    },
  };

  async function cachedPolicies(members: { kind: MemberKind; value: string }[]): Promise<string[]> {
      const key = members.map((m) => `${m.kind}:${m.value}`).join('|');
      const hit = cache.get(key);
      if (hit && now() - hit.at < 1000) return hit.policies;
      const rows = await store.groupsOf(db, members);
      const policies = [...new Set(rows.flatMap((r) => JSON.parse(r.policies) as string[]))];
      if (cache.size > 10_000) cache.clear();
      cache.set(key, { policies, at: now() });
      return policies;
  }
}

export type GroupService = ReturnType<typeof createGroupService>;

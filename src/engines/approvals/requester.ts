/**
 * Who counts as "the same person" for separation of duties, and which groups an approver is in.
 *
 * A token and every token below it in its tree are one requester: whoever holds a parent can mint
 * children at will. Tokens issued by one auth role's logins (an AppRole role, a JWT role, a
 * userpass user) are one requester too: two logins of the same role are not two people. So the
 * key of a token is its topmost non-root ancestor's login role (`role:<mount>/<role>`) when it
 * has one, else that ancestor's accessor (`token:<accessor>`). Tokens the root token minted
 * directly are separate people (root is the operator who hands them out, not one of them).
 */
import type { Queryable } from '../../storage/schema.js';
import type { TokenRow } from '../../storage/token-store.js';
import type { ApprovalsServiceDeps } from './approvals.types.js';

const MAX_DEPTH = 64;
const AWS_PREFIX = 'aws:';

export interface Principal {
  key: string;
  row: TokenRow;
}

/**
 * The key of whoever made a request: a token's as above; an AWS access key's is its creating
 * token's (whoever holds that token can mint such keys), or the key itself when root made it.
 */
export async function requesterKeyOf(deps: Pick<ApprovalsServiceDeps, 'tokenStore' | 'awsKeyStore'>, q: Queryable, accessor: string): Promise<string | null> {
  if (!accessor.startsWith(AWS_PREFIX)) return (await principalOf(deps, q, accessor))?.key ?? null;
  const key = await deps.awsKeyStore.find(q, accessor.slice(AWS_PREFIX.length));
  if (!key) return null;
  const creator = key.created_by ? await principalOf(deps, q, key.created_by) : null;
  return creator && creator.row.is_root !== 1 ? creator.key : `awskey:${key.access_key_id}`;
}

/** Whether the requester can still act: not revoked (an expired token still counts: approvals take time). */
export async function requesterIsLive(deps: Pick<ApprovalsServiceDeps, 'tokenStore' | 'awsKeyStore'>, q: Queryable, accessor: string): Promise<boolean> {
  const row = accessor.startsWith(AWS_PREFIX) ? await deps.awsKeyStore.find(q, accessor.slice(AWS_PREFIX.length)) : await deps.tokenStore.findByAccessor(q, accessor);
  return row !== undefined && row.revoked_at === null;
}

/** A token's key and row (approvers are always tokens: approving is a native API call). */
export async function principalOf(deps: Pick<ApprovalsServiceDeps, 'tokenStore'>, q: Queryable, accessor: string): Promise<Principal | null> {
  const row = await deps.tokenStore.findByAccessor(q, accessor);
  if (!row) return null;
  let top = row;
  for (let depth = 0; depth < MAX_DEPTH && top.parent_accessor; depth++) {
    const parent = await deps.tokenStore.findByAccessor(q, top.parent_accessor);
    if (!parent || parent.is_root === 1) break;
    top = parent;
  }
  const key = top.auth_mount && top.auth_role ? `role:${top.auth_mount}/${top.auth_role}` : `token:${top.accessor}`;
  return { key, row };
}

/** The groups a token is in: by its own accessor and by the auth role that issued it. */
export async function groupsOf(deps: Pick<ApprovalsServiceDeps, 'groupStore'>, q: Queryable, row: TokenRow): Promise<Set<string>> {
  const members: { kind: 'role' | 'accessor'; value: string }[] = [{ kind: 'accessor', value: row.accessor }];
  if (row.auth_mount && row.auth_role) members.push({ kind: 'role', value: `${row.auth_mount}/${row.auth_role}` });
  return new Set((await deps.groupStore.groupsOf(q, members)).map((g) => g.name));
}

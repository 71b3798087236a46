import { createAuthClient, type RoleResponse } from '../../sdk/auth-client.js';
import { apiClient, printJson, printTable } from '../context.js';
import { loginWith, readCredentialFile } from './auth.js';

const authApi = () => createAuthClient(apiClient());

interface RoleOptions {
  mount: string; policy: string[]; env?: string; tokenTtl?: string; tokenMaxTtl?: string; tokenBoundCidr?: string[];
  secretIdTtl?: string; secretIdNumUses?: string; secretIdBoundCidr?: string[]; json?: boolean;
}

function printRole(r: RoleResponse): void {
  printTable(['KEY', 'VALUE'], Object.entries(r).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : v === null ? null : String(v)]));
}

export async function createCommand(name: string, o: RoleOptions): Promise<void> {
  const role = await authApi().writeRole(o.mount, name, {
    policies: o.policy, env: o.env, token_ttl: o.tokenTtl, token_max_ttl: o.tokenMaxTtl, token_bound_cidrs: o.tokenBoundCidr,
    secret_id_ttl: o.secretIdTtl, secret_id_num_uses: o.secretIdNumUses === undefined ? undefined : Number(o.secretIdNumUses), secret_id_bound_cidrs: o.secretIdBoundCidr,
  });
  if (o.json) return printJson(role);
  printRole(role);
}
export async function readCommand(name: string, o: { mount: string; json?: boolean }): Promise<void> {
  const role = await authApi().readRole(o.mount, name);
  if (o.json) return printJson(role);
  printRole(role);
}
export async function listCommand(o: { mount: string; json?: boolean }): Promise<void> {
  const { roles } = await authApi().listRoles(o.mount);
  if (o.json) return printJson(roles);
  printTable(['ROLE', 'POLICIES', 'ENV', 'TOKEN TTL', 'SECRET ID TTL', 'USES'], roles.map((r) => [r.name, r.policies.join(','), r.env, r.token_ttl, String(r.secret_id_ttl), String(r.secret_id_num_uses)]));
}
export async function deleteCommand(name: string, o: { mount: string; json?: boolean }): Promise<void> {
  await authApi().deleteRole(o.mount, name);
  if (o.json) return printJson({ mount: o.mount, deleted: name });
  process.stdout.write(`deleted role ${name}\n`);
}

/** Prints the secret id once (or, with --wrap-ttl, a single-use wrapping token for it). */
export async function secretIdCreateCommand(role: string, o: { mount: string; ttl?: string; numUses?: string; cidr?: string[]; wrapTtl?: string; json?: boolean }): Promise<void> {
  const result = await authApi().createSecretId(o.mount, role, { ttl: o.ttl, num_uses: o.numUses === undefined ? undefined : Number(o.numUses), cidrs: o.cidr }, o.wrapTtl);
  if (o.json) return printJson(result);
  if ('wrap_info' in result) {
    process.stdout.write(result.wrap_info.token + '\n');
    process.stderr.write(`wrapping token (single use, expires ${result.wrap_info.expires_at}); the receiver runs: custos login approle --role-id … --secret-id-file FILE\n`);
    return;
  }
  process.stdout.write(result.secret_id + '\n');
  process.stderr.write(`secret_id_accessor ${result.secret_id_accessor}${result.expires_at ? `, expires ${result.expires_at}` : ''}${result.uses_remaining ? `, ${result.uses_remaining} use(s)` : ''}; shown only now\n`);
}
export async function secretIdListCommand(role: string, o: { mount: string; json?: boolean }): Promise<void> {
  const { secret_ids: ids } = await authApi().listSecretIds(o.mount, role);
  if (o.json) return printJson(ids);
  printTable(['ACCESSOR', 'CREATED', 'EXPIRES', 'USES LEFT', 'REVOKED'], ids.map((s) => [s.secret_id_accessor, s.created_at, s.expires_at, s.uses_remaining, String(s.revoked)]));
}
export async function secretIdRevokeCommand(role: string, accessor: string, o: { mount: string; json?: boolean }): Promise<void> {
  await authApi().revokeSecretId(o.mount, role, accessor);
  if (o.json) return printJson({ role, revoked: accessor });
  process.stdout.write(`revoked ${accessor}\n`);
}

export async function loginCommand(o: { mount: string; roleId: string; secretIdFile: string; json?: boolean }): Promise<void> {
  const secretId = await readCredentialFile(o.secretIdFile, 'secret_id');
  await loginWith(o.mount, { role_id: o.roleId, secret_id: secretId }, o.json);
}

/**
 * Typed calls for auth methods, AppRole secret ids and response wrapping, on top of the
 * native API client. Like the rest of the SDK it depends on nothing of the server.
 */
import type { ApiClient, TokenResponse } from './api-client.js';

export interface MountResponse { path: string; type: string; description: string | null; config: Record<string, unknown>; created_at: string }
export interface RoleResponse { mount: string; name: string; type: string; role_id?: string; policies: string[]; env: string | null; token_ttl: number; token_max_ttl: number; token_bound_cidrs: string[]; [field: string]: unknown }
export interface SecretIdResponse { secret_id_accessor: string; created_by: string; created_at: string; expires_at: string | null; uses_remaining: number | null; cidrs: string[]; revoked: boolean }
export interface LoginResponse extends TokenResponse { token: string; method: string; mount: string; role: string }
export interface GroupResponse { name: string; policies: string[]; description: string | null; updated_at: string; members: { kind: 'role' | 'accessor' | 'aws_key'; value: string; added_by: string; added_at: string }[] }
export interface WrapInfo { token: string; accessor: string; ttl: number; creation_time: string; expires_at: string; creation_path: string }

const seg = encodeURIComponent;
/** `X-Custos-Wrap-TTL`: the response comes back as a single-use wrapping token instead. */
const wrapHeader = (wrapTtl?: string): Record<string, string> | undefined => (wrapTtl ? { 'x-custos-wrap-ttl': wrapTtl } : undefined);

export function createAuthClient(api: Pick<ApiClient, 'request'>) {
  const call = api.request;
  return {
    listMounts: () => call<{ mounts: MountResponse[] }>('GET', '/v1/sys/auth'),
    enableMount: (path: string, input: { type: string; description?: string; config?: Record<string, unknown> }) => call<MountResponse>('POST', `/v1/sys/auth/${seg(path)}`, input),
    configureMount: (path: string, config: Record<string, unknown>) => call<MountResponse>('PUT', `/v1/sys/auth/${seg(path)}/config`, config),
    readMount: (path: string) => call<MountResponse>('GET', `/v1/sys/auth/${seg(path)}`),
    disableMount: (path: string) => call<{ disabled: string; revoked_tokens: number }>('DELETE', `/v1/sys/auth/${seg(path)}`),

    writeRole: (mount: string, name: string, role: Record<string, unknown>) => call<RoleResponse>('PUT', `/v1/auth/${seg(mount)}/role/${seg(name)}`, role),
    readRole: (mount: string, name: string) => call<RoleResponse>('GET', `/v1/auth/${seg(mount)}/role/${seg(name)}`),
    listRoles: (mount: string) => call<{ roles: RoleResponse[] }>('GET', `/v1/auth/${seg(mount)}/role`),
    deleteRole: (mount: string, name: string) => call<{ deleted: string }>('DELETE', `/v1/auth/${seg(mount)}/role/${seg(name)}`),

    roleId: (mount: string, name: string) => call<{ role_id: string }>('GET', `/v1/auth/${seg(mount)}/role/${seg(name)}/role-id`),
    createSecretId: (mount: string, name: string, input: { ttl?: string; num_uses?: number; cidrs?: string[] } = {}, wrapTtl?: string) =>
      call<(SecretIdResponse & { secret_id: string }) | { wrap_info: WrapInfo }>('POST', `/v1/auth/${seg(mount)}/role/${seg(name)}/secret-id`, input, undefined, wrapHeader(wrapTtl)),
    listSecretIds: (mount: string, name: string) => call<{ secret_ids: SecretIdResponse[] }>('GET', `/v1/auth/${seg(mount)}/role/${seg(name)}/secret-id`),
    revokeSecretId: (mount: string, name: string, accessor: string) =>
      call<{ revoked: string }>('POST', `/v1/auth/${seg(mount)}/role/${seg(name)}/secret-id/revoke`, { secret_id_accessor: accessor }),

    /** Anonymous: the body is the credential (AppRole: role_id + secret_id; JWT: role + jwt). */
    login: (mount: string, body: Record<string, unknown>, wrapTtl?: string) => call<LoginResponse>('POST', `/v1/auth/${seg(mount)}/login`, body, undefined, wrapHeader(wrapTtl)),
    /** OIDC's first step: the URL to send the browser to (its `state` comes back to `login` with the code). */
    oidcAuthUrl: (mount: string, input: { role: string; redirect_uri: string }) => call<{ auth_url: string; expires_at: string }>('POST', `/v1/auth/${seg(mount)}/oidc/auth_url`, input),

    listGroups: () => call<{ groups: GroupResponse[] }>('GET', '/v1/groups'),
    readGroup: (name: string) => call<GroupResponse>('GET', `/v1/groups/${seg(name)}`),
    writeGroup: (name: string, input: { policies: string[]; description?: string }) => call<GroupResponse>('PUT', `/v1/groups/${seg(name)}`, input),
    deleteGroup: (name: string) => call<{ deleted: string }>('DELETE', `/v1/groups/${seg(name)}`),
    addGroupMember: (name: string, kind: 'role' | 'accessor' | 'aws_key', value: string) => call<GroupResponse>('POST', `/v1/groups/${seg(name)}/members`, { kind, value }),
    removeGroupMember: (name: string, kind: 'role' | 'accessor' | 'aws_key', value: string) => call<GroupResponse>('POST', `/v1/groups/${seg(name)}/members/remove`, { kind, value }),

    /** Opens a wrapping token once; a second attempt fails with `wrapping_token_used`. */
    unwrap: (token: string) => call<Record<string, unknown>>('POST', '/v1/sys/wrapping/unwrap', { token }),
  };
}

export type AuthClient = ReturnType<typeof createAuthClient>;

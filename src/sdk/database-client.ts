/**
 * Typed calls for dynamic database credentials and leases, on top of the native API client.
 *
 *   const db = createDatabaseClient(createApiClient({ address, token }));
 *   const { username, password, lease_id } = await db.creds('etl-ro');
 *   ...
 *   await db.revokeLease(lease_id);
 */
import type { ApiClient } from './api-client.js';

export interface ConnectionResponse { name: string; plugin: string; admin_secret: string; allowed_roles: string[]; created_at: string; updated_at: string; root_rotated_at: string | null }
export interface DatabaseRoleResponse {
  name: string; connection: string; env: string | null; creation_statements: string[]; revocation_statements: string[]; renew_statements: string[];
  rollback_statements: string[]; username_template: string; password_length: number; default_ttl: number; max_ttl: number; created_at: string; updated_at: string;
}
export interface CredsResponse { username: string; password: string; lease_id: string; lease_duration: number; renewable: boolean; expires_at: string }
export interface LeaseResponse {
  lease_id: string; engine: string; role: string; env: string | null; state: 'active' | 'revoking' | 'revoked'; issued_at: string; expires_at: string;
  max_expires_at: string; renewable: boolean; revoke_attempts: number; next_attempt_at: string | null; last_error: string | null; revoked_at: string | null; lease_duration?: number;
}
export interface RoleInputWire {
  connection: string; creation_statements: string[]; revocation_statements?: string[]; renew_statements?: string[]; rollback_statements?: string[];
  username_template?: string; password_length?: number; default_ttl?: number; max_ttl?: number; env?: string | null;
}

const seg = encodeURIComponent;

export function createDatabaseClient(api: Pick<ApiClient, 'request'>) {
  const call = api.request;
  return {
    configure: (name: string, input: { plugin: string; admin_secret: string; allowed_roles: string[]; verify?: boolean; command?: { path: string; args?: string[]; timeout_seconds?: number } }) => call<ConnectionResponse>('POST', `/v1/database/config/${seg(name)}`, input),
    readConnection: (name: string) => call<ConnectionResponse>('GET', `/v1/database/config/${seg(name)}`),
    listConnections: () => call<{ connections: string[]; next_after: string | null }>('GET', '/v1/database/config'),
    deleteConnection: (name: string) => call<{ deleted: string }>('DELETE', `/v1/database/config/${seg(name)}`),
    writeRole: (name: string, input: RoleInputWire) => call<DatabaseRoleResponse>('POST', `/v1/database/roles/${seg(name)}`, input),
    readRole: (name: string) => call<DatabaseRoleResponse>('GET', `/v1/database/roles/${seg(name)}`),
    listRoles: () => call<{ roles: string[]; next_after: string | null }>('GET', '/v1/database/roles'),
    deleteRole: (name: string) => call<{ deleted: string }>('DELETE', `/v1/database/roles/${seg(name)}`),
    /** A new database user with its lease; revoke the lease when the job ends. */
    creds: (role: string, options: { ttl?: number } = {}) => call<CredsResponse>('POST', `/v1/database/creds/${seg(role)}`, options),
    /** Users that look like issued ones but have no lease; `drop` revokes them. */
    orphans: (name: string, drop = false) => call<{ orphans: { username: string; role: string; dropped?: boolean; error?: string }[] }>('POST', `/v1/database/orphans/${seg(name)}`, { drop }),
    rotateRoot: (name: string) => call<{ name: string; admin_secret_version: string }>('POST', `/v1/database/rotate-root/${seg(name)}`),
    renewLease: (leaseId: string, increment?: number) => call<LeaseResponse>('POST', '/v1/leases/renew', { lease_id: leaseId, increment }),
    revokeLease: (leaseId: string) => call<LeaseResponse>('POST', '/v1/leases/revoke', { lease_id: leaseId }),
    revokePrefix: (prefix: string) => call<{ prefix: string; marked: number }>('POST', '/v1/leases/revoke-prefix', { prefix }),
    lookupLease: (leaseId: string) => call<LeaseResponse>('GET', '/v1/leases/lookup', undefined, { lease_id: leaseId }),
    listLeases: (query: { prefix?: string; after?: string; limit?: number; include_revoked?: boolean } = {}) => call<{ leases: LeaseResponse[]; next_after: string | null }>('GET', '/v1/leases', undefined, query),
  };
}

export type DatabaseClient = ReturnType<typeof createDatabaseClient>;

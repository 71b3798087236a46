/** Shapes shared by the lease manager, the engines that issue leases, and the adapters. */
import type { AuditEvent } from '../audit/audit-chain.js';
import type { LeaseRow } from '../storage/lease-store.js';

export type LeaseState = 'active' | 'revoking' | 'revoked';

/** What an engine knows about one lease: its own non-secret handle (`data`) on what it issued. */
export interface Lease {
  id: string;
  engine: string;
  role: string;
  env: string | null;
  accessor: string | null;
  data: Record<string, string>;
  issuedAt: number;
  expiresAt: number;
  maxExpiresAt: number;
  renewable: boolean;
  state: LeaseState;
  revokeAttempts: number;
  /** When a `revoking` lease is tried (next, after a failure: its backoff); null while active and once revoked. */
  nextAttemptAt: number | null;
  lastError: string | null;
  revokedAt: number | null;
}

/**
 * An engine's side of its leases. `revoke` must be idempotent: it may run again after a crash
 * between the external change and the lease row's update, and what it removes may already be
 * gone (that counts as success).
 */
export interface LeaseRevoker {
  revoke(lease: Lease): Promise<void>;
  /** Called before a renewal is stored, with the new expiry (e.g. to move a database user's VALID UNTIL). */
  renew?(lease: Lease, expiresAt: number): Promise<void>;
  /** The policy resource audit events name (e.g. `database:creds/ROLE`). */
  resourceOf(lease: Lease): string;
  /**
   * What a lease's revocation depends on (e.g. its database connection). When one lease of a
   * group fails in a sweep, the rest of that group in the same sweep wait for the same backoff
   * instead of each trying a target that is down.
   */
  groupOf?(lease: Lease): string;
}

export interface NewLease {
  /** The id's prefix, e.g. `database/creds/ROLE`; a random suffix is appended. */
  prefix: string;
  engine: string;
  role: string;
  env: string | null;
  accessor: string | null;
  data: Record<string, string>;
  /** What the lease stands for in the target system (e.g. a user name), for orphan scans. */
  handle?: string;
  ttlSeconds: number;
  maxTtlSeconds: number;
  renewable: boolean;
}

export type LeaseAudit = (event: AuditEvent) => Promise<void>;

export function leaseOf(row: LeaseRow): Lease {
  return {
    id: row.id, engine: row.engine, role: row.role, env: row.env, accessor: row.accessor, data: JSON.parse(row.data) as Record<string, string>,
    issuedAt: row.issued_at, expiresAt: row.expires_at, maxExpiresAt: row.max_expires_at, renewable: row.renewable === 1,
    state: row.state, revokeAttempts: row.revoke_attempts, nextAttemptAt: row.next_attempt_at, lastError: row.last_error, revokedAt: row.revoked_at,
  };
}

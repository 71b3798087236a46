import type { TransactionAuditor } from '../lib/audit-scope.js';

/** Who is calling, as every service sees it after authentication. */
export interface Identity {
  accessor: string;
  displayName: string;
  policies: string[];
  /** Environment binding: the token can only ever touch secrets under this first segment. */
  env: string | null;
  isRoot: boolean;
  expiresAt: number | null;
  /** Policies the token gets through its groups (never grantable to child tokens). */
  groupPolicies?: string[];
  /** Set by the HTTP layer on mutating requests: writes commit with the request's audit event. */
  audit?: TransactionAuditor;
  /** Set only by the change-request engine while it carries out an approved request as its requester. */
  approvedChange?: { requestId: string };
  /** The caller's emergency reason (X-Custos-Break-Glass): skips an approval rule that allows break-glass. */
  breakGlassReason?: string;
}

/** Identity used by the server's own background work (scheduler, purge). */
export const SYSTEM_IDENTITY: Identity = Object.freeze({
  accessor: 'system',
  displayName: 'system',
  policies: [],
  env: null,
  isRoot: true,
  expiresAt: null,
});

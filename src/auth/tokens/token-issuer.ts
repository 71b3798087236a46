import { newAccessor, newToken } from '../../crypto/tokens.js';
import { AppError } from '../../errors/app-error.js';
import { parseCidrs } from '../../lib/cidr.js';
import { validatePolicyName } from '../../policy/policy-document.js';
import type { TokenRow } from '../../storage/token-store.js';

export const DEFAULT_TOKEN_TTL_SECONDS = 24 * 3600;
export const DEFAULT_TOKEN_MAX_TTL_SECONDS = 32 * 24 * 3600;
export const ENV_PATTERN = /^[A-Za-z0-9_+=.@-]{1,64}$/;

/** What any issuer (a parent token, an auth method's login) decided the new token gets. */
export interface TokenSpec {
  policies: string[];
  ttlSeconds?: number;
  maxTtlSeconds?: number;
  env: string | null;
  displayName?: string;
  /** The token that created this one (revoking it revokes this one); null for logins. */
  parentAccessor: string | null;
  /** The new token never lives past this (its parent's expiry), when set. */
  notAfter: number | null;
  /** Only usable from these CIDR blocks. */
  boundCidrs?: string[];
  /** The auth mount and role of a login. */
  authMount?: string;
  authRole?: string;
}

/**
 * The one place a token row is made: validation of policies, env, TTLs and CIDRs, expiry
 * capping, a fresh token and accessor. Token creation by a parent and every auth method's
 * login go through it, so a login token is exactly as constrained as any other.
 */
export function buildToken(spec: TokenSpec, now: number, hashToken: (token: string) => string): { token: string; row: TokenRow } {
  if (spec.policies.length === 0) throw new AppError('validation_failed', 'a token needs at least one policy');
  for (const name of spec.policies) if (name !== 'root') validatePolicyName(name);
  if (spec.env !== null && !ENV_PATTERN.test(spec.env)) throw new AppError('validation_failed', 'env must be 1-64 characters of A-Za-z0-9_+=.@-');
  const ttl = spec.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
  const maxTtl = spec.maxTtlSeconds ?? Math.max(ttl, DEFAULT_TOKEN_MAX_TTL_SECONDS);
  if (!Number.isInteger(ttl) || ttl < 1 || !Number.isInteger(maxTtl) || maxTtl < ttl) {
    throw new AppError('validation_failed', 'ttl must be a positive number of seconds and max_ttl at least ttl');
  }
  let boundCidrs: string | null = null;
  if (spec.boundCidrs && spec.boundCidrs.length > 0) {
    try {
      boundCidrs = JSON.stringify(parseCidrs(spec.boundCidrs).cidrs);
    } catch (error) {
      throw new AppError('validation_failed', `token_bound_cidrs: ${(error as Error).message}`);
    }
  }
  let expiresAt = now + ttl * 1000;
  let maxExpiresAt = now + maxTtl * 1000;
  if (spec.notAfter !== null) {
    expiresAt = Math.min(expiresAt, spec.notAfter);
    maxExpiresAt = Math.min(maxExpiresAt, spec.notAfter);
  }
  // Report (and renew by) what was granted, not what was asked: whole seconds, never past the cap.
  const grantedTtl = Math.max(1, Math.floor((expiresAt - now) / 1000));
  expiresAt = Math.min(now + grantedTtl * 1000, expiresAt);
  const token = newToken();
  const row: TokenRow = {
    accessor: newAccessor(), token_hash: hashToken(token), parent_accessor: spec.parentAccessor,
    display_name: spec.displayName?.slice(0, 128) || 'token', policies: JSON.stringify(spec.policies), env: spec.env,
    is_root: spec.policies.includes('root') ? 1 : 0, created_at: now, ttl_seconds: grantedTtl, expires_at: expiresAt, max_expires_at: maxExpiresAt,
    revoked_at: null, auth_mount: spec.authMount ?? null, auth_role: spec.authRole ?? null, bound_cidrs: boundCidrs, owns_parent: null,
  };
  return { token, row };
}

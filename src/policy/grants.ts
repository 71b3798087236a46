import { AppError } from '../errors/app-error.js';

/**
 * No privilege widening, in one place: whatever a caller hands out or changes — a child token,
 * an AWS access key, an auth role, a group — carries only policies the caller holds itself.
 * A root identity may grant any policy. (Whether `root` itself may be granted is each issuer's
 * own rule: only root creates root tokens and keys; roles and groups never carry it.)
 */
export function requireHeldPolicies(caller: { isRoot: boolean; policies: readonly string[] }, policies: readonly string[], what: string): void {
  if (caller.isRoot) return;
  const missing = policies.filter((p) => !caller.policies.includes(p));
  if (missing.length > 0) throw new AppError('permission_denied', `${what} can only carry policies the caller holds (not: ${missing.join(', ')})`);
}

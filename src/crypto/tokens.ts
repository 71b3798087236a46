import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Token format: `cst_` + 43 base64url chars (256 bits). The fixed prefix lets
 * secret scanners (gitleaks, GitHub push protection) recognise a leaked token.
 */
export const TOKEN_PREFIX = 'cst_';
export const TOKEN_PATTERN = /^cst_[A-Za-z0-9_-]{43}$/;

export function newToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/** Accessors identify a token in logs and audit without granting anything. */
export function newAccessor(): string {
  return 'acc_' + randomBytes(12).toString('base64url');
}

export function keyedHash(key: Buffer, value: string): string {
  return createHmac('sha256', key).update(value).digest('base64url');
}

export function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

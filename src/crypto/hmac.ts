import { createHmac, createSecretKey, hash, type KeyObject } from 'node:crypto';

/**
 * HMAC-SHA256 for the two per-request MACs on hot paths (the audit hash chain, SigV4
 * verification), through Node's own `createHmac`. A hand-written HMAC over one-shot hashes
 * stood here once; side by side with this one (`npm run bench:ab`, docs/performance.md) it
 * made no measurable difference to requests per second, so the standard implementation won.
 * The key is imported once as a KeyObject, not on every MAC.
 */
export type HmacSha256Key = KeyObject;

export function hmacSha256Key(key: Buffer | string): HmacSha256Key {
  return createSecretKey(typeof key === 'string' ? Buffer.from(key, 'utf8') : key);
}

/** HMAC-SHA256 as lowercase hex. */
export function hmacSha256Hex(key: HmacSha256Key, data: string | Buffer): string {
  return createHmac('sha256', key).update(data).digest('hex');
}

/**
 * Whether two MACs in hex are equal, in time that depends only on their length (it never stops
 * at the first difference). For fixed-length hex strings, where a Buffer round trip would cost more.
 */
export function timingSafeEqualHex(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

/** SHA-256 as hex, one-shot (no Hash object). */
export function sha256Hex(data: string | Buffer): string {
  return hash('sha256', data, 'hex');
}

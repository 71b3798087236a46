/**
 * The transit wire format: `custos:v<N>:<base64>` for ciphertexts, signatures and HMACs. The
 * version says which key version to use; the base64 body is the AEAD output, signature or MAC.
 */
import { AppError } from '../../errors/app-error.js';

const PREFIX = 'custos:v';
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const MAX_VERSION = 2 ** 31 - 1;

export function formatVersioned(version: number, bytes: Buffer): string {
  return `${PREFIX}${version}:${bytes.toString('base64')}`;
}

/** Parses a versioned value; anything malformed is `transit_invalid_ciphertext` (the input is never echoed). */
export function parseVersioned(text: unknown, what = 'ciphertext'): { version: number; bytes: Buffer } {
  if (typeof text !== 'string' || !text.startsWith(PREFIX)) throw new AppError('transit_invalid_ciphertext', `the ${what} is not in the custos:v<N>:<base64> format`);
  const colon = text.indexOf(':', PREFIX.length);
  const digits = colon === -1 ? '' : text.slice(PREFIX.length, colon);
  const body = colon === -1 ? '' : text.slice(colon + 1);
  const version = /^[1-9][0-9]{0,9}$/.test(digits) ? Number(digits) : NaN;
  if (!(version <= MAX_VERSION) || body.length % 4 !== 0 || !BASE64.test(body)) {
    throw new AppError('transit_invalid_ciphertext', `the ${what} is not in the custos:v<N>:<base64> format`);
  }
  return { version, bytes: Buffer.from(body, 'base64') };
}

/**
 * Strict base64 decoding of an input field. Buffer.from skips characters that are not base64,
 * so the decoded length is checked against the one the text must give: any skipped character
 * (or misplaced padding) makes them differ. (Cheaper than a regular expression over every item
 * of a batch; the URL-safe alphabet, which Buffer.from also reads, is accepted.)
 */
export function decodeBase64(value: string, field: string): Buffer {
  const ok = typeof value === 'string' && value.length % 4 === 0;
  const padding = !ok ? 0 : value.endsWith('==') ? 2 : value.endsWith('=') ? 1 : 0;
  const bytes = ok ? Buffer.from(value, 'base64') : undefined;
  if (bytes === undefined || bytes.length !== (value.length / 4) * 3 - padding) throw new AppError('validation_failed', `${field} must be base64`, { details: { field } });
  return bytes;
}

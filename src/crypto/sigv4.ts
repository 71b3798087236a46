import { createHmac } from 'node:crypto';
import { hmacSha256, sha256Hex, type HmacSha256Key } from './hmac.js';

/**
 * AWS Signature Version 4 (header form), as the AWS SDKs, boto3 and the aws CLI compute it.
 * Pure functions: the server recomputes the signature a client sent and compares.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
 */
export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';

export interface SigV4Authorization {
  accessKeyId: string;
  /** yyyymmdd from the credential scope. */
  scopeDate: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

export interface CanonicalInput {
  method: string;
  /** Raw request path as sent (without the query string). */
  path: string;
  /** Raw query string without `?` ('' when none). */
  query: string;
  headers: Record<string, string | string[] | undefined>;
  signedHeaders: string[];
  payloadHash: string;
}

export { sha256Hex };
const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

/** Parses `AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=a;b, Signature=hex`; null when malformed. */
export function parseAuthorization(header: string): SigV4Authorization | null {
  if (!header.startsWith(SIGV4_ALGORITHM + ' ')) return null;
  // Parsed on every AWS request, so plainly: three comma-separated `Name=value` fields.
  let credential: string | undefined;
  let signedHeaders: string | undefined;
  let signature: string | undefined;
  for (const part of header.slice(SIGV4_ALGORITHM.length + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) return null;
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (name === 'Credential') credential = value;
    else if (name === 'SignedHeaders') signedHeaders = value;
    else if (name === 'Signature') signature = value;
  }
  if (!credential || !signedHeaders || !signature || !HEX_SIGNATURE.test(signature)) return null;
  const scope = credential.split('/');
  if (scope.length !== 5 || scope[4] !== 'aws4_request' || !SCOPE_DATE.test(scope[1]!)) return null;
  const [accessKeyId, scopeDate, region, service] = scope as [string, string, string, string];
  if (!accessKeyId || !region || !service) return null;
  return { accessKeyId, scopeDate, region, service, signedHeaders: signedHeaders.toLowerCase().split(';'), signature };
}
const HEX_SIGNATURE = /^[0-9a-f]{64}$/;
const SCOPE_DATE = /^\d{8}$/;

/** RFC 3986 percent-encoding as SigV4 requires (unreserved: A-Z a-z 0-9 - _ . ~). */
export function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, '%20'));
  } catch {
    return value;
  }
}

function canonicalQuery(query: string): string {
  if (!query) return '';
  return query
    .split('&')
    .filter(Boolean)
    .map((pair) => {
      const eq = pair.indexOf('=');
      const key = eq < 0 ? pair : pair.slice(0, eq);
      const value = eq < 0 ? '' : pair.slice(eq + 1);
      return [uriEncode(safeDecode(key)), uriEncode(safeDecode(value))] as const;
    })
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

/** Non-S3 services encode each path segment once more on top of the raw (already encoded) path. */
function canonicalPath(path: string): string {
  if (path === '' || path === '/') return '/';
  return path.split('/').map((segment) => uriEncode(segment)).join('/');
}

const INNER_WHITESPACE = /\s\s|[\t\n\r\f\v]/;

export function canonicalRequest(input: CanonicalInput): string {
  const headerLines = input.signedHeaders.map((name) => {
    const raw = input.headers[name];
    const value = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
    // Sequential spaces fold to one; most values have none, so test before rewriting.
    const trimmed = value.trim();
    return `${name}:${INNER_WHITESPACE.test(trimmed) ? trimmed.replace(/\s+/g, ' ') : trimmed}\n`;
  });
  return [input.method.toUpperCase(), canonicalPath(input.path), canonicalQuery(input.query), headerLines.join(''), input.signedHeaders.join(';'), input.payloadHash].join('\n');
}

export function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return `${SIGV4_ALGORITHM}\n${amzDate}\n${scope}\n${sha256Hex(canonical)}`;
}

export function signingKey(secretAccessKey: string, scopeDate: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac('AWS4' + secretAccessKey, scopeDate), region), service), 'aws4_request');
}

export function signatureOf(key: Buffer, toSign: string): string {
  return signatureBytes(key, toSign).toString('hex');
}

/**
 * The signature as bytes, for a constant-time comparison with the one a client sent. The
 * server passes the signing key already padded (hmacSha256Key), cached with the key.
 */
export function signatureBytes(key: Buffer | HmacSha256Key, toSign: string): Buffer {
  return Buffer.isBuffer(key) ? hmac(key, toSign) : hmacSha256(key, toSign);
}

/** `20260101T120000Z` -> epoch ms; NaN when malformed. */
export function parseAmzDate(value: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return Number.NaN;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}

export function formatAmzDate(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

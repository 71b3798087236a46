import { createHmac } from 'node:crypto';
import { hmacSha256Hex, sha256Hex, type HmacSha256Key } from './hmac.js';

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
  signedHeaders: readonly string[];
  /** signedHeaders joined with ';', when the caller keeps it (it repeats on every request). */
  signedHeaderList?: string;
  payloadHash: string;
  /** How header values are folded: see HeaderFolding (default 'unicode'). */
  folding?: HeaderFolding;
}

/**
 * SigV4 says "trim and fold sequential spaces", and clients read it two ways. 'unicode': any
 * whitespace JavaScript's `\s` knows (the aws-sdk v2, aws4 and most signers). 'space-tab': only
 * spaces and tabs, CR and LF becoming spaces (the JS SDK v3, @smithy/signature-v4). They differ
 * only for a value holding other whitespace, such as a no-break space.
 */
export type HeaderFolding = 'unicode' | 'space-tab';

// Whitespace that the two foldings treat differently.
const FOLDING_SENSITIVE = /[^\S \t\r\n]/;

/** Whether the signed header values hold whitespace on which the two foldings disagree. */
export function foldingMatters(headers: CanonicalInput['headers'], signedHeaders: readonly string[]): boolean {
  for (const name of signedHeaders) {
    const raw = headers[name];
    if (raw !== undefined && FOLDING_SENSITIVE.test(Array.isArray(raw) ? raw.join(',') : raw)) return true;
  }
  return false;
}

const foldSpaceTab = (value: string): string => value.replace(/[\r\n]/g, ' ').replace(/[ \t]+/g, ' ').replace(/^ | $/g, '');

export { sha256Hex };
const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

/** Parses `AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=a;b, Signature=hex`; null when malformed. */
export function parseAuthorization(header: string): SigV4Authorization | null {
  if (!header.startsWith(AUTHORIZATION_PREFIX)) return null;
  // Runs on every AWS request: walks the header once (comma-separated `Name=value` fields, in
  // any order, spaces around them allowed) instead of splitting and trimming copies.
  let credential: string | undefined;
  let signedHeaders: string | undefined;
  let signature: string | undefined;
  let pos = AUTHORIZATION_PREFIX.length;
  while (pos < header.length) {
    while (isSpace(header.charCodeAt(pos))) pos++;
    let end = header.indexOf(',', pos);
    if (end < 0) end = header.length;
    const eq = header.indexOf('=', pos);
    if (eq < 0 || eq > end) return null;
    let nameEnd = eq;
    while (nameEnd > pos && isSpace(header.charCodeAt(nameEnd - 1))) nameEnd--;
    let valueStart = eq + 1;
    while (valueStart < end && isSpace(header.charCodeAt(valueStart))) valueStart++;
    let valueEnd = end;
    while (valueEnd > valueStart && isSpace(header.charCodeAt(valueEnd - 1))) valueEnd--;
    const nameLength = nameEnd - pos;
    if (nameLength === 10 && header.startsWith('Credential', pos)) credential = header.slice(valueStart, valueEnd);
    else if (nameLength === 13 && header.startsWith('SignedHeaders', pos)) signedHeaders = header.slice(valueStart, valueEnd);
    else if (nameLength === 9 && header.startsWith('Signature', pos)) signature = header.slice(valueStart, valueEnd);
    pos = end + 1;
  }
  if (!credential || !signedHeaders || !signature || !HEX_SIGNATURE.test(signature)) return null;
  const scope = credential.split('/');
  if (scope.length !== 5 || scope[4] !== 'aws4_request' || !SCOPE_DATE.test(scope[1]!)) return null;
  const [accessKeyId, scopeDate, region, service] = scope as [string, string, string, string];
  if (!accessKeyId || !region || !service) return null;
  return { accessKeyId, scopeDate, region, service, signedHeaders: signedHeaders.toLowerCase().split(';'), signature };
}
const AUTHORIZATION_PREFIX = SIGV4_ALGORITHM + ' ';

/**
 * Splits a trailing `Signature=<64 hex>` (where every AWS SDK puts it) off an Authorization
 * header. What remains (key id, credential scope, signed header names) is the same on every
 * request a client signs with one key on one day. Null when the signature is elsewhere or not hex.
 */
export function splitTrailingSignature(header: string): { unsigned: string; signature: string } | null {
  const at = header.length - 64;
  if (at < SIGNATURE_FIELD.length || !header.startsWith(SIGNATURE_FIELD, at - SIGNATURE_FIELD.length)) return null;
  const signature = header.slice(at);
  return HEX_SIGNATURE.test(signature) ? { unsigned: header.slice(0, at - SIGNATURE_FIELD.length), signature } : null;
}
export const SIGNATURE_FIELD = 'Signature=';
/** `Signature=` and its 64 hex characters, at the end of an SDK's Authorization header. */
export const SIGNATURE_TAIL_LENGTH = SIGNATURE_FIELD.length + 64;
/** Whether a signature is what SigV4 sends: 64 lowercase hex characters. */
export const isHexSignature = (signature: string): boolean => HEX_SIGNATURE.test(signature);
/** Space or horizontal tab (what separates the Authorization header's fields). */
const isSpace = (c: number) => c === 32 || c === 9;
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

/**
 * Whether SigV4's "trimall" (whitespace runs folded to one space, as the SDKs do with
 * `replace(/\s+/g, ' ')`) changes a trimmed value: two whitespace characters in a row, or any
 * whitespace but a plain space (a lone tab or no-break space becomes a space too).
 */
const INNER_WHITESPACE = /\s\s|[^\S ]/;

export function canonicalRequest(input: CanonicalInput): string {
  // Built by concatenation, not map/join: it runs on every AWS request.
  let headerLines = '';
  for (const name of input.signedHeaders) {
    const raw = input.headers[name];
    const joined = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
    if (input.folding === 'space-tab') {
      headerLines += `${name}:${foldSpaceTab(joined)}\n`;
      continue;
    }
    const value = joined.trim();
    // Sequential spaces fold to one; most values have none, so test before rewriting.
    headerLines += `${name}:${INNER_WHITESPACE.test(value) ? value.replace(/\s+/g, ' ') : value}\n`;
  }
  return `${input.method.toUpperCase()}\n${canonicalPath(input.path)}\n${canonicalQuery(input.query)}\n${headerLines}\n${input.signedHeaderList ?? input.signedHeaders.join(';')}\n${input.payloadHash}`;
}

export function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return `${SIGV4_ALGORITHM}\n${amzDate}\n${scope}\n${sha256Hex(canonical)}`;
}

export function signingKey(secretAccessKey: string, scopeDate: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac('AWS4' + secretAccessKey, scopeDate), region), service), 'aws4_request');
}

/** The signature (lowercase hex) a client sends; the server passes its key already padded (hmacSha256Key), cached per key. */
export function signatureOf(key: Buffer | HmacSha256Key, toSign: string): string {
  return Buffer.isBuffer(key) ? hmac(key, toSign).toString('hex') : hmacSha256Hex(key, toSign);
}

/** `20260101T120000Z` -> epoch ms; NaN when malformed. Digits read in place: it runs on every AWS request. */
export function parseAmzDate(value: string): number {
  if (value.length !== 16 || value.charCodeAt(8) !== 84 /* T */ || value.charCodeAt(15) !== 90 /* Z */) return Number.NaN;
  const digits = (from: number, to: number): number => {
    let n = 0;
    for (let i = from; i < to; i++) {
      const d = value.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return Number.NaN;
      n = n * 10 + d;
    }
    return n;
  };
  return Date.UTC(digits(0, 4), digits(4, 6) - 1, digits(6, 8), digits(9, 11), digits(11, 13), digits(13, 15));
}

export function formatAmzDate(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

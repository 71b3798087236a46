import { requireHeldPolicies } from '../../policy/grants.js';
import { randomBytes } from 'node:crypto';
import { transaction } from '../../storage/transaction.js';
import type { Kysely } from 'kysely';
import {
  canonicalRequest, foldingMatters, formatAmzDate, parseAmzDate, parseAuthorization, sha256Hex, signatureOf, signingKey, splitTrailingSignature, stringToSign, isHexSignature, SIGNATURE_FIELD, SIGNATURE_TAIL_LENGTH, type SigV4Authorization,
} from '../../crypto/sigv4.js';
import { hmacSha256Key, timingSafeEqualHex, type HmacSha256Key } from '../../crypto/hmac.js';
import { AppError } from '../../errors/app-error.js';
import type { ChangeBus } from '../../lib/change-bus.js';
import { validatePolicyName } from '../../policy/policy-document.js';
import type { AwsKeyRow, AwsKeyStore } from '../../storage/aws-key-store.js';
import type { Database } from '../../storage/schema.js';
import type { Authorizer } from '../../services/authorizer.js';
import type { Identity } from '../identity.types.js';

/** AWS allows 5 minutes between the client's clock and the server's. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;
export const SIGV4_SERVICE = 'secretsmanager';
const KEY_ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const KEY_PURPOSE = 'aws-secret-key';
const ENV_PATTERN = /^[A-Za-z0-9_+=.@-]{1,64}$/;
/** The dev-mode key pair local emulators accept; only ever honoured with --dev. */
export const DEV_ACCESS_KEY_ID = 'test';
const DEV_SECRET_ACCESS_KEY = 'test';

/** The parts of an HTTP request SigV4 covers; the adapter copies them out of its framework objects. */
export interface SignedRequest {
  method: string;
  path: string;
  query: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface AwsKeyInfo {
  accessKeyId: string;
  displayName: string;
  policies: string[];
  env: string | null;
  isRoot: boolean;
  createdBy: string;
  /** The creating token's display name (null when the creator is not a token). */
  createdByName: string | null;
  createdAt: number;
  /** Never later than the creator's own expiry; null only for keys of a non-expiring creator without a TTL. */
  expiresAt: number | null;
  revoked: boolean;
}

export interface AwsCredentialsServiceDeps {
  db: Kysely<Database>;
  keyStore: AwsKeyStore;
  barrier: { encryptSystemValue(purpose: string, id: string, plaintext: Buffer): Buffer; decryptSystemValue(purpose: string, id: string, sealed: Buffer): Promise<Buffer> };
  authorizer: Authorizer;
  changes: ChangeBus;
  now: () => number;
  /** --dev only: accept access key `test` / secret `test` as the root identity. */
  devRootKey: boolean;
  /** Policies a key gets through group membership (groups service); none when absent. */
  groupPolicies?: (accessKeyId: string) => Promise<string[]>;
}

const MALFORMED_AUTHORIZATION = 'Authorization header requires Credential, SignedHeaders and Signature parameters (AWS4-HMAC-SHA256).';
const accessorOf = (accessKeyId: string) => `aws:${accessKeyId}`;

/** The fields of an Authorization header besides its signature, parsed once (see parseHeader). */
type ParsedHeader = Omit<SigV4Authorization, 'signature' | 'signedHeaders'> & {
  signedHeaders: readonly string[];
  signedHeaderList: string;
  scope: string;
  /** The signing key derived for this scope, with the secret it was derived from. */
  signing?: { secret: string; key: HmacSha256Key };
};

function toInfo(row: AwsKeyRow & { creator_name?: string | null }): AwsKeyInfo {
  return {
    accessKeyId: row.access_key_id, displayName: row.display_name, policies: JSON.parse(row.policies) as string[], env: row.env,
    isRoot: row.is_root === 1, createdBy: row.created_by, createdByName: row.creator_name ?? null, createdAt: row.created_at,
    expiresAt: row.expires_at, revoked: row.revoked_at !== null,
  };
}

function newAccessKeyId(): string {
  const bytes = randomBytes(16);
  return 'AKCU' + Array.from(bytes, (b) => KEY_ID_CHARS[b & 31]).join('');
}

const DEV_IDENTITY: Identity = Object.freeze({ accessor: accessorOf(DEV_ACCESS_KEY_ID), displayName: 'aws dev root (test/test)', policies: ['root'], env: null, isRoot: true, expiresAt: null });

/**
 * AWS-style access keys bound to an identity (a subset of the creator's policies and its
 * environment binding), and SigV4 verification of requests signed with them.
 */
export function createAwsCredentialsService(deps: AwsCredentialsServiceDeps) {
  const { db, keyStore, barrier, authorizer, now } = deps;
  // access key id -> decrypted secret and identity; short-lived and dropped on any token/key change.
  const cache = new Map<string, { secret: string; identity: Identity; revoked: boolean; cachedAt: number }>();
  // Derived SigV4 signing keys per (secret, day, region): four HMACs saved on every request.
  // Kept padded for HMAC (hmacSha256Key), so each request's MAC is two one-shot hashes.
  const signingKeys = new Map<string, HmacSha256Key>();
  function derivedKey(secret: string, scopeDate: string, region: string): HmacSha256Key {
    const id = `${secret}\n${scopeDate}\n${region}`;
    let key = signingKeys.get(id);
    if (!key) {
      if (signingKeys.size > 10_000) signingKeys.clear();
      key = hmacSha256Key(signingKey(secret, scopeDate, region, SIGV4_SERVICE));
      signingKeys.set(id, key);
    }
    return key;
  }
  // An Authorization header's fields other than its signature repeat on every request a client
  // signs with one key on one day, so their parse is kept (bounded), with the scope string and
  // the signing key derived for them. Only parsing and derivation are saved: every request's
  // signature is still computed from its own date, headers and body and compared in full.
  const parsedHeaders = new Map<string, ParsedHeader>();
  // The last header found or put in that map, tried first: a client's consecutive requests differ
  // only in their signature, and comparing a prefix costs less than hashing the string for the map.
  // The signature taken this way may be any 64 characters; authenticate rejects non-hex ones.
  // The prefix is compared as a slice with ===, not with startsWith: for a prefix this long
  // (about 140 characters), V8's startsWith took 220-470 ns a call against 60-150 ns, and the
  // parse showed as about 1 µs of every AWS read in the server's CPU profile.
  let lastHeader: { unsigned: string; fields: ParsedHeader } | undefined;
  function parseHeader(header: string): { fields: ParsedHeader; signature: string } | null {
    const last = lastHeader;
    const length = last === undefined ? 0 : last.unsigned.length;
    if (last !== undefined && header.length === length + SIGNATURE_TAIL_LENGTH && header.slice(0, length) === last.unsigned && header.startsWith(SIGNATURE_FIELD, length)) {
      return { fields: last.fields, signature: header.slice(header.length - 64) };
    }
    const split = splitTrailingSignature(header);
    const known = split ? parsedHeaders.get(split.unsigned) : undefined;
    if (known && split) {
      lastHeader = { unsigned: split.unsigned, fields: known };
      return { fields: known, signature: split.signature };
    }
    const parsed = parseAuthorization(header);
    if (!parsed) return null;
    const { signature, ...rest } = parsed;
    const fields: ParsedHeader = { ...rest, signedHeaders: Object.freeze(rest.signedHeaders), signedHeaderList: rest.signedHeaders.join(';'), scope: `${rest.scopeDate}/${rest.region}/${rest.service}/aws4_request` };
    if (split) {
      if (parsedHeaders.size >= 10_000) parsedHeaders.clear();
      parsedHeaders.set(split.unsigned, fields);
      lastHeader = { unsigned: split.unsigned, fields };
    }
    return { fields, signature };
  }
  function signingKeyFor(fields: ParsedHeader, secret: string): HmacSha256Key {
    if (fields.signing?.secret !== secret) fields.signing = { secret, key: derivedKey(secret, fields.scopeDate, fields.region) };
    return fields.signing.key;
  }

  const CACHE_MS = 1000;
  deps.changes.subscribe((topic) => {
    if (topic === 'token') {
      cache.clear();
      signingKeys.clear();
      parsedHeaders.clear();
      lastHeader = undefined;
    }
  });

  const DEV_KEY = Object.freeze({ secret: DEV_SECRET_ACCESS_KEY, identity: DEV_IDENTITY, revoked: false });
  /** The key from memory, without a promise (the common case on every request), or undefined. */
  function knownKey(accessKeyId: string): { secret: string; identity: Identity; revoked: boolean } | undefined {
    if (deps.devRootKey && accessKeyId === DEV_ACCESS_KEY_ID) return DEV_KEY;
    const hit = cache.get(accessKeyId);
    return hit && now() - hit.cachedAt <= CACHE_MS ? hit : undefined;
  }

  async function lookup(accessKeyId: string): Promise<{ secret: string; identity: Identity; revoked: boolean } | null> {
    const known = knownKey(accessKeyId);
    if (known) return known;
    const at = now();
    if (!/^AKCU[A-Z2-7]{16}$/.test(accessKeyId)) return null;
    const row = await keyStore.find(db, accessKeyId);
    if (!row) return null;
    const secret = (await barrier.decryptSystemValue(KEY_PURPOSE, row.access_key_id, row.secret_ciphertext)).toString('utf8');
    const identity: Identity = {
      accessor: accessorOf(row.access_key_id), displayName: row.display_name, policies: JSON.parse(row.policies) as string[], env: row.env,
      isRoot: row.is_root === 1, expiresAt: row.expires_at,
    };
    const entry = { secret, identity, revoked: row.revoked_at !== null, cachedAt: at };
    if (cache.size > 10_000) cache.clear();
    cache.set(accessKeyId, entry);
    return entry;
  }

  return {
    /** Whether `test`/`test` is accepted (dev mode only). */
    devRootKeyEnabled: deps.devRootKey,

    /** Issues a key pair for a subset of the caller's policies; the secret key is returned only here. */
    /**
     * A key never outlives its creator: it expires at the creator's expiry at the latest (or
     * earlier with `ttlSeconds`), and revoking the creator's token tree revokes it (see the
     * identity service). Only a non-expiring creator (root) can make a permanent key.
     */
    async create(caller: Identity, input: { policies: string[]; env?: string | null; displayName?: string; ttlSeconds?: number; allowMissingPolicies?: boolean }): Promise<{ secretAccessKey: string; info: AwsKeyInfo }> {
      await authorizer.require(caller, 'create', 'sys:aws-keys');
      if (input.policies.length === 0) throw new AppError('validation_failed', 'an access key needs at least one policy');
      for (const name of input.policies) {
        if (name === 'root') {
          if (!caller.isRoot) throw new AppError('permission_denied', 'only a root identity can create a root access key');
        } else validatePolicyName(name);
      }
      requireHeldPolicies(caller, input.policies, 'an access key');
      await authorizer.requireKnownPolicies(input.policies, input.allowMissingPolicies);
      const env = input.env ?? caller.env;
      if (env !== null && !ENV_PATTERN.test(env)) throw new AppError('validation_failed', 'env must be 1-64 characters of A-Za-z0-9_+=.@-');
      if (caller.env !== null && env !== caller.env) throw new AppError('environment_denied', `an identity bound to "${caller.env}" can only create keys bound to it`);
      if (input.ttlSeconds !== undefined && (!Number.isInteger(input.ttlSeconds) || input.ttlSeconds < 1)) throw new AppError('validation_failed', 'ttl must be a positive number of seconds');
      const at = now();
      const asked = input.ttlSeconds === undefined ? null : at + input.ttlSeconds * 1000;
      const expiresAt = caller.expiresAt === null ? asked : Math.min(asked ?? caller.expiresAt, caller.expiresAt);
      const accessKeyId = newAccessKeyId();
      const secretAccessKey = randomBytes(30).toString('base64').replace(/[+/]/g, (c) => (c === '+' ? 'k' : 'Q'));
      const row: AwsKeyRow = {
        access_key_id: accessKeyId, secret_ciphertext: barrier.encryptSystemValue(KEY_PURPOSE, accessKeyId, Buffer.from(secretAccessKey, 'utf8')),
        display_name: input.displayName?.slice(0, 128) || 'aws-key', policies: JSON.stringify(input.policies), env,
        is_root: input.policies.includes('root') ? 1 : 0, created_by: caller.accessor, created_at: at, revoked_at: null, expires_at: expiresAt,
      };
      caller.audit?.annotate({ detail: { access_key_id: accessKeyId } });
      await transaction(db, caller.audit, (tx) => keyStore.insert(tx, row));
      return { secretAccessKey, info: toInfo({ ...row, creator_name: caller.displayName }) };
    },

    async list(caller: Identity): Promise<AwsKeyInfo[]> {
      await authorizer.require(caller, 'list', 'sys:aws-keys');
      return (await keyStore.list(db)).map(toInfo);
    },

    async revoke(caller: Identity, accessKeyId: string): Promise<void> {
      await authorizer.require(caller, 'delete', 'sys:aws-keys');
      if (!(await keyStore.find(db, accessKeyId))) throw new AppError('access_key_not_found', 'no access key with that id');
      await transaction(db, caller.audit, (tx) => keyStore.revoke(tx, accessKeyId, now()));
      deps.changes.publish('token', accessorOf(accessKeyId));
    },

    /**
     * Verifies a SigV4 header-signed request and returns the identity its key is bound to and
     * the region of its credential scope. Throws the AWS-shaped authentication errors.
     */
    async authenticate(request: SignedRequest): Promise<{ identity: Identity; region: string; accessKeyId: string }> {
      const header = request.headers.authorization;
      if (typeof header !== 'string' || header === '') throw new AppError('missing_signature', 'Missing Authentication Token');
      const parsed = parseHeader(header);
      if (!parsed) throw new AppError('incomplete_signature', MALFORMED_AUTHORIZATION);
      const auth = parsed.fields;
      if (!auth.signedHeaders.includes('host')) throw new AppError('incomplete_signature', "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
      if (auth.service !== SIGV4_SERVICE) throw new AppError('invalid_signature', `Credential should be scoped to correct service: '${SIGV4_SERVICE}'.`);
      const amzDate = (request.headers['x-amz-date'] as string | undefined) ?? '';
      const signedAt = parseAmzDate(amzDate);
      if (Number.isNaN(signedAt)) throw new AppError('incomplete_signature', 'the request needs an X-Amz-Date header (yyyyMMddTHHmmssZ)');
      if (amzDate.slice(0, 8) !== auth.scopeDate) throw new AppError('invalid_signature', 'the credential scope date does not match X-Amz-Date');
      const at = now();
      if (signedAt < at - MAX_CLOCK_SKEW_MS) {
        throw new AppError('signature_expired', `Signature expired: ${amzDate} is now earlier than ${formatAmzDate(at - MAX_CLOCK_SKEW_MS)} (${formatAmzDate(at)} - 5 min.)`);
      }
      if (signedAt > at + MAX_CLOCK_SKEW_MS) {
        throw new AppError('signature_expired', `Signature not yet current: ${amzDate} is still later than ${formatAmzDate(at + MAX_CLOCK_SKEW_MS)} (${formatAmzDate(at)} + 5 min.)`);
      }
      const key = knownKey(auth.accessKeyId) ?? (await lookup(auth.accessKeyId));
      if (!key || key.revoked) throw new AppError('unknown_access_key', 'The security token included in the request is invalid.');
      if (key.identity.expiresAt !== null && key.identity.expiresAt <= at) throw new AppError('access_key_expired', 'The security token included in the request is expired');
      const payloadHash = sha256Hex(request.body);
      const declared = request.headers['x-amz-content-sha256'];
      if (declared !== undefined && declared !== payloadHash) {
        throw new AppError('invalid_signature', 'The provided x-amz-content-sha256 header does not match what was computed.');
      }
      const canonicalInput = { method: request.method, path: request.path, query: request.query, headers: request.headers, signedHeaders: auth.signedHeaders, signedHeaderList: auth.signedHeaderList, payloadHash };
      const signing = signingKeyFor(auth, key.secret);
      const expected = signatureOf(signing, stringToSign(amzDate, auth.scope, canonicalRequest(canonicalInput)));
      // Both are 64 characters, ours lowercase hex, so a constant-time comparison of the text
      // needs no further hashing or decoding. Whether the client's is hex at all is asked only
      // when they differ (see lastHeader): a signature that is not lowercase hex is malformed.
      if (!timingSafeEqualHex(expected, parsed.signature)) {
        if (!isHexSignature(parsed.signature)) throw new AppError('incomplete_signature', MALFORMED_AUTHORIZATION);
        // A header value with a no-break space (or the like) is folded differently by the JS SDK v3.
        const otherFolding = foldingMatters(request.headers, auth.signedHeaders)
          && timingSafeEqualHex(signatureOf(signing, stringToSign(amzDate, auth.scope, canonicalRequest({ ...canonicalInput, folding: 'space-tab' }))), parsed.signature);
        if (!otherFolding) throw new AppError('invalid_signature', 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.');
      }
      if (deps.groupPolicies && !key.identity.isRoot) {
        const extra = await deps.groupPolicies(auth.accessKeyId);
        if (extra.length > 0) return { identity: { ...key.identity, groupPolicies: extra }, region: auth.region, accessKeyId: auth.accessKeyId };
      }
      return { identity: key.identity, region: auth.region, accessKeyId: auth.accessKeyId };
    },
  };
}

export type AwsCredentialsService = ReturnType<typeof createAwsCredentialsService>;

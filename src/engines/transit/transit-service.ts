/**
 * Encryption as a service: `createTransitService(deps)` holds named keys inside the barrier
 * and runs encrypt, decrypt, rewrap, datakey, sign, verify, hmac and verify-hmac on them,
 * each for one item or a batch (each item succeeding or failing on its own, order kept).
 * Key management (create, read, list, rotate, config, trim, delete, export) is key-manager.ts.
 *
 * The service authorizes every call itself on `transit:KEY` (one capability per operation),
 * never sees HTTP, and never puts plaintext, ciphertext or key bytes in an error message.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { AppError } from '../../errors/app-error.js';
import type { Identity } from '../../auth/identity.types.js';
import { checkBatchSize, runEach, type ItemResult } from './batch.js';
import { decodeBase64, formatVersioned, parseVersioned } from './ciphertext.js';
import { createKeyManager } from './key-manager.js';
import {
  aeadDecrypt, aeadEncrypt, deriveKey, HMAC_ALGORITHMS, hmacWith, isAeadType, isSigningType, signWith, verifyWith, type AeadKeyType, type HmacAlgorithm, type SigningKeyType,
} from './key-types.js';
import type { DatakeyItem, DecryptItem, EncryptItem, HmacItem, LoadedKey, LoadedVersion, SignItem, TransitServiceDeps, VerifyHmacItem, VerifyItem } from './transit.types.js';
import { createUsageBudget } from './usage-budget.js';

export interface Encrypted { ciphertext: string; key_version: number }
export interface Datakey extends Encrypted { plaintext?: string }
export interface Signed { signature: string; key_version: number }
export interface Hmaced { hmac: string; key_version: number }
export interface Verified { valid: boolean }
export interface Decrypted { plaintext: string }

const DATAKEY_BITS = new Set([128, 256, 512]);

function operationNotSupported(key: LoadedKey, operation: string): AppError {
  return new AppError('transit_unsupported_operation', `a ${key.type} key does not support ${operation}`);
}

/** The version new ciphertexts/signatures/MACs use: the requested one, or min_encryption_version, or the latest. */
function encryptionVersion(key: LoadedKey, requested: number | undefined): LoadedVersion {
  const r = key.row;
  const version = requested ?? (r.min_encryption_version || r.latest_version);
  const floor = Math.max(r.min_encryption_version, r.min_decryption_version);
  const loaded = key.versions.get(version);
  if (!Number.isInteger(version) || version < floor || version > r.latest_version || !loaded) {
    throw new AppError('transit_version_not_allowed', `version ${version} of transit key "${r.name}" may not be used for new data (allowed: ${floor}-${r.latest_version})`);
  }
  return loaded;
}

/** The version an existing ciphertext/signature/MAC names, if it may still be opened or checked. */
function decryptionVersion(key: LoadedKey, version: number): LoadedVersion {
  const r = key.row;
  const loaded = key.versions.get(version);
  if (version < r.min_decryption_version || version > r.latest_version || !loaded) {
    throw new AppError('transit_version_not_allowed', `version ${version} of transit key "${r.name}" is below min_decryption_version (${r.min_decryption_version}), trimmed or unknown`);
  }
  return loaded;
}

/** The symmetric key for one item: the version's material, or its HKDF child for the item's context. */
function symmetricKey(key: LoadedKey, version: LoadedVersion, context: string | undefined): Buffer {
  if (key.row.derived === 1) {
    if (context === undefined || context === '') throw new AppError('transit_context_required', `transit key "${key.row.name}" is derived: give a context (base64)`);
    return deriveKey(version.material, decodeBase64(context, 'context'));
  }
  if (context !== undefined) throw new AppError('validation_failed', `transit key "${key.row.name}" is not derived; a context applies only to derived keys (use associated_data)`, { details: { field: 'context' } });
  return version.material;
}

const optionalBase64 = (value: string | undefined, field: string) => (value === undefined ? undefined : decodeBase64(value, field));

function hmacAlgorithm(value: string | undefined): HmacAlgorithm {
  const algorithm = value ?? 'sha2-256';
  if (!Object.hasOwn(HMAC_ALGORITHMS, algorithm)) throw new AppError('validation_failed', 'algorithm must be sha2-256 or sha2-512', { details: { field: 'algorithm' } });
  return algorithm as HmacAlgorithm;
}

export function createTransitService(deps: TransitServiceDeps) {
  const budget = createUsageBudget({
    reserved: (name, version) => deps.store.reserved(deps.db, name, version),
    reserve: (name, version, from, to) => deps.store.reserve(deps.db, name, version, from, to),
    maxPerVersion: deps.usage?.maxEncryptionsPerVersion,
    block: deps.usage?.reservationBlock,
  });
  const keys = createKeyManager(deps, () => budget.clear());

  async function keyFor(caller: Identity, capability: 'encrypt' | 'decrypt' | 'rewrap' | 'sign' | 'verify', name: string, count: number): Promise<LoadedKey> {
    checkBatchSize(count);
    await keys.authorize(caller, capability, name);
    return keys.load(name);
  }

  /**
   * Resolves each item's encryption version, spends the nonce budget for all of them, then
   * encrypts. Items whose version is spent fail with transit_key_rotation_required.
   */
  async function withEncryptionBudget<I, O>(key: LoadedKey, items: readonly I[], requested: (item: I) => number | undefined,
    fn: (item: I, version: LoadedVersion) => O): Promise<ItemResult<O>[]> {
    // Usually no item names a version: resolve the default once instead of once per item.
    let pinned = false;
    for (const item of items) if (requested(item) !== undefined) pinned = true;
    const versions = pinned ? runEach(items, (item) => encryptionVersion(key, requested(item))) : undefined;
    const fallback = pinned ? undefined : runEach([undefined], () => encryptionVersion(key, undefined))[0]!;
    const counts = new Map<number, number>();
    if (fallback?.ok) counts.set(fallback.value.version, items.length);
    for (const v of versions ?? []) if (v.ok) counts.set(v.value.version, (counts.get(v.value.version) ?? 0) + 1);
    const spent = new Map<number, AppError>();
    for (const [version, count] of counts) {
      try {
        await budget.take(key.row.key_id, key.row.name, version, count);
      } catch (error) {
        if (!(error instanceof AppError)) throw error;
        spent.set(version, error);
      }
    }
    keys.ensureUnsealed(); // material is zeroed on seal; nothing below awaits
    return runEach(items, (item, i) => {
      const v = versions ? versions[i]! : fallback!;
      if (!v.ok) throw v.error;
      const refused = spent.get(v.value.version);
      if (refused) throw refused;
      return fn(item, v.value);
    });
  }

  function aeadOf(key: LoadedKey, operation: string): AeadKeyType {
    if (!isAeadType(key.type)) throw operationNotSupported(key, operation);
    return key.type;
  }

  function open(key: LoadedKey, type: AeadKeyType, item: DecryptItem): Buffer {
    const { version, bytes } = parseVersioned(item.ciphertext);
    const v = decryptionVersion(key, version);
    const symmetric = symmetricKey(key, v, item.context);
    try {
      return aeadDecrypt(type, symmetric, bytes, optionalBase64(item.associated_data, 'associated_data'));
    } catch {
      throw new AppError('transit_decryption_failed', 'the ciphertext failed authentication: it was altered, or the key, context or associated data differ');
    }
  }

  return {
    ...keys.publicApi(),

    async encrypt(caller: Identity, name: string, items: readonly EncryptItem[]): Promise<ItemResult<Encrypted>[]> {
      const key = await keyFor(caller, 'encrypt', name, items.length);
      const type = aeadOf(key, 'encryption');
      return withEncryptionBudget(key, items, (item) => item.key_version, (item, v) => {
        const plaintext = decodeBase64(item.plaintext, 'plaintext');
        const sealed = aeadEncrypt(type, symmetricKey(key, v, item.context), plaintext, optionalBase64(item.associated_data, 'associated_data'));
        return { ciphertext: formatVersioned(v.version, sealed), key_version: v.version };
      });
    },

    async decrypt(caller: Identity, name: string, items: readonly DecryptItem[]): Promise<ItemResult<Decrypted>[]> {
      const key = await keyFor(caller, 'decrypt', name, items.length);
      const type = aeadOf(key, 'decryption');
      keys.ensureUnsealed();
      return runEach(items, (item) => ({ plaintext: open(key, type, item).toString('base64') }));
    },

    /** Decrypts and encrypts again under the current version, inside the server: the caller never sees plaintext. */
    async rewrap(caller: Identity, name: string, items: readonly DecryptItem[]): Promise<ItemResult<Encrypted>[]> {
      const key = await keyFor(caller, 'rewrap', name, items.length);
      const type = aeadOf(key, 'rewrap');
      return withEncryptionBudget(key, items, () => undefined, (item, v) => {
        const plaintext = open(key, type, item);
        const sealed = aeadEncrypt(type, symmetricKey(key, v, item.context), plaintext, optionalBase64(item.associated_data, 'associated_data'));
        plaintext.fill(0);
        return { ciphertext: formatVersioned(v.version, sealed), key_version: v.version };
      });
    },

    /** A fresh random data key encrypted under the transit key; `plaintext` mode also returns it in the clear. */
    async datakey(caller: Identity, name: string, mode: 'plaintext' | 'wrapped', items: readonly DatakeyItem[]): Promise<ItemResult<Datakey>[]> {
      const key = await keyFor(caller, 'encrypt', name, items.length);
      const type = aeadOf(key, 'data keys');
      return withEncryptionBudget(key, items, () => undefined, (item, v) => {
        const bits = item.bits ?? 256;
        if (!DATAKEY_BITS.has(bits)) throw new AppError('validation_failed', 'bits must be 128, 256 or 512', { details: { field: 'bits' } });
        const dataKey = randomBytes(bits / 8);
        const sealed = aeadEncrypt(type, symmetricKey(key, v, item.context), dataKey, optionalBase64(item.associated_data, 'associated_data'));
        const result: Datakey = { ciphertext: formatVersioned(v.version, sealed), key_version: v.version };
        if (mode === 'plaintext') result.plaintext = dataKey.toString('base64');
        dataKey.fill(0);
        return result;
      });
    },

    async sign(caller: Identity, name: string, items: readonly SignItem[]): Promise<ItemResult<Signed>[]> {
      const key = await keyFor(caller, 'sign', name, items.length);
      if (!isSigningType(key.type)) throw operationNotSupported(key, 'signing');
      const type: SigningKeyType = key.type;
      keys.ensureUnsealed();
      return runEach(items, (item) => {
        const v = encryptionVersion(key, item.key_version);
        return { signature: formatVersioned(v.version, signWith(type, v.privateKey!, decodeBase64(item.input, 'input'))), key_version: v.version };
      });
    },

    async verify(caller: Identity, name: string, items: readonly VerifyItem[]): Promise<ItemResult<Verified>[]> {
      const key = await keyFor(caller, 'verify', name, items.length);
      if (!isSigningType(key.type)) throw operationNotSupported(key, 'signature verification');
      const type: SigningKeyType = key.type;
      keys.ensureUnsealed();
      return runEach(items, (item) => {
        const { version, bytes } = parseVersioned(item.signature, 'signature');
        const v = decryptionVersion(key, version);
        return { valid: verifyWith(type, v.publicKey!, decodeBase64(item.input, 'input'), bytes) };
      });
    },

    async hmac(caller: Identity, name: string, items: readonly HmacItem[]): Promise<ItemResult<Hmaced>[]> {
      const key = await keyFor(caller, 'sign', name, items.length);
      if (key.type !== 'hmac') throw operationNotSupported(key, 'hmac (create an hmac key)');
      keys.ensureUnsealed();
      return runEach(items, (item) => {
        const v = encryptionVersion(key, item.key_version);
        const mac = hmacWith(symmetricKey(key, v, item.context), hmacAlgorithm(item.algorithm), decodeBase64(item.input, 'input'));
        return { hmac: formatVersioned(v.version, mac), key_version: v.version };
      });
    },

    async verifyHmac(caller: Identity, name: string, items: readonly VerifyHmacItem[]): Promise<ItemResult<Verified>[]> {
      const key = await keyFor(caller, 'verify', name, items.length);
      if (key.type !== 'hmac') throw operationNotSupported(key, 'hmac verification');
      keys.ensureUnsealed();
      return runEach(items, (item) => {
        const { version, bytes } = parseVersioned(item.hmac, 'hmac');
        const v = decryptionVersion(key, version);
        const expected = hmacWith(symmetricKey(key, v, item.context), hmacAlgorithm(item.algorithm), decodeBase64(item.input, 'input'));
        return { valid: expected.length === bytes.length && timingSafeEqual(expected, bytes) };
      });
    },
  };
}

export type TransitService = ReturnType<typeof createTransitService>;

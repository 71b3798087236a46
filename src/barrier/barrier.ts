// One file a little over 400 lines on purpose: see the comment on the barrier below.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { combine, split } from 'shamir-secret-sharing';
import { open, seal, newKey, KEY_BYTES } from '../crypto/aead.js';
import { keyedHash } from '../crypto/tokens.js';
import { AppError } from '../errors/app-error.js';
import { createBoundedCache } from '../lib/bounded-cache.js';
import { ownedCopy } from '../lib/owned-bytes.js';
import type { Queryable } from '../storage/schema.js';
import type { SystemStore } from '../storage/system-store.js';

/**
 * The barrier is the one place that turns plaintext into ciphertext and back.
 *
 * Key hierarchy: the master key (only ever in memory, reconstructed from unseal key shares)
 * seals the keyring rows. The keyring holds numbered data-key "terms" (rotate-key adds one),
 * an audit chain key and a token hashing key. Each secret version gets its own random data
 * key, wrapped by the newest term; both ciphertexts carry a format byte and the term, and are
 * bound by AAD to (secret id, version id) so rows cannot be swapped.
 *
 * It stays one file a little over 400 lines on purpose: every path that touches the master key
 * or a data key is here, so reviewing the key hierarchy means reading one file.
 */
const FORMAT_V1 = 1;
const HEADER_BYTES = 5; // format(1) | term(4, big-endian)

export interface EncryptedValue {
  keyTerm: number;
  wrappedKey: Buffer;
  ciphertext: Buffer;
}

export interface SealStatus {
  initialized: boolean;
  sealed: boolean;
  shares: number;
  threshold: number;
  /** Unseal shares received so far towards the threshold. */
  progress: number;
  keyTerm: number | null;
}

interface Keyring {
  dataTerms: Map<number, Buffer>;
  latestTerm: number;
  auditKey: Buffer;
  tokenKey: Buffer;
  /** ed25519 key signing external audit checkpoints (absent on a keyring from before it existed). */
  checkpointKey?: KeyObject;
  /** The scan fingerprint index's OPRF key; absent on a keyring made before it existed (added at unseal). */
  fingerprintKey?: Buffer;
}

/** A new ed25519 private key as PKCS#8 DER, the form it is sealed in. */
function newCheckpointKey(): Buffer {
  return generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'der' });
}

const keyringAad = (keyId: string) => Buffer.from(`custos:v1:keyring:${keyId}`);
const valueAad = (secretId: string, versionId: string) => Buffer.from(`custos:v1:value:${secretId}:${versionId}`);
const dataKeyAad = (secretId: string, versionId: string) => Buffer.from(`custos:v1:datakey:${secretId}:${versionId}`);
const systemValueAad = (purpose: string, id: string) => Buffer.from(`custos:v1:system:${purpose}:${id}`);

type KeyPurpose = 'data' | 'audit' | 'token' | 'checkpoint' | 'fingerprint';

/**
 * What one value-memo entry costs in memory, as its byte bound counts it: both buffers plus a
 * fixed share for the entry object, its key string, two buffer objects and the LRU's slots.
 * Counting only the plaintext let a memo of small values hold hundreds of thousands of entries.
 */
export const VALUE_CACHE_ENTRY_OVERHEAD_BYTES = 512;
export const valueCacheEntryBytes = (plaintextBytes: number, ciphertextBytes: number): number =>
  plaintextBytes + ciphertextBytes + VALUE_CACHE_ENTRY_OVERHEAD_BYTES;

export interface BarrierDeps {
  db: Queryable;
  systemStore: SystemStore;
  now: () => number;
  /** Bounds of the in-memory caches; the defaults suit a server, tests make them small. */
  cacheLimits?: { dataKeys?: number; valueBytes?: number };
}

export function createBarrier({ db, systemStore, now, cacheLimits = {} }: BarrierDeps) {
  let masterKey: Buffer | null = null;
  let keyring: Keyring | null = null;
  let pendingShares: Buffer[] = [];
  // The keyring had no checkpoint key when this process unsealed (a store from an older version).
  let checkpointKeyAdded = false;
  // Unwrapped per-version data keys, so a hot secret costs one AES-GCM open per read instead
  // of two. Bounded (the least recently used go first), keyed by the wrapped key's own bytes
  // (so a changed row never hits), and zeroed when evicted and on seal like every other key.
  // Cached keys and values are owned copies (see ownedCopy): a 32-byte slice of a shared slab
  // would keep 8 KiB alive per entry.
  const dataKeyCache = createBoundedCache<Buffer>({ maxEntries: cacheLimits.dataKeys ?? 10_000, onEvict: (key) => key.fill(0) });
  // Opened values of small hot versions: a memo of decryptValue, hit only when the ciphertext
  // just read from storage is byte-for-byte the one that was authenticated. It holds nothing a
  // process that can read its own memory could not get anyway (the keyring and data keys sit
  // beside it while unsealed), it is bounded in bytes (the least recently used go first), and
  // each plaintext is zeroed when it leaves: evicted, replaced, or wiped on seal with the keys.
  // It saves the AES-GCM open that was the largest single cost of a read.
  const VALUE_CACHE_ENTRY_MAX = 8 * 1024;
  const valueCache = createBoundedCache<{ ciphertext: Buffer; plaintext: Buffer }>({
    maxBytes: cacheLimits.valueBytes ?? 16 * 1024 * 1024,
    sizeOf: (entry) => valueCacheEntryBytes(entry.plaintext.length, entry.ciphertext.length),
    onEvict: (entry) => entry.plaintext.fill(0),
  });
  // Engines that keep unsealed key material in memory (transit) drop it when the barrier seals.
  const sealListeners: (() => void)[] = [];

  async function readInitParams(q: Queryable = db): Promise<{ shares: number; threshold: number } | null> {
    const raw = await systemStore.get(q, 'seal_config');
    return raw ? (JSON.parse(raw) as { shares: number; threshold: number }) : null;
  }

  async function loadKeyring(key: Buffer): Promise<Keyring> {
    const rows = await systemStore.keyring(db);
    const dataTerms = new Map<number, Buffer>();
    let auditKey: Buffer | undefined;
    let tokenKey: Buffer | undefined;
    let checkpointKey: KeyObject | undefined;
    let fingerprintKey: Buffer | undefined;
    for (const row of rows) {
      let plain: Buffer;
      try {
        plain = open(key, row.sealed_key, keyringAad(row.key_id));
      } catch (cause) {
        throw new AppError('invalid_unseal_key', 'the unseal key is not valid for this server', { cause });
      }
      if (row.purpose === 'data') dataTerms.set(row.term, plain);
      else if (row.purpose === 'audit') auditKey = plain;
      else if (row.purpose === 'token') tokenKey = plain;
      else if (row.purpose === 'checkpoint') {
        checkpointKey = createPrivateKey({ key: plain, format: 'der', type: 'pkcs8' });
        plain.fill(0);
      } else if (row.purpose === 'fingerprint') fingerprintKey = plain;
    }
    if (!auditKey || !tokenKey || dataTerms.size === 0) throw new AppError('internal_error', 'the keyring is incomplete');
    return { dataTerms, latestTerm: Math.max(...dataTerms.keys()), auditKey, tokenKey, checkpointKey, fingerprintKey };
  }

  function unsealedKeyring(): Keyring {
    if (!keyring) throw new AppError('sealed', 'Custos is sealed');
    return keyring;
  }

  async function storeKey(tx: Queryable, key: Buffer, keyId: string, purpose: KeyPurpose, term: number, material: Buffer) {
    await systemStore.insertKey(tx, { key_id: keyId, purpose, term, sealed_key: seal(key, material, keyringAad(keyId)), created_at: now() });
  }

  function packHeader(term: number): Buffer {
    const header = Buffer.alloc(HEADER_BYTES);
    header.writeUInt8(FORMAT_V1, 0);
    header.writeUInt32BE(term, 1);
    return header;
  }

  function readHeader(bytes: Buffer): number {
    if (bytes.length < HEADER_BYTES || bytes.readUInt8(0) !== FORMAT_V1) throw new AppError('internal_error', 'unknown ciphertext format');
    return bytes.readUInt32BE(1);
  }

  async function termKey(term: number): Promise<Buffer> {
    const ring = unsealedKeyring();
    let key = ring.dataTerms.get(term);
    if (!key && masterKey) {
      // Another node may have rotated the keyring since we unsealed.
      keyring = await loadKeyring(masterKey);
      key = keyring.dataTerms.get(term);
    }
    if (!key) throw new AppError('internal_error', `no key for keyring term ${term}`);
    return key;
  }

  // A keyring initialized before a key purpose existed (audit checkpoints, the scan index) gets
  // that key at the first unseal. Two nodes unsealing at once may both try: the key id is the
  // primary key, so one insert wins and both then use the stored one.
  async function addMissingKeys(key: Buffer, ring: Keyring): Promise<Keyring> {
    const missing: [KeyPurpose, () => Buffer][] = [];
    if (!ring.checkpointKey) missing.push(['checkpoint', newCheckpointKey]);
    if (!ring.fingerprintKey) missing.push(['fingerprint', newKey]);
    if (missing.length === 0) return ring;
    for (const [purpose, material] of missing) {
      try {
        await storeKey(db, key, purpose, purpose, 0, material());
      } catch {
        // another node added it first
      }
    }
    return loadKeyring(key);
  }

  return {
    async status(): Promise<SealStatus> {
      const params = await readInitParams();
      return {
        initialized: params !== null,
        sealed: keyring === null,
        shares: params?.shares ?? 0,
        threshold: params?.threshold ?? 0,
        progress: pendingShares.length,
        keyTerm: keyring?.latestTerm ?? null,
      };
    },

    isSealed(): boolean {
      return keyring === null;
    },

    /**
     * Creates the master key and keyring and returns the unseal key shares (base64). The
     * master key is never stored; with one share, the share is the master key itself.
     */
    async initialize(tx: Queryable, shares: number, threshold: number): Promise<string[]> {
      if (!Number.isInteger(shares) || !Number.isInteger(threshold) || shares < 1 || shares > 255 || threshold < 1 || threshold > shares) {
        throw new AppError('validation_failed', 'need 1 <= threshold <= shares <= 255');
      }
      if (threshold === 1 && shares > 1) throw new AppError('validation_failed', 'a threshold of 1 needs exactly 1 share');
      if (await readInitParams(tx)) throw new AppError('already_initialized', 'Custos is already initialized');
      const key = newKey();
      await storeKey(tx, key, 'data:1', 'data', 1, newKey());
      await storeKey(tx, key, 'audit', 'audit', 0, newKey());
      await storeKey(tx, key, 'token', 'token', 0, newKey());
      await storeKey(tx, key, 'checkpoint', 'checkpoint', 0, newCheckpointKey());
      await storeKey(tx, key, 'fingerprint', 'fingerprint', 0, newKey());
      await systemStore.set(tx, 'seal_config', JSON.stringify({ shares, threshold }));
      if (shares === 1) return [key.toString('base64')];
      const parts = await split(new Uint8Array(key), shares, threshold);
      return parts.map((p) => Buffer.from(p).toString('base64'));
    },

    /** Adds one unseal key share; unseals once `threshold` shares were given. */
    async submitUnsealShare(shareBase64: string): Promise<SealStatus> {
      const params = await readInitParams();
      if (!params) throw new AppError('not_initialized', 'Custos is not initialized');
      if (keyring) return this.status();
      const share = Buffer.from(shareBase64.trim(), 'base64');
      if (share.length === 0) throw new AppError('invalid_unseal_key', 'the unseal key is empty or not base64');
      if (!pendingShares.some((s) => s.equals(share))) pendingShares.push(share);
      if (pendingShares.length >= params.threshold) {
        const shares = pendingShares;
        pendingShares = [];
        let key: Buffer;
        try {
          key = params.shares === 1 ? shares[0]! : Buffer.from(await combine(shares.map((s) => new Uint8Array(s))));
        } catch (cause) {
          throw new AppError('invalid_unseal_key', 'the unseal key shares do not combine', { cause });
        }
        if (key.length !== KEY_BYTES) throw new AppError('invalid_unseal_key', 'the unseal key is not valid for this server');
        const ring = await loadKeyring(key);
        checkpointKeyAdded = !ring.checkpointKey;
        keyring = await addMissingKeys(key, ring);
        masterKey = key;
      }
      return this.status();
    },

    /** Drops every key from memory; data routes answer `sealed` until unsealed again. */
    seal(): void {
      masterKey?.fill(0);
      for (const key of keyring?.dataTerms.values() ?? []) key.fill(0);
      keyring?.auditKey.fill(0);
      keyring?.tokenKey.fill(0);
      // Both caches zero what they hold as they empty.
      keyring?.fingerprintKey?.fill(0);
      dataKeyCache.clear();
      valueCache.clear();
      masterKey = null;
      keyring = null;
      pendingShares = [];
      for (const listener of sealListeners) listener();
    },

    /** Calls `listener` every time the barrier seals: for engines' caches of unsealed key material. */
    onSeal(listener: () => void): void {
      sealListeners.push(listener);
    },

    /** Adds a new data-key term; new writes use it, old ciphertexts stay readable. */
    async rotateKey(tx: Queryable): Promise<number> {
      if (!masterKey) throw new AppError('sealed', 'Custos is sealed');
      const rows = await systemStore.keyring(tx);
      const term = Math.max(0, ...rows.filter((r) => r.purpose === 'data').map((r) => r.term)) + 1;
      await storeKey(tx, masterKey, `data:${term}`, 'data', term, newKey());
      return term;
    },

    /** Reloads the keyring after another node rotated it. */
    async refreshKeyring(): Promise<void> {
      if (masterKey) keyring = await loadKeyring(masterKey);
    },

    encryptValue(secretId: string, versionId: string, plaintext: Buffer): EncryptedValue {
      const ring = unsealedKeyring();
      const term = ring.latestTerm;
      const dataKey = newKey();
      const header = packHeader(term);
      const ciphertext = Buffer.concat([header, seal(dataKey, plaintext, Buffer.concat([header, valueAad(secretId, versionId)]))]);
      const wrappedKey = Buffer.concat([header, seal(ring.dataTerms.get(term)!, dataKey, Buffer.concat([header, dataKeyAad(secretId, versionId)]))]);
      dataKey.fill(0);
      return { keyTerm: term, wrappedKey, ciphertext };
    },

    /**
     * Opens a stored version. `remember: false` is for background work (indexing, replication)
     * that opens each version once: it uses the caches but adds nothing to them, so one-off
     * opens of every written version never push hot reads' entries out.
     */
    async decryptValue(secretId: string, versionId: string, value: Pick<EncryptedValue, 'wrappedKey' | 'ciphertext'>, options: { remember?: boolean } = {}): Promise<Buffer> {
      const remember = options.remember !== false;
      const versionKey = `${secretId}:${versionId}`;
      const opened = valueCache.get(versionKey);
      if (opened && keyring && opened.ciphertext.equals(value.ciphertext)) return Buffer.from(opened.plaintext);
      const cacheKey = `${versionKey}:${value.wrappedKey.toString('base64')}`;
      let dataKey = dataKeyCache.get(cacheKey);
      let ownsKey = false; // opened here for this call only: zeroed when done
      let plaintext: Buffer;
      try {
        if (!dataKey) {
          const key = await termKey(readHeader(value.wrappedKey));
          const header = value.wrappedKey.subarray(0, HEADER_BYTES);
          const unwrapped = open(key, value.wrappedKey.subarray(HEADER_BYTES), Buffer.concat([header, dataKeyAad(secretId, versionId)]));
          dataKey = ownedCopy(unwrapped);
          unwrapped.fill(0);
          if (keyring && remember) dataKeyCache.set(cacheKey, dataKey);
          else ownsKey = true;
        }
        const valueHeader = value.ciphertext.subarray(0, HEADER_BYTES);
        readHeader(valueHeader);
        plaintext = open(dataKey, value.ciphertext.subarray(HEADER_BYTES), Buffer.concat([valueHeader, valueAad(secretId, versionId)]));
      } catch (cause) {
        // A swapped or altered row fails authentication here: report it, never return garbage.
        throw new AppError('internal_error', 'a stored secret version failed its integrity check', { cause });
      } finally {
        if (ownsKey) dataKey!.fill(0);
      }
      if (keyring && remember && plaintext.length <= VALUE_CACHE_ENTRY_MAX) {
        // Copies: the caller owns what it is given, and the cache owns what it keeps (a
        // replaced entry's plaintext is zeroed as it leaves).
        valueCache.set(versionKey, { ciphertext: ownedCopy(value.ciphertext), plaintext: ownedCopy(plaintext) });
      }
      return plaintext;
    },

    /**
     * Seals a small server-owned credential (e.g. a SigV4 secret key the server must be able to
     * use again) under the newest data term, bound by AAD to its purpose and id.
     */
    encryptSystemValue(purpose: string, id: string, plaintext: Buffer): Buffer {
      const ring = unsealedKeyring();
      const header = packHeader(ring.latestTerm);
      return Buffer.concat([header, seal(ring.dataTerms.get(ring.latestTerm)!, plaintext, Buffer.concat([header, systemValueAad(purpose, id)]))]);
    },

    async decryptSystemValue(purpose: string, id: string, sealed: Buffer): Promise<Buffer> {
      const key = await termKey(readHeader(sealed));
      try {
        const header = sealed.subarray(0, HEADER_BYTES);
        return open(key, sealed.subarray(HEADER_BYTES), Buffer.concat([header, systemValueAad(purpose, id)]));
      } catch (cause) {
        throw new AppError('internal_error', 'a stored credential failed its integrity check', { cause });
      }
    },

    /**
     * Which versions the in-memory caches hold, most recently used first: "secret id:version id"
     * only, never key material or plaintext. For operators and tests checking the bounds.
     */
    cachedVersions(): { dataKeys: string[]; values: string[] } {
      // A data-key entry's key ends with ":" and the wrapped key in base64, which has no ":".
      return { dataKeys: dataKeyCache.keys().map((k) => k.slice(0, k.lastIndexOf(':'))), values: valueCache.keys() };
    },

    /** Keyed hash under which tokens are stored (the token itself never is). */
    hashToken(token: string): string {
      return keyedHash(unsealedKeyring().tokenKey, token);
    },

    /** Signs an audit checkpoint with the keyring's ed25519 key. */
    signCheckpoint(message: Buffer): Buffer {
      const key = unsealedKeyring().checkpointKey;
      if (!key) throw new AppError('internal_error', 'the keyring has no checkpoint key');
      return sign(null, message, key);
    },

    /** The checkpoint public key (SPKI PEM): auditors check checkpoints with it, without the server. */
    checkpointPublicKey(): string {
      const key = unsealedKeyring().checkpointKey;
      if (!key) throw new AppError('internal_error', 'the keyring has no checkpoint key');
      return createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
    },

    /** True when this unseal found no checkpoint key: the store comes from an older version. */
    checkpointKeyWasAdded(): boolean {
      return checkpointKeyAdded;
    },

    /** The scan fingerprint index's key (an OPRF scalar is derived from it); never leaves the server. */
    fingerprintKey(): Buffer {
      const key = unsealedKeyring().fingerprintKey;
      if (!key) throw new AppError('sealed', 'the keyring has no fingerprint key yet');
      return key;
    },

    /** Key for the audit log's HMAC chain. */
    auditKey(): Buffer {
      return unsealedKeyring().auditKey;
    },
  };
}

export type Barrier = ReturnType<typeof createBarrier>;

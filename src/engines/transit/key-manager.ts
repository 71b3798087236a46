/**
 * Transit keys: creation, rotation, configuration, trimming, deletion and export, and the
 * in-memory cache of unsealed key versions the operations use. Every version's material is
 * sealed by the barrier like a secret value, bound by AAD to the key's id, name and version,
 * so a row copied to another key or version fails to open. The cache is dropped when the
 * barrier seals and, per key, when any node changes it (change bus topic `transit`).
 */
import { createPublicKey, randomBytes } from 'node:crypto';
import { AppError } from '../../errors/app-error.js';
import type { Identity } from '../../auth/identity.types.js';
import { transitResource } from '../../policy/policy.js';
import type { Transaction } from 'kysely';
import type { Database } from '../../storage/schema.js';
import { transaction } from '../../storage/transaction.js';
import type { TransitKeyRow } from '../../storage/transit-store.js';
import { exportMaterial, generateMaterial, isDerivableType, isKeyType, isSigningType, privateKeyOf, publicKeyPem, type KeyType } from './key-types.js';
import type { CreateKeyInput, KeyConfigInput, KeyInfo, LoadedKey, LoadedVersion, TransitServiceDeps } from './transit.types.js';

const MATERIAL_PURPOSE = 'transit-key';
const NAME_CHARS = /^[A-Za-z0-9/_+=.@-]{1,256}$/;
const materialAadId = (row: Pick<TransitKeyRow, 'key_id' | 'name'>, version: number) => `${row.key_id}:${row.name}:v${version}`;

/** Key names follow secret names: `/`-separated, the first segment is the environment. */
export function validateKeyName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !NAME_CHARS.test(name) || name.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw new AppError('invalid_name', 'a transit key name is 1-256 characters of A-Za-z0-9/_+=.@- with no empty, "." or ".." segments');
  }
}

function keyInfo(key: LoadedKey): KeyInfo {
  const r = key.row;
  return {
    name: r.name, type: key.type, derived: r.derived === 1, exportable: r.exportable === 1, deletionAllowed: r.deletion_allowed === 1,
    latestVersion: r.latest_version, minDecryptionVersion: r.min_decryption_version, minEncryptionVersion: r.min_encryption_version,
    minAvailableVersion: r.min_available_version, createdAt: r.created_at, updatedAt: r.updated_at,
    versions: [...key.versions.values()].map((v) => ({ version: v.version, createdAt: v.createdAt, publicKey: v.publicKeyPem })),
  };
}

const READ_CAPABILITIES = ['read', 'admin'] as const;

export function createKeyManager(deps: TransitServiceDeps, onKeyChange: () => void) {
  const { db, store, barrier, authorizer, changes, now } = deps;
  const cache = new Map<string, LoadedKey>();
  // Bumped on every invalidation: a load that raced with a change is not cached.
  let generation = 0;

  function invalidate(name: string | '*'): void {
    generation++;
    if (name === '*') cache.clear();
    else cache.delete(name);
    onKeyChange();
  }
  changes.subscribe((topic, key) => {
    if (topic === 'transit') invalidate(key);
  });
  // A changed key's old entry is only dropped, not zeroed: a request that already holds it may
  // still be using it (its material stays valid for that version). Sealing zeroes everything,
  // and operations check the seal after their last await, before touching material.
  barrier.onSeal(() => {
    for (const key of cache.values()) for (const v of key.versions.values()) v.material.fill(0);
    invalidate('*');
  });

  function ensureUnsealed(): void {
    if (barrier.isSealed()) throw new AppError('sealed', 'Custos is sealed');
  }

  async function loadVersion(row: TransitKeyRow, type: KeyType, v: { version: number; sealed_material: Buffer; public_key: string | null; created_at: number }): Promise<LoadedVersion> {
    const material = await barrier.decryptSystemValue(MATERIAL_PURPOSE, materialAadId(row, v.version), v.sealed_material);
    const loaded: LoadedVersion = { version: v.version, material, publicKeyPem: v.public_key, createdAt: v.created_at };
    if (isSigningType(type)) {
      loaded.privateKey = privateKeyOf(type, material);
      loaded.publicKey = createPublicKey(loaded.privateKey);
    }
    return loaded;
  }

  /** The unsealed key, from the cache or storage; `transit_key_not_found` if there is none. */
  async function load(name: string): Promise<LoadedKey> {
    ensureUnsealed();
    const cached = cache.get(name);
    if (cached) return cached;
    const seen = generation;
    const row = await store.findKey(db, name);
    if (!row) throw new AppError('transit_key_not_found', `transit key "${name}" does not exist`);
    if (!isKeyType(row.type)) throw new AppError('internal_error', 'a stored transit key has an unknown type');
    const type = row.type;
    const versions = new Map<number, LoadedVersion>();
    for (const v of await store.versions(db, name)) versions.set(v.version, await loadVersion(row, type, v));
    const key: LoadedKey = { row, type, versions };
    if (seen === generation && !barrier.isSealed()) cache.set(name, key);
    return key;
  }

  /** Seals new material (generated before the transaction: an RSA key takes a while) for one version. */
  function sealVersion(row: Pick<TransitKeyRow, 'key_id' | 'name'>, type: KeyType, version: number, material: Buffer) {
    const publicKey = isSigningType(type) ? publicKeyPem(privateKeyOf(type, material)) : null;
    const sealed = barrier.encryptSystemValue(MATERIAL_PURPOSE, materialAadId(row, version), material);
    material.fill(0);
    return { key_name: row.name, version, sealed_material: sealed, public_key: publicKey, encryptions_reserved: 0, created_at: now() };
  }

  async function authorize(caller: Identity, capability: Parameters<typeof authorizer.require>[1], name: string): Promise<void> {
    validateKeyName(name);
    await authorizer.require(caller, capability, transitResource(name));
  }

  async function mutate(caller: Identity, name: string, fn: (tx: Transaction<Database>, row: TransitKeyRow) => Promise<void>): Promise<KeyInfo> {
    ensureUnsealed();
    await transaction(db, caller.audit, async (tx) => {
      const row = await store.findKeyForUpdate(tx, name);
      if (!row) throw new AppError('transit_key_not_found', `transit key "${name}" does not exist`);
      await fn(tx, row);
    });
    changes.publish('transit', name);
    return keyInfo(await load(name));
  }

  const management = {
    async create(caller: Identity, name: string, input: CreateKeyInput): Promise<KeyInfo> {
      await authorize(caller, 'admin', name);
      ensureUnsealed();
      if (!isKeyType(input.type)) throw new AppError('validation_failed', 'unknown key type', { details: { field: 'type' } });
      if (input.derived && !isDerivableType(input.type)) throw new AppError('validation_failed', `a ${input.type} key cannot be derived; derived keys are aes256-gcm96, chacha20-poly1305 or hmac`, { details: { field: 'derived' } });
      const at = now();
      const row: TransitKeyRow = {
        name, key_id: randomBytes(12).toString('base64url'), type: input.type, derived: input.derived ? 1 : 0, exportable: input.exportable ? 1 : 0,
        deletion_allowed: 0, latest_version: 1, min_decryption_version: 1, min_encryption_version: 0, min_available_version: 1, created_at: at, updated_at: at,
      };
      caller.audit?.annotate({ detail: { key_type: input.type, exportable: row.exportable === 1, derived: row.derived === 1 } });
      const material = generateMaterial(input.type);
      try {
        await transaction(db, caller.audit, async (tx) => {
          if (await store.findKey(tx, name)) throw new AppError('transit_key_exists', `transit key "${name}" already exists`);
          await store.insertKey(tx, row);
          await store.insertVersion(tx, sealVersion(row, input.type, 1, material));
        });
      } catch (error) {
        if (error instanceof AppError) throw error;
        // A concurrent create of the same name (another node) loses on the primary key.
        if (await store.findKey(db, name)) throw new AppError('transit_key_exists', `transit key "${name}" already exists`);
        throw error;
      }
      changes.publish('transit', name);
      return keyInfo(await load(name));
    },

    async read(caller: Identity, name: string): Promise<KeyInfo> {
      validateKeyName(name);
      let allowed = false;
      for (const capability of READ_CAPABILITIES) allowed ||= await authorizer.allows(caller, capability, transitResource(name));
      if (!allowed) await authorizer.require(caller, 'read', transitResource(name)); // throws the right denial
      return keyInfo(await load(name));
    },

    /** Names of keys under `prefix` the caller may read (metadata only); a page at a time. */
    async list(caller: Identity, options: { prefix?: string; limit?: number; after?: string }): Promise<{ keys: string[]; next: string | null }> {
      const prefix = options.prefix ?? '';
      const limit = Math.min(Math.max(options.limit ?? 100, 1), 1000);
      let may = false;
      for (const capability of READ_CAPABILITIES) may ||= await authorizer.mayAccessUnder(caller, capability, transitResource(prefix));
      if (!may) throw new AppError('permission_denied', `permission denied: no policy grants reading transit keys under "${prefix}"`);
      const keys: string[] = [];
      let after = options.after;
      // Filter page by page so a caller never learns names it may not read, not even through the cursor.
      for (let scanned = 0; keys.length < limit && scanned < 100_000;) {
        const rows = await store.listKeys(db, prefix, after, 500);
        if (rows.length === 0) return { keys, next: null };
        for (const row of rows) {
          after = row.name;
          scanned++;
          let ok = false;
          for (const capability of READ_CAPABILITIES) ok ||= await authorizer.allows(caller, capability, transitResource(row.name));
          if (ok) keys.push(row.name);
          if (keys.length === limit) return { keys, next: row.name };
        }
      }
      return { keys, next: after ?? null };
    },

    async rotate(caller: Identity, name: string): Promise<KeyInfo> {
      await authorize(caller, 'rotate', name);
      const material = generateMaterial((await load(name)).type); // a key's type never changes
      return mutate(caller, name, async (tx, row) => {
        // The row is locked (mutate), so concurrent rotations on several nodes take turns.
        const version = row.latest_version + 1;
        await store.updateKey(tx, name, { latest_version: version, updated_at: now() });
        await store.insertVersion(tx, sealVersion(row, row.type as KeyType, version, material));
        caller.audit?.annotate({ detail: { key_version: version } });
      });
    },

    async config(caller: Identity, name: string, input: KeyConfigInput): Promise<KeyInfo> {
      await authorize(caller, 'admin', name);
      return mutate(caller, name, async (tx, row) => {
        const minDecrypt = input.minDecryptionVersion ?? row.min_decryption_version;
        const minEncrypt = input.minEncryptionVersion ?? row.min_encryption_version;
        const bad = (field: string, message: string) => new AppError('validation_failed', message, { details: { field } });
        if (!Number.isInteger(minDecrypt) || minDecrypt < row.min_available_version || minDecrypt > row.latest_version) {
          throw bad('min_decryption_version', `min_decryption_version must be between ${row.min_available_version} (oldest kept version) and ${row.latest_version} (latest)`);
        }
        if (!Number.isInteger(minEncrypt) || minEncrypt < 0 || minEncrypt > row.latest_version || (minEncrypt !== 0 && minEncrypt < minDecrypt)) {
          throw bad('min_encryption_version', `min_encryption_version must be 0 (latest) or between min_decryption_version (${minDecrypt}) and ${row.latest_version}`);
        }
        await store.updateKey(tx, name, {
          min_decryption_version: minDecrypt, min_encryption_version: minEncrypt,
          deletion_allowed: input.deletionAllowed === undefined ? row.deletion_allowed : input.deletionAllowed ? 1 : 0, updated_at: now(),
        });
      });
    },

    /** Deletes versions below `minAvailable`, which may not pass min_decryption_version or min_encryption_version. */
    async trim(caller: Identity, name: string, minAvailable: number): Promise<KeyInfo> {
      await authorize(caller, 'admin', name);
      return mutate(caller, name, async (tx, row) => {
        const ceiling = row.min_encryption_version === 0 ? row.min_decryption_version : Math.min(row.min_decryption_version, row.min_encryption_version);
        if (!Number.isInteger(minAvailable) || minAvailable < row.min_available_version || minAvailable > ceiling) {
          throw new AppError('validation_failed', `min_available_version must be between ${row.min_available_version} and ${ceiling} (min_decryption_version / min_encryption_version)`, { details: { field: 'min_available_version' } });
        }
        const removed = await store.deleteVersionsBelow(tx, name, minAvailable);
        await store.updateKey(tx, name, { min_available_version: minAvailable, updated_at: now() });
        caller.audit?.annotate({ detail: { trimmed_versions: removed } });
      });
    },

    async delete(caller: Identity, name: string): Promise<void> {
      await authorize(caller, 'admin', name);
      ensureUnsealed();
      await transaction(db, caller.audit, async (tx) => {
        const row = await store.findKeyForUpdate(tx, name);
        if (!row) throw new AppError('transit_key_not_found', `transit key "${name}" does not exist`);
        if (row.deletion_allowed !== 1) throw new AppError('transit_deletion_not_allowed', `transit key "${name}" does not allow deletion; set deletion_allowed with config first`);
        await store.deleteKey(tx, name);
      });
      changes.publish('transit', name);
    },

    /** Key material of an `exportable` key (every kept version, or one): audited like every request. */
    async export(caller: Identity, name: string, version?: number): Promise<{ name: string; type: KeyType; keys: Record<string, string> }> {
      await authorize(caller, 'admin', name);
      const key = await load(name);
      if (key.row.exportable !== 1) throw new AppError('transit_not_exportable', `transit key "${name}" was not created exportable; its material never leaves the server`);
      const versions = version === undefined ? [...key.versions.values()] : [key.versions.get(version)].filter((v): v is LoadedVersion => v !== undefined);
      if (versions.length === 0) throw new AppError('transit_version_not_allowed', `transit key "${name}" has no version ${version}`);
      return { name, type: key.type, keys: Object.fromEntries(versions.map((v) => [String(v.version), exportMaterial(key.type, v.material)])) };
    },
  };

  return {
    load,
    ensureUnsealed,
    authorize,
    /** The management calls the service exposes as its own. */
    publicApi: () => management,
  };
}

export type KeyManager = ReturnType<typeof createKeyManager>;

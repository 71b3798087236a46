/** Shapes shared by the transit engine's files and its adapters (routes, CLI through the SDK). */
import type { KeyObject } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { ChangeBus } from '../../lib/change-bus.js';
import type { Database } from '../../storage/schema.js';
import type { TransitKeyRow, TransitStore } from '../../storage/transit-store.js';
import type { Authorizer } from '../../services/authorizer.js';
import type { KeyType } from './key-types.js';

export interface TransitServiceDeps {
  db: Kysely<Database>;
  store: TransitStore;
  barrier: {
    isSealed(): boolean;
    onSeal(listener: () => void): void;
    encryptSystemValue(purpose: string, id: string, plaintext: Buffer): Buffer;
    decryptSystemValue(purpose: string, id: string, sealed: Buffer): Promise<Buffer>;
  };
  authorizer: Pick<Authorizer, 'require' | 'allows' | 'mayAccessUnder'>;
  changes: ChangeBus;
  now: () => number;
  /** The AEAD nonce usage bound per key version and the reservation block (defaults: 2^32 and 65,536). */
  usage?: { maxEncryptionsPerVersion?: number; reservationBlock?: number };
}

/** One unsealed key version, kept in memory while unsealed (wiped on seal). */
export interface LoadedVersion {
  version: number;
  material: Buffer;
  privateKey?: KeyObject;
  publicKey?: KeyObject;
  publicKeyPem: string | null;
  createdAt: number;
}

export interface LoadedKey {
  row: TransitKeyRow;
  type: KeyType;
  versions: Map<number, LoadedVersion>;
}

export interface KeyInfo {
  name: string;
  type: KeyType;
  derived: boolean;
  exportable: boolean;
  deletionAllowed: boolean;
  latestVersion: number;
  minDecryptionVersion: number;
  minEncryptionVersion: number;
  minAvailableVersion: number;
  createdAt: number;
  updatedAt: number;
  versions: { version: number; createdAt: number; publicKey: string | null }[];
}

export interface CreateKeyInput {
  type: KeyType;
  derived?: boolean;
  exportable?: boolean;
}

export interface KeyConfigInput {
  minDecryptionVersion?: number;
  minEncryptionVersion?: number;
  deletionAllowed?: boolean;
}

/** Inputs are base64 on the wire; the engine decodes them per item. */
export interface EncryptItem { plaintext: string; context?: string; associated_data?: string; key_version?: number }
export interface DecryptItem { ciphertext: string; context?: string; associated_data?: string }
export interface DatakeyItem { bits?: number; context?: string; associated_data?: string }
export interface SignItem { input: string; key_version?: number }
export interface VerifyItem { input: string; signature: string }
export interface HmacItem { input: string; key_version?: number; algorithm?: string; context?: string }
export interface VerifyHmacItem { input: string; hmac: string; algorithm?: string; context?: string }

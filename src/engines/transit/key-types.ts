/**
 * The transit engine's cryptographic primitives, one place per key type, all on node:crypto.
 * Pure functions over key material: no storage, no barrier, no policy. The engine calls only
 * these, so the known-answer tests (RFC 8032, RFC 4231) check exactly the code it runs.
 *
 * Material per type: aes256-gcm96, chacha20-poly1305 and hmac hold 32 random bytes; ed25519
 * holds its 32-byte seed (RFC 8032's "secret key"); ecdsa-p256 and rsa-2048 hold a PKCS#8 DER
 * private key.
 */
import {
  constants, createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, generateKeyPairSync, hkdfSync, randomBytes,
  sign as nodeSign, verify as nodeVerify, createHmac, type KeyObject,
} from 'node:crypto';

export const KEY_TYPES = ['aes256-gcm96', 'chacha20-poly1305', 'ed25519', 'ecdsa-p256', 'rsa-2048', 'hmac'] as const;
export type KeyType = (typeof KEY_TYPES)[number];
export type AeadKeyType = 'aes256-gcm96' | 'chacha20-poly1305';
export type SigningKeyType = 'ed25519' | 'ecdsa-p256' | 'rsa-2048';

export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
const SYMMETRIC_KEY_BYTES = 32;
// RFC 8410 PKCS#8 wrapping of a raw Ed25519 seed: SEQUENCE { version 0, AlgorithmIdentifier id-Ed25519, OCTET STRING { OCTET STRING seed } }.
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export function isKeyType(value: unknown): value is KeyType {
  return typeof value === 'string' && (KEY_TYPES as readonly string[]).includes(value);
}
export function isAeadType(type: KeyType): type is AeadKeyType {
  return type === 'aes256-gcm96' || type === 'chacha20-poly1305';
}
export function isSigningType(type: KeyType): type is SigningKeyType {
  return type === 'ed25519' || type === 'ecdsa-p256' || type === 'rsa-2048';
}
/** Types whose key may be derived per context (HKDF): the symmetric ones. */
export function isDerivableType(type: KeyType): boolean {
  return isAeadType(type) || type === 'hmac';
}

/** New random material for a key version. */
export function generateMaterial(type: KeyType): Buffer {
  switch (type) {
    case 'aes256-gcm96':
    case 'chacha20-poly1305':
    case 'hmac':
      return randomBytes(SYMMETRIC_KEY_BYTES);
    case 'ed25519':
      return randomBytes(32);
    case 'ecdsa-p256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'der', type: 'pkcs8' });
    case 'rsa-2048':
      return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'der', type: 'pkcs8' });
  }
}

/** The private key object of a signing key's material. */
export function privateKeyOf(type: SigningKeyType, material: Buffer): KeyObject {
  const der = type === 'ed25519' ? Buffer.concat([ED25519_PKCS8_PREFIX, material]) : material;
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
}

export function publicKeyPem(privateKey: KeyObject): string {
  return createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }).toString();
}

/** Per-context key of a derived key: HKDF-SHA256 (RFC 5869), no salt, the context as info. */
export function deriveKey(material: Buffer, context: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', material, Buffer.alloc(0), context, SYMMETRIC_KEY_BYTES));
}

// Nonces are drawn from the CSPRNG in bulk: one randomBytes call per 4,096 nonces instead of
// one per encryption (a small randomBytes call cost as much as the AES-GCM encryption itself).
// Each nonce is handed out once; a used-up pool is replaced by a new buffer, never refilled
// in place, so a nonce already inside a ciphertext being built is never overwritten.
const NONCE_POOL = 4096;
let noncePool = Buffer.alloc(0);
let nonceOffset = 0;
function nextNonce(): Buffer {
  if (nonceOffset + NONCE_BYTES > noncePool.length) {
    noncePool = randomBytes(NONCE_BYTES * NONCE_POOL);
    nonceOffset = 0;
  }
  const nonce = noncePool.subarray(nonceOffset, nonceOffset + NONCE_BYTES);
  nonceOffset += NONCE_BYTES;
  return nonce;
}

const cipherName = (type: AeadKeyType) => (type === 'aes256-gcm96' ? 'aes-256-gcm' : 'chacha20-poly1305');

/** AEAD with a fresh random 96-bit nonce. Output: nonce(12) | ciphertext | tag(16). */
export function aeadEncrypt(type: AeadKeyType, key: Buffer, plaintext: Buffer, aad: Buffer | undefined): Buffer {
  const nonce = nextNonce();
  const cipher = createCipheriv(cipherName(type) as 'aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  if (aad !== undefined) cipher.setAAD(aad, { plaintextLength: plaintext.length });
  const body = cipher.update(plaintext);
  cipher.final();
  return Buffer.concat([nonce, body, cipher.getAuthTag()], NONCE_BYTES + body.length + TAG_BYTES);
}

/** Throws if the key, nonce, associated data or any byte differs from what was encrypted. */
export function aeadDecrypt(type: AeadKeyType, key: Buffer, sealed: Buffer, aad: Buffer | undefined): Buffer {
  if (sealed.length < NONCE_BYTES + TAG_BYTES) throw new Error('ciphertext too short');
  const nonce = sealed.subarray(0, NONCE_BYTES);
  const body = sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES);
  const decipher = createDecipheriv(cipherName(type) as 'aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  if (aad !== undefined) decipher.setAAD(aad, { plaintextLength: body.length });
  const plaintext = decipher.update(body);
  decipher.final();
  return plaintext;
}

/**
 * Signatures: Ed25519 (pure, RFC 8032), ECDSA P-256 over SHA-256 (ASN.1 DER signature), and
 * RSA-PSS over SHA-256 with MGF1-SHA-256 and a 32-byte salt.
 */
export function signWith(type: SigningKeyType, privateKey: KeyObject, input: Buffer): Buffer {
  switch (type) {
    case 'ed25519':
      return nodeSign(null, input, privateKey);
    case 'ecdsa-p256':
      return nodeSign('sha256', input, { key: privateKey, dsaEncoding: 'der' });
    case 'rsa-2048':
      return nodeSign('sha256', input, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
  }
}

export function verifyWith(type: SigningKeyType, publicKey: KeyObject, input: Buffer, signature: Buffer): boolean {
  try {
    switch (type) {
      case 'ed25519':
        return nodeVerify(null, input, publicKey, signature);
      case 'ecdsa-p256':
        return nodeVerify('sha256', input, { key: publicKey, dsaEncoding: 'der' }, signature);
      case 'rsa-2048':
        return nodeVerify('sha256', input, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, signature);
    }
  } catch {
    return false; // a malformed signature is simply not a valid one
  }
}

export const HMAC_ALGORITHMS = { 'sha2-256': 'sha256', 'sha2-512': 'sha512' } as const;
export type HmacAlgorithm = keyof typeof HMAC_ALGORITHMS;

export function hmacWith(key: Buffer, algorithm: HmacAlgorithm, input: Buffer): Buffer {
  return createHmac(HMAC_ALGORITHMS[algorithm], key).update(input).digest();
}

/** Exported form of a version's material: base64 for symmetric keys, PKCS#8 PEM for signing keys. */
export function exportMaterial(type: KeyType, material: Buffer): string {
  if (!isSigningType(type)) return material.toString('base64');
  return privateKeyOf(type, material).export({ format: 'pem', type: 'pkcs8' }).toString();
}

import { createECDH, createHash, createHmac, ECDH, randomBytes } from 'node:crypto';

/**
 * An oblivious PRF over P-256 (the "2HashDH" construction): the scanner learns
 * F(k, x) = HMAC-SHA256(key = x-coordinate of k·H(x), message = x) for a candidate string x
 * without the server seeing x and without the client learning k.
 *
 *   client:  P = H(x) (hash to curve), r random, sends B = r·P
 *   server:  returns E = k·B               (B is a uniformly random point: it says nothing about x)
 *   client:  U = r⁻¹·E = k·P, F = HMAC(x(U), x)
 *
 * The server computes the same F for the values it holds (it knows k), so matching is a set
 * lookup. Only x-coordinates are exchanged: scalar multiplication commutes with negation, so
 * x(r⁻¹·(±Q)) is the same for both signs and the 0x02 prefix can always be used. Node's ECDH
 * `computeSecret` is the native scalar multiplication (it validates that the point lies on the
 * curve), the only arithmetic done in BigInt is the hash-to-curve test and r⁻¹ mod n.
 */
const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const H2C_TAG = Buffer.from('custos-scan-h2c-v1\0');
const F_TAG = 'custos-scan-fingerprint-v1\0';

/** A compressed P-256 point is 33 bytes: 02|03 then the x-coordinate. */
export const POINT_BYTES = 33;

function modInverse(a: bigint, m: bigint): bigint {
  let [r0, r1] = [a % m, m];
  let [s0, s1] = [1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return ((s0 % m) + m) % m;
}

const toBytes32 = (n: bigint) => Buffer.from(n.toString(16).padStart(64, '0'), 'hex');
const toBigInt = (bytes: Buffer) => BigInt('0x' + bytes.toString('hex'));
const P_BYTES = toBytes32(P);
const COMPRESSED_EVEN = Buffer.from([2]);

/**
 * Hash to curve by try-and-increment: the first counter whose hash (mod p) is an x-coordinate on
 * the curve, i.e. x³ − 3x + b is a square mod p. Nobody learns the point's discrete log, which is
 * what the construction needs. The test is OpenSSL's point decompression, which succeeds exactly
 * for such x (P-256 has no point with y = 0); it is several times faster than Euler's criterion
 * in BigInt, and a full index build runs it for every field of every CURRENT and PREVIOUS value.
 * Its running time depends on the input, which only the party holding the input observes.
 */
export function hashToPoint(input: string | Buffer): Buffer {
  for (let counter = 0; counter < 256; counter++) {
    const digest = createHash('sha256').update(H2C_TAG).update(Buffer.from([counter])).update(input).digest();
    // A digest at or above p (probability about 2^-32) is reduced, as x = digest mod p says.
    const x = Buffer.compare(digest, P_BYTES) >= 0 ? toBytes32(toBigInt(digest) % P) : digest;
    const point = Buffer.concat([COMPRESSED_EVEN, x]);
    if (isXCoordinate(point)) return point;
  }
  throw new Error('hash to curve failed'); // probability 2^-256
}

function isXCoordinate(compressed: Buffer): boolean {
  try {
    ECDH.convertKey(compressed, 'prime256v1');
    return true;
  } catch {
    return false;
  }
}

/** Scalar multiplication k·Q, returned compressed with the 02 prefix (see the sign note above). */
export function multiply(ecdh: ECDH, scalar: bigint, point: Buffer): Buffer {
  // Setting a key also computes its public point: skipped when the context already holds this scalar (the server's k, every time).
  if (scalarSet.get(ecdh) !== scalar) {
    ecdh.setPrivateKey(toBytes32(scalar));
    scalarSet.set(ecdh, scalar);
  }
  return Buffer.concat([COMPRESSED_EVEN, ecdh.computeSecret(point)]);
}
const scalarSet = new WeakMap<ECDH, bigint>();

/** A fresh ECDH context (reuse it: creating one costs more than a multiplication). */
export function curve(): ECDH {
  return createECDH('prime256v1');
}

/** The server's OPRF scalar, derived from its 32-byte keyring key (never 0). */
export function scalarFromKey(key: Buffer): bigint {
  return (toBigInt(createHmac('sha256', key).update('custos-scan-oprf-scalar-v1').digest()) % (N - 1n)) + 1n;
}

/** Client step 1: blind a candidate. Keep `r` to finalize; send `blinded`. */
export function blind(ecdh: ECDH, input: string): { blinded: Buffer; r: bigint } {
  const r = (toBigInt(randomBytes(32)) % (N - 1n)) + 1n;
  return { blinded: multiply(ecdh, r, hashToPoint(input)), r };
}

/** Server step: k·B. Throws if `blinded` is not a point on the curve. */
export function evaluate(ecdh: ECDH, k: bigint, blinded: Buffer): Buffer {
  return multiply(ecdh, k, blinded);
}

/** Client step 2: unblind and hash into the fingerprint (64 hex chars). */
export function finalize(ecdh: ECDH, input: string, r: bigint, evaluated: Buffer): string {
  const unblinded = multiply(ecdh, modInverse(r, N), evaluated);
  return fingerprintFromPoint(input, unblinded);
}

/** What the server stores for a value it holds: the same F, computed directly with k. */
export function fingerprint(ecdh: ECDH, k: bigint, input: string): string {
  return fingerprintFromPoint(input, multiply(ecdh, k, hashToPoint(input)));
}

function fingerprintFromPoint(input: string, point: Buffer): string {
  return createHmac('sha256', point.subarray(1)).update(F_TAG).update(input).digest('hex');
}

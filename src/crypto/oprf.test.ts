import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { blind, curve, evaluate, finalize, fingerprint, hashToPoint, scalarFromKey } from './oprf.js';

test('the unblinded client fingerprint equals the server-side one, and blinding hides the input', () => {
  const ecdh = curve();
  const k = scalarFromKey(randomBytes(32));
  const input = 'correct horse battery staple';
  const a = blind(ecdh, input);
  const b = blind(ecdh, input);
  assert.notDeepEqual(a.blinded, b.blinded, 'the same input blinds to unrelated points');
  assert.notDeepEqual(a.blinded, hashToPoint(input));
  const fa = finalize(ecdh, input, a.r, evaluate(ecdh, k, a.blinded));
  const fb = finalize(ecdh, input, b.r, evaluate(ecdh, k, b.blinded));
  assert.equal(fa, fb);
  assert.equal(fa, fingerprint(ecdh, k, input));
  assert.match(fa, /^[0-9a-f]{64}$/);
});

test('fingerprints depend on the key and the input', () => {
  const ecdh = curve();
  const k1 = scalarFromKey(randomBytes(32));
  const k2 = scalarFromKey(randomBytes(32));
  assert.notEqual(fingerprint(ecdh, k1, 'x-value-1'), fingerprint(ecdh, k2, 'x-value-1'));
  assert.notEqual(fingerprint(ecdh, k1, 'x-value-1'), fingerprint(ecdh, k1, 'x-value-2'));
});

test('evaluate refuses a point that is not on the curve', () => {
  const ecdh = curve();
  const k = scalarFromKey(randomBytes(32));
  assert.throws(() => evaluate(ecdh, k, Buffer.from('02' + 'f'.repeat(64), 'hex')));
});

/** The definition: x = SHA-256(tag | counter | input) mod p is taken when x³ − 3x + b is a square mod p (Euler's criterion), in BigInt. */
function hashToPointByDefinition(input: string): Buffer {
  const p = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
  const b = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;
  const pow = (base: bigint, e: bigint) => {
    let result = 1n;
    for (let x = base % p; e > 0n; e >>= 1n, x = (x * x) % p) if (e & 1n) result = (result * x) % p;
    return result;
  };
  for (let counter = 0; counter < 256; counter++) {
    const digest = createHash('sha256').update('custos-scan-h2c-v1\0').update(Buffer.from([counter])).update(input).digest();
    const x = BigInt('0x' + digest.toString('hex')) % p;
    const rhs = ((((x * x) % p) * x - 3n * x + b) % p + p) % p;
    if (rhs === 0n || pow(rhs, (p - 1n) / 2n) === 1n) return Buffer.from('02' + x.toString(16).padStart(64, '0'), 'hex');
  }
  throw new Error('unreachable');
}

test('hash to curve is the definition: the same point for 1,000 inputs, about half of them past counter 0', () => {
  let retried = 0;
  for (let i = 0; i < 1000; i++) {
    const input = `value-${i}-${randomBytes(4).toString('hex')}`;
    const expected = hashToPointByDefinition(input);
    assert.deepEqual(hashToPoint(input), expected, input);
    const first = createHash('sha256').update('custos-scan-h2c-v1\0').update(Buffer.from([0])).update(input).digest();
    if (!expected.subarray(1).equals(first)) retried++;
  }
  assert.ok(retried > 300 && retried < 700, `${retried} inputs needed a second counter`);
});

test('fingerprints stay what stored indexes and released scanners hold (known answer)', () => {
  const k = scalarFromKey(Buffer.alloc(32, 7));
  assert.equal(hashToPoint('correct horse battery staple').toString('hex'), '02326b672f9dff919c7f7b56a037eff93ee44515e166d6044fcde1fadada408bfc');
  assert.equal(fingerprint(curve(), k, 'correct horse battery staple'), '8523f647e433359caea43aaae6cf1c4d3ddf51f7da11c657a72d909795cf2c43');
});

test('one context serves the server key and client blinds in turn without mixing them up', () => {
  const ecdh = curve();
  const k = scalarFromKey(randomBytes(32));
  const server = fingerprint(ecdh, k, 'shared-context-value');
  const { blinded, r } = blind(ecdh, 'shared-context-value');
  assert.equal(finalize(ecdh, 'shared-context-value', r, evaluate(ecdh, k, blinded)), server);
  assert.equal(fingerprint(ecdh, k, 'shared-context-value'), server, 'k set again after the blind and finalize scalars');
});

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
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

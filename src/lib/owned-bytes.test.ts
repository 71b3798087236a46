import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ownedCopy } from './owned-bytes.js';

test('a small buffer from Buffer.from shares a larger slab; its owned copy does not', () => {
  const pooled = Buffer.from('a 32-byte data key, or so......!');
  assert.ok(pooled.buffer.byteLength > pooled.length, 'precondition: Node pools small buffers');
  const owned = ownedCopy(pooled);
  assert.equal(owned.buffer.byteLength, pooled.length);
  assert.equal(owned.byteOffset, 0);
  assert.ok(owned.equals(pooled));
  pooled.fill(0);
  assert.equal(owned.toString(), 'a 32-byte data key, or so......!', 'the copy does not share bytes with its source');
});

test('an empty buffer copies to an empty buffer', () => {
  assert.equal(ownedCopy(Buffer.alloc(0)).length, 0);
});

import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { hmacSha256, hmacSha256Hex, hmacSha256Key, sha256Hex } from './hmac.js';

test('hmacSha256 equals createHmac for keys and messages of every shape', () => {
  const keys: (Buffer | string)[] = [Buffer.alloc(0), randomBytes(1), randomBytes(32), randomBytes(64), randomBytes(65), randomBytes(200), 'AWS4secret', 'ключ'];
  const messages: (Buffer | string)[] = ['', 'a', 'x'.repeat(55), 'x'.repeat(56), 'x'.repeat(64), 'x'.repeat(1000), 'naïve ✓ 𝄞', randomBytes(300), randomBytes(5000)];
  for (const key of keys) {
    const padded = hmacSha256Key(key);
    for (const message of messages) {
      const expected = createHmac('sha256', key).update(message).digest();
      assert.deepEqual(hmacSha256(padded, message), expected);
      assert.equal(hmacSha256Hex(padded, message), expected.toString('hex'));
    }
  }
});

test('RFC 4231 test case 2', () => {
  assert.equal(hmacSha256Hex(hmacSha256Key('Jefe'), 'what do ya want for nothing?'), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
});

test('sha256Hex equals createHash', () => {
  for (const data of ['', 'abc', randomBytes(1000)]) assert.equal(sha256Hex(data), createHash('sha256').update(data).digest('hex'));
});

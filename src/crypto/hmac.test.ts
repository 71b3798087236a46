import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { hmacSha256Hex, hmacSha256Key, sha256Hex, timingSafeEqualHex } from './hmac.js';

test('hmacSha256Hex equals createHmac for keys and messages of every shape', () => {
  const keys: (Buffer | string)[] = [Buffer.alloc(0), randomBytes(1), randomBytes(32), randomBytes(64), randomBytes(65), randomBytes(200), 'AWS4secret', 'ключ'];
  const messages: (Buffer | string)[] = ['', 'a', 'x'.repeat(55), 'x'.repeat(56), 'x'.repeat(64), 'x'.repeat(1000), 'naïve ✓ 𝄞', randomBytes(300), randomBytes(5000),
    // Past the reused scratch space (16 KiB): a fresh buffer is taken.
    'é'.repeat(6000), randomBytes(20_000), Buffer.alloc(16 * 1024 - 1, 7)];
  for (const key of keys) {
    const padded = hmacSha256Key(key);
    for (const message of messages) {
      assert.equal(hmacSha256Hex(padded, message), createHmac('sha256', key).update(message).digest('hex'));
    }
  }
});

test('a MAC leaves nothing in the reused scratch space that changes the next one', () => {
  const key = hmacSha256Key('k');
  const first = hmacSha256Hex(key, 'first-but-longer-than-the-second');
  hmacSha256Hex(hmacSha256Key('other'), 'second'.repeat(100));
  assert.equal(hmacSha256Hex(key, 'first-but-longer-than-the-second'), first);
  assert.equal(hmacSha256Hex(key, 'short'), createHmac('sha256', 'k').update('short').digest('hex'), 'a shorter message after a longer one');
});

test('RFC 4231 test case 2', () => {
  assert.equal(hmacSha256Hex(hmacSha256Key('Jefe'), 'what do ya want for nothing?'), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
});

test('sha256Hex equals createHash', () => {
  for (const data of ['', 'abc', randomBytes(1000)]) assert.equal(sha256Hex(data), createHash('sha256').update(data).digest('hex'));
});

test('timingSafeEqualHex tells equal MACs from different ones, including a last-character difference', () => {
  const mac = hmacSha256Hex(hmacSha256Key('k'), 'm');
  assert.equal(timingSafeEqualHex(mac, hmacSha256Hex(hmacSha256Key('k'), 'm')), true);
  assert.equal(timingSafeEqualHex(mac, mac.slice(0, -1) + (mac.endsWith('0') ? '1' : '0')), false);
  assert.equal(timingSafeEqualHex(mac, mac.slice(1)), false);
  assert.equal(timingSafeEqualHex('', ''), true);
});

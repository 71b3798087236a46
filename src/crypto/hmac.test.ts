import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { hmacSha256Hex, hmacSha256Key, sha256Hex, timingSafeEqualHex } from './hmac.js';

test('keys longer than a block, empty keys and long messages give the same MAC as a fresh createHmac', () => {
  for (const key of [Buffer.alloc(0), randomBytes(65), 'ключ']) {
    for (const message of ['', 'naïve ✓ 𝄞', randomBytes(20_000)]) {
      assert.equal(hmacSha256Hex(hmacSha256Key(key), message), createHmac('sha256', key).update(message).digest('hex'));
    }
  }
});

// RFC 4231 section 4, HMAC-SHA-256 (case 5's output is truncated to 128 bits by the RFC).
const rfc4231: [name: string, key: Buffer, data: Buffer, mac: string][] = [
  ['case 1', Buffer.alloc(20, 0x0b), Buffer.from('Hi There'), 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7'],
  ['case 2', Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?'), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'],
  ['case 3', Buffer.alloc(20, 0xaa), Buffer.alloc(50, 0xdd), '773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe'],
  ['case 4', Buffer.from(Array.from({ length: 25 }, (_, i) => i + 1)), Buffer.alloc(50, 0xcd), '82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b'],
  ['case 5', Buffer.alloc(20, 0x0c), Buffer.from('Test With Truncation'), 'a3b6167473100ee06e0c796c2955552b'],
  ['case 6', Buffer.alloc(131, 0xaa), Buffer.from('Test Using Larger Than Block-Size Key - Hash Key First'), '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54'],
  ['case 7', Buffer.alloc(131, 0xaa), Buffer.from('This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.'), '9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2'],
];
for (const [name, key, data, mac] of rfc4231) {
  test(`RFC 4231 ${name}`, () => {
    assert.equal(hmacSha256Hex(hmacSha256Key(key), data).slice(0, mac.length), mac);
  });
}

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

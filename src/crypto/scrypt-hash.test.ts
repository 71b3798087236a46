import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashPassword, verifyPassword } from './scrypt-hash.js';

test('scrypt hashes: salted, verifiable, and malformed or tampered hashes never verify', async () => {
  const a = await hashPassword('a long enough password');
  const b = await hashPassword('a long enough password');
  assert.notEqual(a, b, 'salted');
  assert.match(a, /^scrypt\$32768\$8\$1\$/);
  assert.ok(!a.includes('a long enough password'));
  assert.equal(await verifyPassword('a long enough password', a), true);
  assert.equal(await verifyPassword('a long enough passwor', a), false);
  const parts = a.split('$');
  parts[5] = Buffer.from('x'.repeat(32)).toString('base64url');
  assert.equal(await verifyPassword('a long enough password', parts.join('$')), false);
  for (const bad of ['', 'plain', 'scrypt$1$1$1$x', `scrypt$${2 ** 22}$8$1$AA$AA`]) assert.equal(await verifyPassword('x', bad), false);
});

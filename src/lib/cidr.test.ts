import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidrs } from './cidr.js';

test('CIDR sets match IPv4, IPv4-mapped IPv6 and IPv6, and refuse malformed blocks', () => {
  const set = parseCidrs(['10.0.0.0/8', '127.0.0.1', 'fd00::/8']);
  assert.equal(set.contains('10.1.2.3'), true);
  assert.equal(set.contains('::ffff:10.1.2.3'), true);
  assert.equal(set.contains('127.0.0.1'), true);
  assert.equal(set.contains('127.0.0.2'), false);
  assert.equal(set.contains('fd12::1'), true);
  assert.equal(set.contains('11.0.0.1'), false);
  assert.equal(set.contains(undefined), false);
  assert.equal(set.contains('not-an-ip'), false);
  for (const bad of ['10.0.0.0/33', '10.0.0/8', 'x/8', '10.0.0.0/8/1', '10.0.0.0/-1', '']) assert.throws(() => parseCidrs([bad]), /CIDR|prefix/);
});

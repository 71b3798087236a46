import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBoundedCache } from './bounded-cache.js';

test('a full cache evicts the least recently used entry, by count or by bytes, and hands each leaving entry to onEvict', () => {
  const left: string[] = [];
  const byCount = createBoundedCache<{ id: string }>({ maxEntries: 2, onEvict: (v) => left.push(v.id) });
  byCount.set('a', { id: 'a' });
  byCount.set('b', { id: 'b' });
  byCount.get('a');
  byCount.set('c', { id: 'c' });
  assert.deepEqual(byCount.keys(), ['c', 'a']);
  byCount.set('a', { id: 'a2' });
  byCount.clear();
  assert.deepEqual(left.slice(0, 2), ['b', 'a'], 'evicted, then replaced');
  assert.deepEqual(left.slice(2).sort(), ['a2', 'c'], 'cleared');
  assert.equal(byCount.size, 0);

  const byBytes = createBoundedCache<Buffer>({ maxBytes: 10, sizeOf: (b) => b.length });
  byBytes.set('a', Buffer.alloc(4));
  byBytes.set('b', Buffer.alloc(4));
  byBytes.get('a');
  byBytes.set('c', Buffer.alloc(4));
  assert.deepEqual(byBytes.keys(), ['c', 'a']);
});

test('a cache needs a bound', () => {
  assert.throws(() => createBoundedCache({}));
  assert.throws(() => createBoundedCache({ maxBytes: 10 }));
});

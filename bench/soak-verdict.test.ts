import assert from 'node:assert/strict';
import { test } from 'node:test';
import { memoryVerdict, slope, warmupMinutes } from './soak-verdict.js';

test('slope is the least-squares growth per minute', () => {
  assert.equal(slope([[0, 10], [1, 12], [2, 14]]), 2);
  assert.equal(slope([[3, 50]]), 0);
});

test('warm-up is 5 minutes, or a third of a short run', () => {
  assert.equal(warmupMinutes(30), 5);
  assert.equal(warmupMinutes(10), 3);
  assert.equal(warmupMinutes(2), 1);
});

test('a steadily growing RSS after warm-up is not flat, even when the heap is', () => {
  const samples = Array.from({ length: 40 }, (_, i) => ({ minute: i / 4, rssMb: 100 + (i / 4) * 2, heapMb: 30 + (i % 2) }));
  const verdict = memoryVerdict(samples, 10);
  assert.equal(verdict.flat, false);
  assert.ok(Math.abs(verdict.rssSlope - 2) < 1e-9);
});

test('growth during warm-up alone still counts as flat', () => {
  const samples = Array.from({ length: 40 }, (_, i) => ({ minute: i / 4, rssMb: i < 12 ? 50 + i * 5 : 110 + (i % 3) * 0.5, heapMb: 30 }));
  assert.equal(memoryVerdict(samples, 10).flat, true);
});

test('too few samples after warm-up cannot be called flat', () => {
  assert.equal(memoryVerdict([{ minute: 4, rssMb: 1, heapMb: 1 }], 10).flat, false);
});

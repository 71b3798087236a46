import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CustosApiError } from '../sdk/api-client.js';
import { StaleLimitExceededError } from '../sdk/client-errors.js';
import { cacheKey, createSecretCache } from './secret-cache.js';

const HOUR = 3600_000;
const unreachable = () => new CustosApiError('unreachable', 'cannot reach Custos', 0, null);

function setup() {
  let clock = 1_000_000;
  const cache = createSecretCache({ maxBytes: 1024 * 1024, maxStaleMs: 24 * HOUR, now: () => clock, outageBackoffMs: 0 });
  cache.setLive(true);
  return { cache, advance: (ms: number) => (clock += ms) };
}

test('single flight: 1,000 simultaneous reads of one key make one upstream call', async () => {
  const { cache } = setup();
  let calls = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const fetch = async () => {
    calls += 1;
    await gate;
    return { name: 'a', value: 'v1' };
  };
  const reads = Array.from({ length: 1000 }, () => cache.read(cacheKey('v', 'a', 'l:CURRENT'), 'a', fetch));
  release();
  const served = await Promise.all(reads);
  assert.equal(calls, 1);
  assert.ok(served.every((s) => s.body.value === 'v1' && s.staleSeconds === null));
  // Valid while the feed is live: the next read is served without asking.
  await cache.read(cacheKey('v', 'a', 'l:CURRENT'), 'a', fetch);
  assert.equal(calls, 1);
});

test('a change event during a fetch leaves the fetched entry needing confirmation', async () => {
  const { cache } = setup();
  let calls = 0;
  const key = cacheKey('v', 'a', 'l:CURRENT');
  const first = cache.read(key, 'a', async () => {
    calls += 1;
    cache.invalidate('a'); // the event arrives while the old value is on its way
    return { value: 'old' };
  });
  assert.equal((await first).body.value, 'old');
  const second = await cache.read(key, 'a', async () => {
    calls += 1;
    return { value: 'new' };
  });
  assert.equal(second.body.value, 'new');
  assert.equal(calls, 2);
});

test('stale-if-error: an outage serves the last value with its age, until max_stale', async () => {
  const { cache, advance } = setup();
  const key = cacheKey('v', 'a', 'l:CURRENT');
  await cache.read(key, 'a', async () => ({ value: 'v1' }));
  advance(10_000);
  cache.setLive(false); // the feed is lost: the value was known good until now
  advance(5_000);
  const stale = await cache.read(key, 'a', async () => {
    throw unreachable();
  });
  assert.deepEqual([stale.body.value, stale.staleSeconds], ['v1', 5]);
  advance(24 * HOUR);
  await assert.rejects(cache.read(key, 'a', async () => {
    throw unreachable();
  }), StaleLimitExceededError);
  // Never cached: nothing is invented.
  await assert.rejects(cache.read(cacheKey('v', 'b', 'l:CURRENT'), 'b', async () => {
    throw unreachable();
  }), (e: Error & { code?: string }) => e.code === 'unreachable');
});

test('a refusal drops the entry: it is not served later, not even during an outage', async () => {
  const { cache } = setup();
  const key = cacheKey('v', 'a', 'l:CURRENT');
  await cache.read(key, 'a', async () => ({ value: 'v1' }));
  cache.invalidateAll();
  await assert.rejects(cache.read(key, 'a', async () => {
    throw new CustosApiError('permission_denied', 'not allowed', 403, null);
  }), (e: Error & { code?: string }) => e.code === 'permission_denied');
  await assert.rejects(cache.read(key, 'a', async () => {
    throw unreachable();
  }), (e: Error & { code?: string }) => e.code === 'unreachable');
  assert.equal(cache.snapshot().length, 0);
});

test('a deleted secret is dropped at once; a reset or a lost feed only invalidates', async () => {
  const { cache } = setup();
  await cache.read(cacheKey('v', 'a', 'l:CURRENT'), 'a', async () => ({ value: 'a' }));
  await cache.read(cacheKey('d', 'a'), 'a', async () => ({ name: 'a' }));
  await cache.read(cacheKey('v', 'b', 'l:CURRENT'), 'b', async () => ({ value: 'b' }));
  cache.drop('a');
  assert.deepEqual(cache.snapshot().map(([k]) => k), [cacheKey('v', 'b', 'l:CURRENT')]);
  cache.invalidateAll();
  assert.equal(cache.snapshot()[0]![1].valid, false);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLocalChangeBus } from '../../lib/change-bus.js';
import { createCurrentHold } from './current-hold.js';

/** Resolves to 'released' if `p` settles before the bus/clock events the test fires next, else stays pending. */
const state = async (p: Promise<void> | null) => {
  if (p === null) return 'not held';
  let done = false;
  void p.then(() => (done = true));
  await new Promise((r) => setImmediate(r));
  return done ? 'released' : 'waiting';
};

test('nothing held: the read path gets null synchronously (no promise, no tick)', () => {
  const hold = createCurrentHold({ changes: createLocalChangeBus(), maxWaitMs: 2000 });
  assert.equal(hold.waitIfHeld('us-east-1', 'prod/db'), null);
});

test('a held CURRENT read waits until the release, on this node and on one that only hears the bus', async () => {
  const changes = createLocalChangeBus();
  const driver = createCurrentHold({ changes, maxWaitMs: 60_000 });
  const reader = createCurrentHold({ changes, maxWaitMs: 60_000 }); // another node's view of the same bus
  await driver.hold('us-east-1', 'prod/db');
  const here = driver.waitIfHeld('us-east-1', 'prod/db');
  const there = reader.waitIfHeld('us-east-1', 'prod/db');
  assert.equal(reader.waitIfHeld('us-east-1', 'prod/other'), null, 'only the rotated secret is held');
  assert.equal(await state(here), 'waiting');
  assert.equal(await state(there), 'waiting');
  driver.release('us-east-1', 'prod/db');
  assert.equal(await state(here), 'released');
  assert.equal(await state(there), 'released');
  assert.equal(reader.waitIfHeld('us-east-1', 'prod/db'), null);
});

test('a bus reconnect (key *) drops every hold, so a missed release never leaves reads waiting', async () => {
  const changes = createLocalChangeBus();
  const hold = createCurrentHold({ changes, maxWaitMs: 60_000 });
  await hold.hold('us-east-1', 'prod/db');
  const waiting = hold.waitIfHeld('us-east-1', 'prod/db');
  await changes.publish('rotation', '*');
  assert.equal(await state(waiting), 'released');
});

test('the wait is bounded by maxWaitMs, and a hold nobody releases ends after maxHoldMs', async () => {
  let clock = 1_000;
  const hold = createCurrentHold({ changes: createLocalChangeBus(), maxWaitMs: 5, maxHoldMs: 100, now: () => clock });
  await hold.hold('us-east-1', 'prod/db');
  await hold.waitIfHeld('us-east-1', 'prod/db'); // resolves by its bound (the old CURRENT is read then)
  clock += 100;
  assert.equal(hold.waitIfHeld('us-east-1', 'prod/db'), null, 'expired');
});

test('maxWaitMs 0 turns holding off', async () => {
  const hold = createCurrentHold({ changes: createLocalChangeBus(), maxWaitMs: 0 });
  await hold.hold('us-east-1', 'prod/db');
  assert.equal(hold.waitIfHeld('us-east-1', 'prod/db'), null);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rotationHealth } from './rotation-health.js';

const run = (patch: Partial<Parameters<typeof rotationHealth>[0] & object>) => ({ status: 'succeeded' as const, error: null, lease_until: null, next_attempt_at: null, updated_at: 1000, ...patch });

test('failed, rolling back, retrying and stuck runs are failing; healthy ones are not', () => {
  assert.equal(rotationHealth(undefined, 5000).failing, null);
  assert.equal(rotationHealth(run({}), 5000).failing, null);
  assert.deepEqual(rotationHealth(run({ status: 'failed', error: 'the rotation command exited with 3 at step set' }), 5000),
    { failing: 'failed', error: 'the rotation command exited with 3 at step set', since: 1000 });
  assert.equal(rotationHealth(run({ status: 'rolling_back', error: 'test failed' }), 5000).failing, 'rolling_back');
  assert.equal(rotationHealth(run({ status: 'running', error: 'connection refused', next_attempt_at: 9000 }), 5000).failing, 'retrying');
  assert.equal(rotationHealth(run({ status: 'running', lease_until: 4000 }), 5000).failing, 'stuck');
  assert.equal(rotationHealth(run({ status: 'running', lease_until: 6000 }), 5000).failing, null, 'a run being driven is not stuck');
  assert.equal(rotationHealth(run({ status: 'grace' }), 5000).failing, null);
  const long = rotationHealth(run({ status: 'failed', error: 'x'.repeat(1000) }), 5000).error!;
  assert.equal(long.length, 300);
});

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { retryUntilDone } from './retry.js';

// The retry timers are unref'd (they never keep a server alive): this keeps the test's loop running.
const keepAlive = setInterval(() => undefined, 1000);
after(() => clearInterval(keepAlive));

test('retryUntilDone runs the task until it succeeds, reporting each failure, and stops after', async () => {
  let calls = 0;
  const failures: number[] = [];
  const done = new Promise<void>((resolve) => {
    retryUntilDone(async () => {
      calls += 1;
      if (calls < 3) throw new Error(`failure ${calls}`);
      resolve();
    }, { onError: (_error, attempt) => failures.push(attempt), baseMs: 1, maxMs: 2 });
  });
  await done;
  assert.equal(calls, 3);
  assert.deepEqual(failures, [0, 1]);
});

test('a stopped retry makes no further attempts', async () => {
  let calls = 0;
  let stop = () => undefined as void;
  const failed = new Promise<void>((resolve) => {
    stop = retryUntilDone(async () => {
      calls += 1;
      throw new Error('down');
    }, { onError: () => resolve(), baseMs: 1 });
  });
  await failed;
  stop();
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(calls, 1);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { terminalProgress } from './progress.js';

/** A stand-in for stderr: what was written, and whether it claims to be a terminal. */
function stream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, s: { isTTY, write: (text: string) => writes.push(text) > 0 } as unknown as NodeJS.WriteStream };
}

test('progress draws only on a terminal, in place, and clears its line; a pipe gets nothing', () => {
  const before = process.env.CUSTOS_PROGRESS;
  delete process.env.CUSTOS_PROGRESS;
  try {
    const tty = stream(true);
    const p = terminalProgress('importing', tty.s);
    p.update(0, 2, 'prod/a');
    p.update(2, 2);
    p.stop();
    assert.deepEqual(tty.writes, ['\r\x1b[2Kimporting: 0/2 (0%) prod/a', '\r\x1b[2Kimporting: 2/2 (100%)', '\r\x1b[2K']);
    const pipe = stream(false);
    const q = terminalProgress('importing', pipe.s);
    q.update(1, 1);
    q.elapsed();
    q.stop();
    assert.deepEqual(pipe.writes, []);
    process.env.CUSTOS_PROGRESS = 'always';
    const forced = stream(false);
    terminalProgress('saving', forced.s).update(5, 5, 'rows');
    assert.deepEqual(forced.writes, ['saving: 5/5 (100%) rows\n']);
    process.env.CUSTOS_PROGRESS = 'never';
    const off = stream(true);
    terminalProgress('saving', off.s).update(5, 5);
    assert.deepEqual(off.writes, []);
  } finally {
    if (before === undefined) delete process.env.CUSTOS_PROGRESS;
    else process.env.CUSTOS_PROGRESS = before;
  }
});

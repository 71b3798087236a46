import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readCheckpointsBefore } from './audit-checkpoints.js';

const line = (seq: number) => JSON.stringify({ v: 1, seq, hash: 'a'.repeat(64), time: 1_700_000_000_000 + seq, node: 'local', key: '0123456789abcdef', sig: 'c2ln' });

test('pages of checkpoints newest first, across chunk boundaries, skipping torn and foreign lines', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'custos-cp-'));
  try {
    const file = path.join(dir, 'checkpoints.jsonl');
    // ~1,000 lines of ~220 bytes: several 64 KiB chunks, so lines straddle chunk starts.
    const lines = Array.from({ length: 1000 }, (_, i) => line((i + 1) * 3));
    lines.splice(500, 0, 'not json', '{"v":2}');
    writeFileSync(file, lines.join('\n') + '\n{"v":1,"seq":30');
    const first = readCheckpointsBefore(file, Number.MAX_SAFE_INTEGER, 5);
    assert.deepEqual(first.map((c) => c.seq), [3000, 2997, 2994, 2991, 2988]);
    const deep = readCheckpointsBefore(file, 1503, 4);
    assert.deepEqual(deep.map((c) => c.seq), [1500, 1497, 1494, 1491]);
    const all = readCheckpointsBefore(file, Number.MAX_SAFE_INTEGER, 5000);
    assert.equal(all.length, 1000, 'every whole line once, none lost at a chunk boundary');
    assert.deepEqual(readCheckpointsBefore(file, 3, 10), []);
    assert.deepEqual(readCheckpointsBefore(path.join(dir, 'missing.jsonl'), 10, 10), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

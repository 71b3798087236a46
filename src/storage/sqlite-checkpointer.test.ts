import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import SqliteDatabase from 'better-sqlite3';
import { startSqliteCheckpointer } from './sqlite-checkpointer.js';

test('the checkpoint worker copies the WAL into the database while the writer never checkpoints', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'custos-ckpt-'));
  const file = path.join(dir, 'db.sqlite');
  const writer = new SqliteDatabase(file);
  const errors: Error[] = [];
  const checkpointer = startSqliteCheckpointer(file, { intervalMs: 20, onError: (e) => errors.push(e) });
  try {
    writer.pragma('journal_mode = WAL');
    writer.pragma('wal_autocheckpoint = 0'); // only the worker checkpoints here
    writer.exec('create table t (id integer primary key, body text not null)');
    const insert = writer.prepare('insert into t (body) values (?)');
    const sizeBefore = statSync(file).size;
    for (let batch = 0; batch < 20; batch++) writer.transaction(() => { for (let i = 0; i < 50; i++) insert.run('x'.repeat(500)); })();

    // The request thread keeps running while the worker works.
    const deadline = Date.now() + 10_000;
    while (checkpointer.stats().checkpoints === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const stats = checkpointer.stats();
    assert.ok(stats.checkpoints > 0, 'the worker checkpointed');
    assert.ok(stats.checkpointedFrames > 0 && stats.checkpointedFrames <= stats.walFrames);
    assert.ok(statSync(file).size > sizeBefore + 400_000, 'the rows reached the database file');
    // Everything the writer committed is in the database file: a checkpoint now has nothing to copy.
    const [rest] = writer.pragma('wal_checkpoint(PASSIVE)') as { log: number; checkpointed: number }[];
    assert.equal(rest!.checkpointed, rest!.log);
    assert.deepEqual(errors, []);
  } finally {
    await checkpointer.close();
    writer.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a checkpoint failure is reported, not thrown into the request thread', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'custos-ckpt-'));
  const errors: Error[] = [];
  // A directory is not a database: the worker cannot open it.
  const checkpointer = startSqliteCheckpointer(dir, { intervalMs: 20, onError: (e) => errors.push(e) });
  try {
    const deadline = Date.now() + 10_000;
    while (errors.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.ok(errors.length > 0);
  } finally {
    await checkpointer.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

import { parentPort, workerData } from 'node:worker_threads';
import SqliteDatabase from 'better-sqlite3';

/**
 * Worker-thread side of sqlite-checkpointer.ts: its own connection, a PASSIVE checkpoint every
 * interval. PASSIVE never waits for and never blocks readers or writers; it copies what it can.
 */
const { file, intervalMs } = workerData as { file: string; intervalMs: number };
const port = parentPort!;
const sqlite = new SqliteDatabase(file);
// Checkpoints fsync the WAL before copying and the database after: that is the point of doing them here.
sqlite.pragma('synchronous = FULL');

function checkpoint(): void {
  try {
    const [result] = sqlite.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[];
    if (result && result.checkpointed > 0) port.postMessage({ type: 'checkpoint', log: result.log, checkpointed: result.checkpointed });
  } catch (error) {
    port.postMessage({ type: 'error', message: (error as Error).message });
  }
}

const timer = setInterval(checkpoint, intervalMs);
port.on('message', (message: unknown) => {
  if (message !== 'close') return;
  clearInterval(timer);
  checkpoint();
  sqlite.close();
  port.close();
});

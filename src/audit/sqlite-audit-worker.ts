import { parentPort, workerData } from 'node:worker_threads';
import { openSqliteAuditWriter } from '../storage/sqlite-audit-writer.js';
import { chainRows, GENESIS_HASH, headMac, type AuditEvent } from './audit-chain.js';

/**
 * Worker thread that appends audit batches to SQLite on its own connection, so the insert,
 * index maintenance and commit of every request's event stay off the request thread.
 */
export interface AppendMessage {
  id: number;
  key: Uint8Array;
  /** JSON-encoded AuditEvent[]: one string is several times cheaper to pass than cloning the objects. */
  events: string;
}
export type AppendReply = { id: number; ok: true } | { id: number; ok: false; message: string };

const writer = openSqliteAuditWriter(workerData.file as string, { fsyncEachBatch: workerData.fsyncEachBatch as boolean });

parentPort!.on('message', (message: AppendMessage | 'close') => {
  if (message === 'close') {
    writer.close();
    parentPort!.close();
    return;
  }
  const key = Buffer.from(message.key);
  try {
    const events = JSON.parse(message.events) as AuditEvent[];
    writer.append((head) => ({ rows: chainRows(key, head ?? { seq: 0, hash: GENESIS_HASH }, events), headMac: (seq, hash) => headMac(key, seq, hash) }));
    parentPort!.postMessage({ id: message.id, ok: true } satisfies AppendReply);
  } catch (error) {
    parentPort!.postMessage({ id: message.id, ok: false, message: (error as Error).message } satisfies AppendReply);
  } finally {
    key.fill(0);
  }
});

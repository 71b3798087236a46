import { randomUUID } from 'node:crypto';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import { chainRows, GENESIS_HASH, type AuditEvent } from '../src/audit/audit-chain.js';
import type { AuditRow, AuditStore } from '../src/storage/audit-store.js';
import type { Queryable } from '../src/storage/schema.js';
import { prng } from '../tests/support/prng.js';

export { prng };

/**
 * Audit events for the big-data benchmark: a realistic mix (mostly reads that succeed, some
 * denied and failed requests) over a fixed set of secret names and accessors, spread evenly
 * over a time span, chained with the store's own HMAC chain key (chainRows), and written in
 * large transactions straight through the engine's driver: the server's group-commit path
 * writes at most 64 rows per statement, which is the right shape for live traffic but would
 * take hours for 10^8 rows.
 */
export const AUDIT_SPAN_MS = 395 * 86_400_000; // 13 months, so a one-year query and month partitions make sense
const OPERATIONS = ['secret.read', 'secret.read', 'secret.read', 'secret.read', 'aws.GetSecretValue', 'aws.GetSecretValue', 'secret.write', 'secret.list', 'secret.describe'];

export interface EventShape {
  secretNames: string[];
  accessors: string[];
  /** Time of the first seeded event; the last one is startTime + AUDIT_SPAN_MS. */
  startTime: number;
  total: number;
}


/** Events number `from` .. `from + count - 1` of `shape.total`, oldest first. */
export function makeEvents(shape: EventShape, from: number, count: number, random: () => number): AuditEvent[] {
  const step = AUDIT_SPAN_MS / shape.total;
  const events = new Array<AuditEvent>(count);
  for (let i = 0; i < count; i++) {
    const n = from + i;
    const roll = random();
    const outcome = roll < 0.96 ? 'success' : roll < 0.99 ? 'denied' : 'failure';
    const operation = OPERATIONS[Math.floor(random() * OPERATIONS.length)]!;
    events[i] = {
      time: Math.floor(shape.startTime + n * step),
      requestId: randomUUID(),
      accessor: shape.accessors[Math.floor(random() * shape.accessors.length)]!,
      source: `10.0.${Math.floor(random() * 16)}.${Math.floor(random() * 250) + 1}`,
      operation,
      secretName: operation === 'secret.list' ? null : shape.secretNames[Math.floor(random() * shape.secretNames.length)]!,
      versionId: null,
      outcome,
      errorCode: outcome === 'success' ? null : outcome === 'denied' ? 'permission_denied' : 'storage_unavailable',
      status: outcome === 'success' ? 200 : outcome === 'denied' ? 403 : 503,
      latencyUs: 200 + Math.floor(random() * 3000),
    };
  }
  return events;
}

const COLUMNS = ['seq', 'time', 'request_id', 'accessor', 'source', 'operation', 'secret_name', 'version_id', 'outcome', 'error_code', 'status', 'latency_us', 'detail', 'prev_hash', 'hash'] as const;

export interface RowWriter {
  write(rows: AuditRow[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * SQLite: a connection of its own with a prepared insert, one transaction per batch.
 * synchronous=OFF while seeding only: a crash mid-seed means seeding again, nothing else.
 * The audit table's secondary indexes are dropped for the seed and built again at `close`:
 * rows arrive in seq order, so the table itself grows at its end, while inserting into indexes
 * keyed by secret, accessor or outcome touches pages all over them, which is what slowed the
 * 20M-event seed from 46,000 to 22,000 events/s once they no longer fitted in the cache.
 * Building an index sorts once. Whatever happens, `close` puts the indexes back.
 */
export function sqliteRowWriter(file: string): RowWriter {
  const db = new SqliteDatabase(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -1048576'); // 1 GiB: index builds sort in memory as far as they can
  const indexes = db.prepare(`select name, sql from sqlite_master where type = 'index' and tbl_name = 'audit_events' and sql is not null`).all() as { name: string; sql: string }[];
  for (const index of indexes) db.exec(`drop index "${index.name}"`);
  const insert = db.prepare(`insert into audit_events (${COLUMNS.join(', ')}) values (${COLUMNS.map(() => '?').join(', ')})`);
  const writeAll = db.transaction((rows: AuditRow[]) => {
    for (const r of rows) insert.run(r.seq, r.time, r.request_id, r.accessor, r.source, r.operation, r.secret_name, r.version_id, r.outcome, r.error_code, r.status, r.latency_us, r.detail, r.prev_hash, r.hash);
  });
  return {
    async write(rows) {
      writeAll(rows);
    },
    async close() {
      for (const index of indexes) db.exec(index.sql);
      db.pragma('wal_checkpoint(TRUNCATE)');
      db.close();
    },
  };
}

const PG_TYPES = ['bigint', 'bigint', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'integer', 'bigint', 'text', 'text', 'text'];

/**
 * PostgreSQL: one `insert ... select from unnest(arrays)` per batch (one round trip and one
 * statement for thousands of rows), synchronous_commit off. The next batch is chained while
 * this one is written.
 */
export function postgresRowWriter(config: pg.ClientConfig): RowWriter {
  const client = new pg.Client(config);
  const connected = client.connect().then(() => client.query('set synchronous_commit to off'));
  const text = `insert into audit_events (${COLUMNS.join(', ')}) select * from unnest(${PG_TYPES.map((t, i) => `$${i + 1}::${t}[]`).join(', ')})`;
  let pending: Promise<unknown> = connected;
  return {
    async write(rows) {
      await pending;
      const columns = COLUMNS.map((c) => rows.map((r) => r[c]));
      pending = client.query(text, columns);
    },
    async close() {
      await pending;
      await client.end();
    },
  };
}

/**
 * Chains and writes `shape.total` events after `head`, in batches; returns the new head.
 * `onProgress` gets the number written so far after each batch.
 */
export async function seedEvents(writer: RowWriter, key: Buffer, head: { seq: number; hash: string }, shape: EventShape, onProgress: (written: number) => void, batchSize = 20_000): Promise<{ seq: number; hash: string }> {
  const random = prng(29);
  let current = head;
  for (let from = 0; from < shape.total; from += batchSize) {
    const count = Math.min(batchSize, shape.total - from);
    const rows = chainRows(key, current, makeEvents(shape, from, count, random));
    const last = rows[rows.length - 1]!;
    current = { seq: last.seq, hash: last.hash };
    await writer.write(rows);
    onProgress(from + count);
  }
  return current;
}

/**
 * Re-stamps the few events a freshly initialized store holds (init, unseal) as if they had
 * happened just before `time`, re-chained with the chain key: the seeded history that follows
 * them starts months in the past, and appends keep time in chain order (chainRows), which
 * time-bounded searches rely on. Returns the new head.
 */
export async function restampStoreEvents(q: Queryable, auditStore: AuditStore, key: Buffer, time: number): Promise<{ seq: number; hash: string }> {
  if (await auditStore.anchor(q)) throw new Error('the store was pruned: seed a freshly initialized store');
  const rows = await auditStore.page(q, 0, 1001);
  if (rows.length > 1000) throw new Error('the store already holds many events: seed a freshly initialized store');
  if (rows.some((r, i) => Number(r.seq) !== i + 1)) throw new Error('the store\'s events are not numbered 1..n');
  const events: AuditEvent[] = rows.map((r, i) => ({
    time: time - rows.length + i, requestId: r.request_id, accessor: r.accessor, source: r.source, operation: r.operation, secretName: r.secret_name,
    versionId: r.version_id, outcome: r.outcome as AuditEvent['outcome'], errorCode: r.error_code, status: r.status, latencyUs: Number(r.latency_us),
    ...(r.detail ? { detail: JSON.parse(r.detail) as AuditEvent['detail'] } : {}),
  }));
  const restamped = chainRows(key, { seq: 0, hash: GENESIS_HASH }, events);
  await auditStore.deleteUpTo(q, rows.length);
  await auditStore.insertMany(q, restamped);
  const last = restamped[restamped.length - 1];
  return last ? { seq: last.seq, hash: last.hash } : { seq: 0, hash: GENESIS_HASH };
}

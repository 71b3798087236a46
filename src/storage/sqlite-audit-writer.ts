import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { compileTemplate } from './prepared.js';
import type { AuditRow } from './audit-store.js';
import type { Database } from './schema.js';

const AUDIT_COLUMNS = ['seq', 'time', 'request_id', 'accessor', 'source', 'operation', 'secret_name', 'version_id', 'outcome', 'error_code', 'status', 'latency_us', 'detail', 'prev_hash', 'hash'] as const;

/**
 * A synchronous audit appender on its own SQLite connection. The SQL is Kysely's (compiled
 * once); it runs synchronously inside BEGIN IMMEDIATE, so the head it reads is still the head
 * when it inserts. It runs on the request thread, so an append on a database another connection
 * is writing fails at once with SQLITE_BUSY instead of blocking the thread (the caller retries).
 */
export function openSqliteAuditWriter(file: string, options: { fsyncEachBatch: boolean }) {
  const sqlite = new SqliteDatabase(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma(`synchronous = ${options.fsyncEachBatch ? 'FULL' : 'NORMAL'}`);
  sqlite.pragma('busy_timeout = 0');
  // Checkpoint the WAL every ~40 MB rather than ~4 MB: each checkpoint stalls the connection
  // that runs it (and the requests whose audit batch waits on it), so fewer, larger ones keep
  // the latency tail short.
  sqlite.pragma('wal_autocheckpoint = 10000');
  // Used only to compile SQL; statements run on `sqlite` directly.
  const compiler = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  const checkpoint = compileTemplate(compiler, (q) => q.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1));
  const head = compileTemplate(compiler, (q) => q.selectFrom('audit_events').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1));
  const anchor = compileTemplate(compiler, (q) => q.selectFrom('audit_anchor').select(['seq', 'hash']).where('id', '=', 1));
  // Many-row inserts in chunks of 16, 4 and 1 rows: fewer statement executions per batch.
  const CHUNKS = [16, 4, 1];
  const inserts = new Map(CHUNKS.map((size) => {
    const template = compileTemplate(compiler, (q, p) => q.insertInto('audit_events').values(
      Array.from({ length: size }, (_, i) => Object.fromEntries(AUDIT_COLUMNS.map((c) => [c, p(`${i}.${c}`)]))) as never));
    // Where each (row, column) lands among the statement's parameters, worked out once.
    const flatIndex = Object.fromEntries(Array.from({ length: size }, (_, i) => AUDIT_COLUMNS.map((c, j) => [`${i}.${c}`, i * AUDIT_COLUMNS.length + j])).flat());
    const order = template.bind(flatIndex) as number[];
    return [size, { order, statement: sqlite.prepare(template.sql) }];
  }));
  const setHead = compileTemplate(compiler, (q, p) => q.insertInto('audit_head').values({ id: 1, seq: p('seq'), hash: p('hash'), mac: p('mac') })
    .onConflict((oc) => oc.column('id').doUpdateSet((eb) => ({ seq: eb.ref('excluded.seq'), hash: eb.ref('excluded.hash'), mac: eb.ref('excluded.mac') }))));
  const setHeadStatement = sqlite.prepare(setHead.sql);
  const checkpointStatement = sqlite.prepare(checkpoint.sql);
  const headStatement = sqlite.prepare(head.sql);
  const anchorStatement = sqlite.prepare(anchor.sql);

  const append = sqlite.transaction((build: (head: { seq: number; hash: string } | undefined) => { rows: AuditRow[]; headMac: (seq: number, hash: string) => string }) => {
    // Continue from the checkpoint, not the newest row: a deleted tail then shows up as a gap.
    const current = (checkpointStatement.get(...checkpoint.bind({})) ?? headStatement.get(...head.bind({})) ?? anchorStatement.get(...anchor.bind({}))) as { seq: number; hash: string } | undefined;
    const { rows, headMac } = build(current);
    for (let offset = 0; offset < rows.length;) {
      const size = CHUNKS.find((c) => c <= rows.length - offset)!;
      const values: unknown[] = [];
      for (let i = 0; i < size; i++) {
        const row = rows[offset + i] as unknown as Record<string, unknown>;
        for (const c of AUDIT_COLUMNS) values.push(row[c] ?? null);
      }
      const chunk = inserts.get(size)!;
      chunk.statement.run(...chunk.order.map((k) => values[k]));
      offset += size;
    }
    const last = rows[rows.length - 1];
    if (last) setHeadStatement.run(...setHead.bind({ seq: last.seq, hash: last.hash, mac: headMac(last.seq, last.hash) }));
  });

  return {
    /** Builds rows from the current head (undefined: empty chain) and appends them, and the new head checkpoint, atomically. */
    append(build: (head: { seq: number; hash: string } | undefined) => { rows: AuditRow[]; headMac: (seq: number, hash: string) => string }): void {
      append.immediate(build);
    },
    close(): void {
      sqlite.close();
    },
  };
}

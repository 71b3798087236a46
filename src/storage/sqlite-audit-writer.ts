import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { compileTemplate } from './prepared.js';
import { WAL_BACKSTOP_PAGES } from './sqlite-checkpointer.js';
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
  // Checkpoints belong on the server's checkpoint worker (sqlite-checkpointer.ts); this is the backstop.
  sqlite.pragma(`wal_autocheckpoint = ${WAL_BACKSTOP_PAGES}`);
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
    // Kysely lists the parameters row by row, column by column; if it ever does not, remap.
    const rowMajor = order.every((position, i) => position === i);
    return [size, { order, rowMajor, params: new Array<unknown>(order.length), statement: sqlite.prepare(template.sql) }];
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
      // Reused parameter arrays, bound as an array (no spread): this runs for every audited request.
      const chunk = inserts.get(size)!;
      const params = chunk.params;
      for (let i = 0; i < size; i++) {
        const row = rows[offset + i] as unknown as Record<string, unknown>;
        for (let j = 0; j < AUDIT_COLUMNS.length; j++) params[i * AUDIT_COLUMNS.length + j] = row[AUDIT_COLUMNS[j]!] ?? null;
      }
      chunk.statement.run(chunk.rowMajor ? params : chunk.order.map((k) => params[k]));
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

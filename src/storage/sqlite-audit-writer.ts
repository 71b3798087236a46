import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { compileTemplate } from './prepared.js';
import { WAL_BACKSTOP_PAGES } from './sqlite-checkpointer.js';
import type { AnchorRow, AuditRow } from './audit-store.js';
import type { Database } from './schema.js';

const AUDIT_COLUMNS = ['seq', 'time', 'request_id', 'accessor', 'source', 'operation', 'secret_name', 'version_id', 'outcome', 'error_code', 'status', 'latency_us', 'detail', 'prev_hash', 'hash'] as const;

export interface StoredHeadRow {
  seq: number;
  hash: string;
  mac: string;
  /** The stored hash of the event the head names; null if it is gone. */
  event_hash: string | null;
  /** The time of that event (appends never stamp an earlier one); null if it is gone. */
  event_time: number | null;
}

/** Synchronous reads inside the append transaction, for checking another writer's appends. */
export interface ChainReader {
  range(fromSeq: number, toSeq: number): AuditRow[];
  anchor(): AnchorRow | undefined;
}

export type BuildBatch = (head: StoredHeadRow | undefined, reader: ChainReader) => { rows: AuditRow[]; headMac: (seq: number, hash: string) => string };

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
  const checkpoint = compileTemplate(compiler, (q) => q.selectFrom('audit_head').leftJoin('audit_events', 'audit_events.seq', 'audit_head.seq')
    .select(['audit_head.seq', 'audit_head.hash', 'audit_head.mac', 'audit_events.hash as event_hash', 'audit_events.time as event_time']).where('audit_head.id', '=', 1));
  const range = compileTemplate(compiler, (q, p) => q.selectFrom('audit_events').selectAll().where('seq', '>=', p('from')).where('seq', '<=', p('to')).orderBy('seq'));
  const anchor = compileTemplate(compiler, (q) => q.selectFrom('audit_anchor').selectAll().where('id', '=', 1));
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
  const rangeStatement = sqlite.prepare(range.sql);
  const anchorStatement = sqlite.prepare(anchor.sql);
  const reader: ChainReader = {
    range: (from, to) => rangeStatement.all(...range.bind({ from, to })) as AuditRow[],
    anchor: () => anchorStatement.get(...anchor.bind({})) as AnchorRow | undefined,
  };

  const append = sqlite.transaction((build: BuildBatch) => {
    // The caller checks the stored head against the one it last saw before chaining onto it;
    // the head is never guessed from the newest row (a deleted tail must not go unnoticed).
    const { rows, headMac } = build(checkpointStatement.get(...checkpoint.bind({})) as StoredHeadRow | undefined, reader);
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
    /** Builds rows after the stored head (throws to abort) and appends them and the new head, atomically. */
    append(build: BuildBatch): void {
      append.immediate(build);
    },
    close(): void {
      sqlite.close();
    },
  };
}

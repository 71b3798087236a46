import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { compileTemplate } from './prepared.js';
import type { AuditRow } from './audit-store.js';
import type { Database } from './schema.js';

const AUDIT_COLUMNS = ['seq', 'time', 'request_id', 'accessor', 'source', 'operation', 'secret_name', 'version_id', 'outcome', 'error_code', 'status', 'latency_us', 'detail', 'prev_hash', 'hash'] as const;

/**
 * A synchronous audit appender on its own SQLite connection, for the audit worker thread.
 * The SQL is Kysely's (compiled once); it runs synchronously inside BEGIN IMMEDIATE, so the
 * head it reads is still the head when it inserts.
 */
export function openSqliteAuditWriter(file: string, options: { fsyncEachBatch: boolean }) {
  const sqlite = new SqliteDatabase(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma(`synchronous = ${options.fsyncEachBatch ? 'FULL' : 'NORMAL'}`);
  sqlite.pragma('busy_timeout = 5000');
  // Checkpoint the WAL every ~40 MB rather than ~4 MB: each checkpoint stalls the connection
  // that runs it (and the requests whose audit batch waits on it), so fewer, larger ones keep
  // the latency tail short.
  sqlite.pragma('wal_autocheckpoint = 10000');
  // Used only to compile SQL; statements run on `sqlite` directly.
  const compiler = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  const head = compileTemplate(compiler, (q) => q.selectFrom('audit_events').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1));
  const anchor = compileTemplate(compiler, (q) => q.selectFrom('audit_anchor').select(['seq', 'hash']).where('id', '=', 1));
  const insert = compileTemplate(compiler, (q, p) => q.insertInto('audit_events').values(Object.fromEntries(AUDIT_COLUMNS.map((c) => [c, p(c)])) as never));
  const headStatement = sqlite.prepare(head.sql);
  const anchorStatement = sqlite.prepare(anchor.sql);
  const insertStatement = sqlite.prepare(insert.sql);

  const append = sqlite.transaction((build: (head: { seq: number; hash: string } | undefined) => AuditRow[]) => {
    const current = (headStatement.get(...head.bind({})) ?? anchorStatement.get(...anchor.bind({}))) as { seq: number; hash: string } | undefined;
    for (const row of build(current)) insertStatement.run(...insert.bind(row as unknown as Record<string, unknown>));
  });

  return {
    /** Builds rows from the current head (undefined: empty chain) and appends them atomically. */
    append(build: (head: { seq: number; hash: string } | undefined) => AuditRow[]): void {
      append.immediate(build);
    },
    close(): void {
      sqlite.close();
    },
  };
}

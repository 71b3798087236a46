import { sql, type Kysely, type Transaction } from 'kysely';
import type { Storage } from './database.js';

/**
 * Reading and writing every table's rows for snapshots and engine migration. Rows are copied
 * as stored: secret values, data keys and the keyring stay ciphertext; nothing is decrypted.
 * Tables are discovered (so tables added by later migrations are included) and ordered so that
 * a table comes after every table its foreign keys reference.
 */
export type SnapshotValue = string | number | null | Buffer;
export type SnapshotRow = Record<string, SnapshotValue>;

export interface TableInfo {
  name: string;
  columns: string[];
  /** Columns usable for a stable order (every non-blob column). */
  orderColumns: string[];
}

const PAGE = 2000;

/** Every application table (not Kysely's migration bookkeeping), parents before children. */
export async function snapshotTables(db: Kysely<any> | Transaction<any>, dialect: Storage['dialect']): Promise<TableInfo[]> {
  let tables = (await db.introspection.getTables()).filter((t) => !t.isView && !t.name.startsWith('kysely_migration'));
  const parents = new Map<string, Set<string>>();
  if (dialect === 'postgres') {
    // A partition's rows are its parent's (audit_events' months): read and written through the
    // parent, so a snapshot is the same whichever months a store happens to have.
    const partitions = await sql<{ name: string }>`
      SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE c.relnamespace = current_schema()::regnamespace`.execute(db);
    const isPartition = new Set(partitions.rows.map((r) => r.name));
    tables = tables.filter((t) => !isPartition.has(t.name));
    const fks = await sql<{ child: string; parent: string }>`
      SELECT cl.relname AS child, pcl.relname AS parent FROM pg_constraint c
      JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_class pcl ON pcl.oid = c.confrelid
      WHERE c.contype = 'f' AND cl.relnamespace = current_schema()::regnamespace`.execute(db);
    for (const fk of fks.rows) parents.set(fk.child, (parents.get(fk.child) ?? new Set()).add(fk.parent));
  } else {
    for (const t of tables) {
      const fks = await sql<{ table: string }>`SELECT "table" FROM pragma_foreign_key_list(${t.name})`.execute(db);
      parents.set(t.name, new Set(fks.rows.map((r) => r.table)));
    }
  }
  const byName = new Map(tables.map((t) => [t.name, t]));
  const ordered: TableInfo[] = [];
  const done = new Set<string>();
  const visit = (name: string, path: string[]) => {
    if (done.has(name) || !byName.has(name)) return;
    if (path.includes(name)) throw new Error(`foreign keys form a cycle: ${[...path, name].join(' -> ')}`);
    for (const parent of [...(parents.get(name) ?? [])].sort()) if (parent !== name) visit(parent, [...path, name]);
    done.add(name);
    const t = byName.get(name)!;
    ordered.push({
      name,
      columns: t.columns.map((c) => c.name),
      orderColumns: t.columns.filter((c) => !/^(bytea|blob)$/i.test(c.dataType)).map((c) => c.name),
    });
  };
  for (const name of [...byName.keys()].sort()) visit(name, []);
  return ordered;
}

/** Names of the applied migrations: a snapshot restores only into the same schema. */
export async function appliedMigrations(db: Kysely<any> | Transaction<any>): Promise<string[]> {
  const rows = await db.selectFrom('kysely_migration').select('name').orderBy('name').execute();
  return rows.map((r) => r.name as string);
}

export interface SnapshotReader {
  migrations: string[];
  tables: TableInfo[];
  counts: Record<string, number>;
  /** Calls `sink` for every row of every table in order, awaiting it (backpressure). */
  rows(sink: (table: string, row: SnapshotRow) => Promise<void> | void): Promise<void>;
}

/**
 * Runs `use` inside one consistent read: a REPEATABLE READ, READ ONLY transaction on
 * PostgreSQL (nodes may keep serving), one SQLite read transaction (a WAL snapshot).
 */
export async function readConsistently<T>(storage: Storage, use: (reader: SnapshotReader) => Promise<T>): Promise<T> {
  const db = storage.db as unknown as Kysely<any>;
  const body = async (tx: Transaction<any>) => {
    if (storage.dialect === 'postgres') await sql`SET TRANSACTION READ ONLY`.execute(tx);
    const migrations = await appliedMigrations(tx);
    const tables = await snapshotTables(tx, storage.dialect);
    const counts: Record<string, number> = {};
    for (const t of tables) {
      const row = await tx.selectFrom(t.name).select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
      counts[t.name] = Number(row.n);
    }
    return use({
      migrations,
      tables,
      counts,
      async rows(sink) {
        for (const t of tables) {
          for (let offset = 0; ; offset += PAGE) {
            let query = tx.selectFrom(t.name).selectAll();
            for (const column of t.orderColumns) query = query.orderBy(column);
            const page = (await query.limit(PAGE).offset(offset).execute()) as SnapshotRow[];
            for (const row of page) await sink(t.name, normalize(row));
            if (page.length < PAGE) break;
          }
        }
      },
    });
  };
  return storage.dialect === 'postgres'
    ? db.transaction().setIsolationLevel('repeatable read').execute(body)
    : db.transaction().execute(body);
}

function normalize(row: SnapshotRow): SnapshotRow {
  const out: SnapshotRow = {};
  for (const [k, v] of Object.entries(row) as [string, unknown][]) {
    out[k] = typeof v === 'bigint' ? Number(v) : v instanceof Uint8Array ? Buffer.from(v) : (v as SnapshotValue);
  }
  return out;
}

export interface SnapshotWriter {
  migrations: string[];
  tables: TableInfo[];
  /** Row counts per table already present (before `insert`). */
  existing: Record<string, number>;
  /** Deletes every row of every table (children first). */
  clear(): Promise<void>;
  insert(table: string, row: SnapshotRow): Promise<void>;
  /** Writes buffered rows. */
  flush(): Promise<void>;
}

/** Runs `use` in one write transaction: if it throws, nothing of the restore remains. */
export async function writeInTransaction<T>(storage: Storage, use: (writer: SnapshotWriter) => Promise<T>): Promise<T> {
  const db = storage.db as unknown as Kysely<any>;
  return db.transaction().execute(async (tx) => {
    const migrations = await appliedMigrations(tx);
    const tables = await snapshotTables(tx, storage.dialect);
    const known = new Set(tables.map((t) => t.name));
    const existing: Record<string, number> = {};
    for (const t of tables) {
      const row = await tx.selectFrom(t.name).select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
      existing[t.name] = Number(row.n);
    }
    let buffer: { table: string; rows: SnapshotRow[] } | null = null;
    const flush = async () => {
      if (!buffer || buffer.rows.length === 0) return;
      const { table, rows } = buffer;
      buffer = null;
      // Chunks stay under SQLite's bound-parameter limit (32766) even for wide tables.
      const columns = Math.max(1, Object.keys(rows[0]!).length);
      const chunk = Math.min(500, Math.floor(30_000 / columns));
      for (let i = 0; i < rows.length; i += chunk) await tx.insertInto(table).values(rows.slice(i, i + chunk)).execute();
    };
    return use({
      migrations,
      tables,
      existing,
      async clear() {
        for (const t of [...tables].reverse()) await tx.deleteFrom(t.name).execute();
      },
      async insert(table, row) {
        if (!known.has(table)) throw new Error(`the target has no table ${table}`);
        if (buffer && (buffer.table !== table || buffer.rows.length >= 500)) await flush();
        buffer ??= { table, rows: [] };
        buffer.rows.push(row);
      },
      flush,
    });
  });
}

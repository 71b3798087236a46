import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, renameSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { AppError } from '../errors/app-error.js';
import type { openStorage, Storage, StorageOptions } from '../storage/database.js';
import { readConsistently, writeInTransaction, type SnapshotReader, type SnapshotRow, type SnapshotValue, type SnapshotWriter } from '../storage/snapshot.js';

/**
 * Snapshots and engine migration, offline against storage (no server, no unseal key): rows
 * are copied exactly as stored, so secret values, data keys and the keyring stay encrypted and
 * the copy needs the same unseal keys as the original.
 *
 * File format (gzip'd JSON lines):
 *   1. header  {"custos_snapshot":1,"created_at":…,"source_dialect":…,"migrations":[…],"tables":{name:count}}
 *   2. rows    {"t":"secrets","r":{…}} — one per row, parents before children; blobs as {"$b64":"…"}
 *   3. trailer {"end":true,"rows":N,"sha256":"…"} — SHA-256 over every preceding line (with its "\n")
 * Restore checks the header, the schema (same migrations), every count and the digest, all
 * inside the one transaction that writes the rows: a damaged or truncated file leaves nothing.
 */
export const SNAPSHOT_FORMAT = 1;

export interface SnapshotSummary {
  migrations: string[];
  tables: Record<string, number>;
  rows: number;
  sha256: string;
}

interface Header {
  custos_snapshot: number;
  created_at: string;
  source_dialect: string;
  migrations: string[];
  tables: Record<string, number>;
}

function encodeValue(value: SnapshotValue): unknown {
  return Buffer.isBuffer(value) ? { $b64: value.toString('base64') } : value;
}

function decodeRow(raw: Record<string, unknown>): SnapshotRow {
  const row: SnapshotRow = {};
  for (const [key, value] of Object.entries(raw)) {
    if (value !== null && typeof value === 'object') {
      const b64 = (value as { $b64?: unknown }).$b64;
      if (typeof b64 !== 'string') throw new AppError('snapshot_invalid', `unexpected value in column ${key}`);
      row[key] = Buffer.from(b64, 'base64');
    } else if (value === null || typeof value === 'string' || typeof value === 'number') {
      row[key] = value;
    } else {
      throw new AppError('snapshot_invalid', `unexpected value in column ${key}`);
    }
  }
  return row;
}

/** Produces the snapshot's lines from one consistent read, awaiting `emit` for each. */
/** Rows handled so far of how many (snapshot, restore, migrate), for a progress display. */
export type SnapshotProgress = (rows: number, total: number) => void;

async function emitLines(source: SnapshotReader, dialect: string, emit: (line: string) => Promise<void> | void, onProgress?: SnapshotProgress): Promise<SnapshotSummary> {
  const total = Object.values(source.counts).reduce((a, b) => a + b, 0);
  const hash = createHash('sha256');
  let rows = 0;
  const write = async (line: string) => {
    hash.update(line + '\n');
    await emit(line);
  };
  const header: Header = { custos_snapshot: SNAPSHOT_FORMAT, created_at: new Date().toISOString(), source_dialect: dialect, migrations: source.migrations, tables: source.counts };
  await write(JSON.stringify(header));
  await source.rows(async (table, row) => {
    const encoded: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(row)) encoded[k] = encodeValue(v);
    rows += 1;
    await write(JSON.stringify({ t: table, r: encoded }));
    onProgress?.(rows, total);
  });
  const sha256 = hash.digest('hex');
  await emit(JSON.stringify({ end: true, rows, sha256 }));
  return { migrations: source.migrations, tables: source.counts, rows, sha256 };
}

/** Consumes snapshot lines into a write transaction, verifying everything before it commits. */
function createImporter(writer: SnapshotWriter, options: { force?: boolean; onProgress?: SnapshotProgress }) {
  let total = 0;
  const hash = createHash('sha256');
  const seen: Record<string, number> = {};
  let header: Header | null = null;
  let trailer: { rows: number; sha256: string } | null = null;
  let rows = 0;

  async function start(h: Header): Promise<void> {
    if (h.custos_snapshot !== SNAPSHOT_FORMAT) throw new AppError('snapshot_invalid', `unsupported snapshot format ${String(h.custos_snapshot)}`);
    const want = JSON.stringify(writer.migrations);
    if (JSON.stringify(h.migrations) !== want) {
      throw new AppError('snapshot_schema_mismatch', `the snapshot's schema (${h.migrations.join(', ')}) differs from the target's (${writer.migrations.join(', ')}); restore with the Custos version that wrote it`);
    }
    const targetTables = writer.tables.map((t) => t.name).sort();
    const snapshotTables = Object.keys(h.tables).sort();
    if (JSON.stringify(targetTables) !== JSON.stringify(snapshotTables)) throw new AppError('snapshot_schema_mismatch', 'the snapshot and the target have different tables');
    const nonEmpty = Object.entries(writer.existing).filter(([, n]) => n > 0).map(([t]) => t);
    if (nonEmpty.length > 0) {
      if (!options.force) throw new AppError('storage_not_empty', `the target storage is not empty (rows in ${nonEmpty.join(', ')}); use --force to replace everything in it`);
      await writer.clear();
    }
    header = h;
    total = Object.values(h.tables).reduce((a, b) => a + b, 0);
  }

  return {
    async accept(line: string): Promise<void> {
      if (trailer) throw new AppError('snapshot_invalid', 'data after the end of the snapshot');
      let parsed: any;
      try {
        parsed = JSON.parse(line);
      } catch {
        throw new AppError('snapshot_invalid', 'the snapshot is damaged (a line is not JSON)');
      }
      if (!header) {
        if (!parsed || typeof parsed !== 'object' || !('custos_snapshot' in parsed)) throw new AppError('snapshot_invalid', 'not a Custos snapshot');
        hash.update(line + '\n');
        return start(parsed as Header);
      }
      if (parsed?.end === true) {
        trailer = { rows: Number(parsed.rows), sha256: String(parsed.sha256) };
        return;
      }
      hash.update(line + '\n');
      const table = parsed?.t;
      if (typeof table !== 'string' || !(table in header.tables) || !parsed.r || typeof parsed.r !== 'object') throw new AppError('snapshot_invalid', 'the snapshot is damaged (a row names no known table)');
      seen[table] = (seen[table] ?? 0) + 1;
      rows += 1;
      await writer.insert(table, decodeRow(parsed.r));
      options.onProgress?.(rows, total);
    },

    /** Verifies completeness and the digest; throwing here rolls the whole restore back. */
    async finish(): Promise<SnapshotSummary> {
      if (!header) throw new AppError('snapshot_invalid', 'the snapshot is empty');
      if (!trailer) throw new AppError('snapshot_invalid', 'the snapshot is truncated (no end marker)');
      const sha256 = hash.digest('hex');
      if (sha256 !== trailer.sha256) throw new AppError('snapshot_invalid', 'the snapshot is damaged (SHA-256 mismatch)');
      const h: Header = header;
      for (const [table, count] of Object.entries(h.tables)) {
        if ((seen[table] ?? 0) !== count) throw new AppError('snapshot_invalid', `the snapshot is damaged (${table}: ${seen[table] ?? 0} rows, header says ${count})`);
      }
      if (rows !== trailer.rows) throw new AppError('snapshot_invalid', 'the snapshot is damaged (row count mismatch)');
      await writer.flush();
      return { migrations: h.migrations, tables: h.tables, rows, sha256 };
    },
  };
}

export interface SnapshotServiceDeps {
  /** Opens (and migrates) storage: the same function the server uses. */
  openStorage: typeof openStorage;
  /** Told of the rows copied so far (the CLI draws it on a terminal). */
  onProgress?: SnapshotProgress;
}

export function createSnapshotService(deps: SnapshotServiceDeps) {
  async function withStorage<T>(options: StorageOptions, use: (storage: Storage) => Promise<T>): Promise<T> {
    const storage = await deps.openStorage({ ...options, poolSize: 2 });
    try {
      return await use(storage);
    } finally {
      await storage.close();
    }
  }

  return {
    /** Writes a consistent snapshot of `source` to `file` (atomically: a temp file renamed at the end, mode 0600). */
    async save(source: StorageOptions, file: string): Promise<SnapshotSummary> {
      const temp = `${file}.partial-${process.pid}`;
      try {
        const summary = await withStorage(source, (storage) =>
          readConsistently(storage, async (reader) => {
            const gzip = createGzip();
            const done = pipeline(gzip, createWriteStream(temp, { mode: 0o600 }));
            const result = await emitLines(reader, storage.dialect, async (line) => {
              if (!gzip.write(line + '\n')) await once(gzip, 'drain');
            }, deps.onProgress);
            gzip.end();
            await done;
            return result;
          }),
        );
        renameSync(temp, file);
        return summary;
      } catch (error) {
        rmSync(temp, { force: true });
        throw error;
      }
    },

    /** Restores `file` into `target`, which must be empty unless `force` (then everything in it is replaced). */
    async restore(target: StorageOptions, file: string, options: { force?: boolean } = {}): Promise<SnapshotSummary> {
      return withStorage(target, (storage) =>
        writeInTransaction(storage, async (writer) => {
          const importer = createImporter(writer, { ...options, onProgress: deps.onProgress });
          const input = createReadStream(file);
          const gunzip = createGunzip();
          input.on('error', (err) => gunzip.destroy(err));
          const lines = createInterface({ input: input.pipe(gunzip), crlfDelay: Infinity });
          try {
            for await (const line of lines) if (line.length > 0) await importer.accept(line);
          } catch (error) {
            if (error instanceof AppError) throw error;
            throw new AppError('snapshot_invalid', `cannot read the snapshot: ${(error as Error).message}`, { cause: error });
          }
          return importer.finish();
        }),
      );
    },

    /**
     * Copies everything from one storage to another (e.g. SQLite to PostgreSQL) through the
     * snapshot format, without a file and without decrypting: one read transaction on the source,
     * one write transaction on the target.
     */
    async migrate(from: StorageOptions, to: StorageOptions, options: { force?: boolean } = {}): Promise<SnapshotSummary> {
      return withStorage(from, (source) =>
        withStorage(to, (target) =>
          readConsistently(source, (reader) =>
            writeInTransaction(target, async (writer) => {
              const importer = createImporter(writer, { ...options, onProgress: deps.onProgress });
              await emitLines(reader, source.dialect, (line) => importer.accept(line));
              return importer.finish();
            }),
          ),
        ),
      );
    },
  };
}

export type SnapshotService = ReturnType<typeof createSnapshotService>;

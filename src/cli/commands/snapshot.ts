import { terminalProgress } from '../progress.js';
import { existsSync, readFileSync } from 'node:fs';
import { loadConfig, storagePassword } from '../../config/config.js';
import { isAppError } from '../../errors/app-error.js';
import { createOfflineTools } from '../../app.js';
import type { SnapshotSummary } from '../../services/snapshot-service.js';
import { printJson, printTable } from '../context.js';

/**
 * Offline storage commands: they open the storage directly (no server, no token, no unseal
 * key) and copy rows as stored, so values stay encrypted. `save` is safe while nodes serve
 * (one consistent read); `restore` and `migrate` expect the target's nodes to be stopped.
 */
interface StorageFlags {
  storage?: string;
  config?: string;
  dataDir?: string;
  json?: boolean;
}

/** Storage as the server would open it: --storage > CUSTOS_STORAGE > config file > <data-dir>/custos.db. */
function storageFrom(flags: StorageFlags) {
  const config = loadConfig({ file: flags.config ?? process.env.CUSTOS_CONFIG, env: process.env, flags: { storage: flags.storage, data_dir: flags.dataDir } });
  return { url: config.storage, password: storagePassword(config) };
}

const PASSWORD_IN_URL = /^postgres(ql)?:\/\/[^/@]*:[^@/]*@/;

function endpoint(url: string, passwordEnv: string, passwordFile: string | undefined, flag: string) {
  if (PASSWORD_IN_URL.test(url)) throw new Error(`${flag}: do not put a PostgreSQL password in a flag (visible in ps); use ${passwordEnv} or ${flag}-password-file`);
  if (!url.startsWith('sqlite:') && !/^postgres(ql)?:\/\//.test(url)) throw new Error(`${flag}: must be sqlite:PATH or postgres://user@host:port/db`);
  const password = passwordFile ? readFileSync(passwordFile, 'utf8').trim() : process.env[passwordEnv] || undefined;
  return { url, password };
}

/** A source must exist: opening a missing SQLite path would create (and copy) an empty database. */
function existingSource<T extends { url: string }>(source: T): T {
  if (source.url.startsWith('sqlite:') && !existsSync(source.url.slice('sqlite:'.length))) {
    throw new Error(`no SQLite database at ${source.url.slice('sqlite:'.length)} (check --storage / --data-dir / --from)`);
  }
  return source;
}

function report(verb: string, summary: SnapshotSummary, json?: boolean): void {
  if (json) return printJson(summary);
  printTable(['TABLE', 'ROWS'], Object.entries(summary.tables).map(([t, n]) => [t, n]));
  process.stdout.write(`\n${verb} ${summary.rows} rows (schema ${summary.migrations.at(-1) ?? 'empty'}, sha256 ${summary.sha256}).\n`);
}

async function guarded(action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (error) {
    // Offline commands have no request id; show the stable code and the safe message.
    if (isAppError(error)) {
      process.stderr.write(`error: ${error.code}: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

/** The offline tools, drawing rows copied on a terminal. */
async function withProgress<T>(label: string, use: (tools: ReturnType<typeof createOfflineTools>) => Promise<T>): Promise<T> {
  const progress = terminalProgress(label);
  try {
    return await use(createOfflineTools({ onProgress: (rows, total) => progress.update(rows, total, 'rows') }));
  } finally {
    progress.stop();
  }
}

export async function snapshotSaveCommand(file: string, flags: StorageFlags): Promise<void> {
  await guarded(async () => report('Saved', await withProgress('saving', (tools) => tools.snapshots.save(existingSource(storageFrom(flags)), file)), flags.json));
}

export async function snapshotRestoreCommand(file: string, flags: StorageFlags & { force?: boolean }): Promise<void> {
  await guarded(async () => report('Restored', await withProgress('restoring', (tools) => tools.snapshots.restore(storageFrom(flags), file, { force: flags.force })), flags.json));
}

export async function migrateCommand(flags: { from: string; to: string; fromPasswordFile?: string; toPasswordFile?: string; force?: boolean; json?: boolean }): Promise<void> {
  const from = existingSource(endpoint(flags.from, 'CUSTOS_FROM_STORAGE_PASSWORD', flags.fromPasswordFile, '--from'));
  const to = endpoint(flags.to, 'CUSTOS_STORAGE_PASSWORD', flags.toPasswordFile, '--to');
  await guarded(async () => report('Copied', await withProgress('copying', (tools) => tools.snapshots.migrate(from, to, { force: flags.force })), flags.json));
}

import os from 'node:os';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { auditUnsuccessfulIndexes } from '../src/storage/migrations/040-audit-unsuccessful-indexes.js';
import { printTable, saveResults, type BenchRow } from './lib.js';

/**
 * What migration 040 costs at the first start-up after an upgrade, on a large SQLite store: the
 * server runs it before it listens. The store is put back into the state a store migrated up
 * to 039 has (040's two partial indexes dropped, 038's whole (outcome, seq) index built), then
 * 040's own `up` runs as the migrator would run it. The store ends as it began (with 040's
 * indexes). Run it on a bench store, with no server on it:
 *
 *   node dist/bench/audit-index-upgrade.js /path/to/custos.db
 */
const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: audit-index-upgrade <sqlite file>\n');
  process.exit(2);
}
const sqlite = new SqliteDatabase(file);
// As the server opens it (database.ts): WAL, the default page cache.
sqlite.pragma('journal_mode = WAL');
const seconds = (start: number) => Number(((performance.now() - start) / 1000).toFixed(1));
const rows: BenchRow[] = [];
try {
  const events = Number((sqlite.prepare('select max(seq) - min(seq) + 1 as n from audit_events').get() as { n: number }).n);
  const step = (name: string, fn: () => void | Promise<void>) => async () => {
    const load = os.loadavg()[0]!.toFixed(1);
    const start = performance.now();
    await fn();
    rows.push({ suite: 'audit-index-upgrade', case: name, metrics: { seconds: seconds(start), events, 'load before': load } });
    process.stderr.write(`${name}: ${rows.at(-1)!.metrics.seconds} s\n`);
  };
  await step('drop 040\'s partial indexes (setup)', () => {
    sqlite.exec('drop index if exists audit_unsuccessful_by_accessor; drop index if exists audit_unsuccessful_by_outcome');
  })();
  await step('build 038\'s (outcome, seq) index (setup: the store as 039 left it)', () => {
    sqlite.exec('create index if not exists audit_by_outcome_seq on audit_events (outcome, seq)');
  })();
  const db = new Kysely<any>({ dialect: new SqliteDialect({ database: sqlite }) });
  // In one transaction, as Kysely's migrator runs a migration on SQLite (the new index pages go through the WAL).
  await step('migration 040 at first start-up (two partial indexes built, the whole one dropped)', () => db.transaction().execute((tx) => auditUnsuccessfulIndexes('sqlite').up(tx)))();
  sqlite.pragma('wal_checkpoint(TRUNCATE)');
  printTable(`Migration 040 on a SQLite store of ${events.toLocaleString('en')} events`, rows);
  saveResults('audit-index-upgrade', { events, rows });
} finally {
  sqlite.close();
}

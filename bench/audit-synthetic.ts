import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { CompiledQuery } from 'kysely';
import { compileAuditQuery, createAuditStore, type AuditQuery } from '../src/storage/audit-store.js';
import { openStorage } from '../src/storage/database.js';
import { AUDIT_SPAN_MS } from './big-data-events.js';
import { ACCESSORS, AUDITED_SECRETS, seededAccessor, seededName } from './big-data-seed.js';
import { printTable, saveResults, type BenchRow } from './lib.js';

/**
 * Audit searches on a SQLite store of 10^8 events, store-level, in minutes rather than hours.
 *
 * `audit-scale.ts` seeds real chained events (HMAC per event, through JavaScript): about
 * 20,000–35,000 events/s here, so 10^8 take an hour or more. What a search costs depends on
 * the rows and indexes, not on the hashes, so this fills the table with SQL alone (a recursive
 * counter, `random()` for the mix, random hex where the hashes go) and builds the indexes
 * afterwards. The chain does not verify and no server is started on the store: it answers
 * only "how long does each search `custos audit query` runs take at this size", with the
 * audit store's own compiled queries and their plans. The mix is big-data-events.ts': 1,000
 * secrets, 200 accessors, 96 % success / 3 % denied / 1 % failure, even over 13 months.
 *
 *   AUDIT_SYNTHETIC_EVENTS=100000000 AUDIT_SYNTHETIC_DIR=/big/disk node dist/bench/audit-synthetic.js
 */
const EVENTS = Number(process.env.AUDIT_SYNTHETIC_EVENTS ?? 10_000_000);
const BASE_DIR = process.env.AUDIT_SYNTHETIC_DIR ?? os.tmpdir();
const CHUNK = 1_000_000;
const DAY = 86_400_000;
const OPERATIONS = ['secret.read', 'secret.read', 'secret.read', 'secret.read', 'aws.GetSecretValue', 'aws.GetSecretValue', 'secret.write', 'secret.list', 'secret.describe'];
const median = (values: number[]) => Number([...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!.toFixed(1));
const load = () => os.loadavg()[0]!.toFixed(1);

/** Fills audit_events with `total` rows in seq order, indexes dropped meanwhile; returns seconds for rows and for indexes. */
function fill(file: string, total: number, start: number): { rowSeconds: number; indexSeconds: number } {
  const db = new SqliteDatabase(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = OFF');
    db.pragma('cache_size = -1048576');
    const indexes = db.prepare(`select name, sql from sqlite_master where type = 'index' and tbl_name = 'audit_events' and sql is not null`).all() as { name: string; sql: string }[];
    for (const index of indexes) db.exec(`drop index "${index.name}"`);
    db.exec('create temp table names (i integer primary key, name text); create temp table accessors (i integer primary key, name text); create temp table operations (i integer primary key, name text)');
    const insertInto = (table: string, values: string[]) => {
      const insert = db.prepare(`insert into ${table} (i, name) values (?, ?)`);
      db.transaction(() => values.forEach((v, i) => insert.run(i, v)))();
    };
    insertInto('names', Array.from({ length: AUDITED_SECRETS }, (_, i) => seededName(i, 1_000_000)));
    insertInto('accessors', Array.from({ length: ACCESSORS }, (_, i) => seededAccessor(i)));
    insertInto('operations', OPERATIONS);
    const step = AUDIT_SPAN_MS / total;
    // The random draws are materialized once per row, so each column sees the same draw.
    const chunk = db.prepare(`
      with recursive counter(n) as (select @from union all select n + 1 from counter where n < @to),
      draws as materialized (
        select n, abs(random()) % ${AUDITED_SECRETS} as s, abs(random()) % ${ACCESSORS} as a, abs(random()) % 100 as o,
               abs(random()) % ${OPERATIONS.length} as op, abs(random()) as r from counter)
      insert into audit_events (seq, time, request_id, accessor, source, operation, secret_name, version_id, outcome, error_code, status, latency_us, detail, prev_hash, hash)
      select d.n, cast(@start + (d.n - 1) * @step as integer), lower(hex(randomblob(16))), acc.name, '10.0.' || (d.r % 16) || '.' || (d.r % 250 + 1), ops.name,
             case when ops.name = 'secret.list' then null else names.name end, null,
             case when d.o < 96 then 'success' when d.o < 99 then 'denied' else 'failure' end,
             case when d.o < 96 then null when d.o < 99 then 'permission_denied' else 'storage_unavailable' end,
             case when d.o < 96 then 200 when d.o < 99 then 403 else 503 end,
             200 + d.r % 3000, null, lower(hex(randomblob(32))), lower(hex(randomblob(32)))
      from draws d join temp.names names on names.i = d.s join temp.accessors acc on acc.i = d.a join temp.operations ops on ops.i = d.op
      order by d.n`);
    const rowsStarted = performance.now();
    for (let from = 1; from <= total; from += CHUNK) {
      const to = Math.min(total, from + CHUNK - 1);
      db.transaction(() => chunk.run({ from, to, start, step }))();
      if ((to / CHUNK) % 10 === 0) process.stderr.write(`filled ${to.toLocaleString('en')} (${Math.round(to / ((performance.now() - rowsStarted) / 1000))}/s)\n`);
    }
    const rowSeconds = (performance.now() - rowsStarted) / 1000;
    const indexStarted = performance.now();
    for (const index of indexes) db.exec(index.sql);
    db.pragma('wal_checkpoint(TRUNCATE)');
    return { rowSeconds, indexSeconds: (performance.now() - indexStarted) / 1000 };
  } finally {
    db.close();
  }
}

async function main(): Promise<void> {
  mkdirSync(BASE_DIR, { recursive: true });
  const dir = mkdtempSync(path.join(BASE_DIR, 'custos-audit-synthetic-'));
  const rows: BenchRow[] = [];
  try {
    const file = path.join(dir, 'custos.db');
    const url = `sqlite:${file}`;
    await (await openStorage({ url })).close(); // the schema, by the migrations
    const end = Date.now();
    const start = end - AUDIT_SPAN_MS;
    const filled = fill(file, EVENTS, start);
    rows.push({ suite: 'audit-synthetic', case: `sqlite: fill ${EVENTS.toLocaleString('en')} events (unchained)`, metrics: { seconds: filled.rowSeconds.toFixed(0), 'per s': Math.round(EVENTS / filled.rowSeconds), 'index build s': filled.indexSeconds.toFixed(0), 'file GB': (statSync(file).size / 1e9).toFixed(1), load: load() } });

    const storage = await openStorage({ url });
    const auditStore = createAuditStore('sqlite');
    const secret = seededName(7, 1_000_000);
    const accessor = seededAccessor(3);
    const year = { since: end - 365 * DAY, until: end + 1 };
    const month = { since: end - 60 * DAY, until: end - 30 * DAY };
    const queries: [string, AuditQuery][] = [
      ['one secret, one year, oldest first (100)', { ...year, secretName: secret, limit: 100 }],
      ['one secret, one year, newest first (100)', { ...year, secretName: secret, newestFirst: true, limit: 100 }],
      ['one secret, one year, 1,000 events', { ...year, secretName: secret, limit: 1000 }],
      ['one principal, one month (100)', { ...month, accessor, limit: 100 }],
      ['outcome denied, one month (100)', { ...month, outcome: 'denied', limit: 100 }],
      ['outcome failure + principal, one year (100)', { ...year, outcome: 'failure', accessor, limit: 100 }],
      ['only since (7 days), newest first (100)', { since: end - 7 * DAY, newestFirst: true, limit: 100 }],
    ];
    for (const [name, query] of queries) {
      const times: number[] = [];
      let cold = 0;
      let found = 0;
      for (let round = 0; round < 6; round++) {
        const started = performance.now();
        found = (await auditStore.query(storage.db, query)).length;
        if (round === 0) cold = performance.now() - started;
        else times.push(performance.now() - started);
      }
      const compiled = await compileAuditQuery(storage.db, 'sqlite', query);
      const plan = compiled
        ? (await storage.db.executeQuery<{ detail: string }>(CompiledQuery.raw(`explain query plan ${compiled.sql}`, [...compiled.parameters]))).rows.map((r) => r.detail).join('; ')
        : '(no rows can match)';
      rows.push({ suite: 'audit-synthetic', case: `sqlite: ${name}`, metrics: { 'ms (median of 5)': median(times), 'first run ms': Number(cold.toFixed(1)), rows: found, load: load(), plan: plan.slice(0, 300) } });
    }
    await storage.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  printTable(`audit searches at ${EVENTS.toLocaleString('en')} events (SQLite, unchained fill)`, rows);
  process.stdout.write(`\nsaved ${saveResults('audit-synthetic', { events: EVENTS, rows })}\n`);
}

await main();

import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CompiledQuery, sql } from 'kysely';
import { GENESIS_HASH, headMac } from '../src/audit/audit-chain.js';
import { createPgAppender, createSqliteAppender, type AuditAppender } from '../src/audit/audit-appenders.js';
import { createChainGuard } from '../src/audit/chain-guard.js';
import { verifyChain } from '../src/audit/audit-verify.js';
import { buildAuditQuery, compileAuditQuery, createAuditStore, type AuditQuery } from '../src/storage/audit-store.js';
import { ensureMonthPartitions } from '../src/storage/audit-partitions.js';
import { openStorage, pgConnectionFields, type Storage } from '../src/storage/database.js';
import { startPostgresCluster, type PostgresCluster } from '../tests/support/postgres-cluster.js';
import { AUDIT_SPAN_MS, makeEvents, postgresRowWriter, prng, seedEvents, sqliteRowWriter, type EventShape } from './big-data-events.js';
import { ACCESSORS, AUDITED_SECRETS, seededAccessor, seededName } from './big-data-seed.js';
import { printTable, saveResults, type BenchRow } from './lib.js';

/**
 * The audit log alone at scale, store-level (no server): seeds N chained events into a fresh
 * store (SQLite file or a throwaway PostgreSQL cluster), then times the searches `custos audit
 * query` runs (median of 5 after a warm-up, with the plan), each beside the same search without
 * its seq range (as it ran before migration 038), the whole-chain verify walk, and appends
 * through the server's own appender at that size (each index of audit_events costs every append).
 *
 *   AUDIT_SCALE_ENGINE=postgres|sqlite AUDIT_SCALE_EVENTS=1000000 AUDIT_SCALE_DIR=/big/disk node dist/bench/audit-scale.js
 */
const ENGINE = process.env.AUDIT_SCALE_ENGINE === 'sqlite' ? 'sqlite' : 'postgres';
const EVENTS = Number(process.env.AUDIT_SCALE_EVENTS ?? 1_000_000);
const BASE_DIR = process.env.AUDIT_SCALE_DIR ?? os.tmpdir();
/** 0: no month partitions, every event in the default one (a store seeded without them). */
const PARTITIONS = process.env.AUDIT_SCALE_PARTITIONS !== '0';
const DAY = 86_400_000;
/** Appended after the seed in rounds of this many, in batches of 64 (the most group commit puts in one batch). */
const APPENDS = Number(process.env.AUDIT_SCALE_APPENDS ?? 10_000);
const APPEND_ROUNDS = 5;

/**
 * The outcome indexes of audit_events before migration 040 and since, so that the same appends
 * and the same outcome + principal search are timed under each on the one seeded store,
 * alternating (every index costs every append; side by side, the machine's swings cancel out).
 */
const OUTCOME_INDEX_LAYOUTS: Record<string, string[]> = {
  'before 040': ['create index if not exists audit_by_outcome_seq on audit_events (outcome, seq)'],
  '040': [
    "create index if not exists audit_unsuccessful_by_accessor on audit_events (accessor, outcome, seq) where outcome <> 'success'",
    "create index if not exists audit_unsuccessful_by_outcome on audit_events (outcome, seq) where outcome <> 'success'",
  ],
};
const OUTCOME_INDEXES = ['audit_by_outcome_seq', 'audit_unsuccessful_by_accessor', 'audit_unsuccessful_by_outcome'];

async function useLayout(storage: Storage, layout: string): Promise<void> {
  const wanted = OUTCOME_INDEX_LAYOUTS[layout]!;
  for (const index of OUTCOME_INDEXES) if (!wanted.some((ddl) => ddl.includes(` ${index} `))) await sql.raw(`drop index if exists ${index}`).execute(storage.db);
  for (const ddl of wanted) await sql.raw(ddl).execute(storage.db);
  if (ENGINE === 'postgres') await sql`analyze audit_events`.execute(storage.db);
}
const APPEND_BATCH = 64;
const median = (values: number[]) => Number([...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!.toFixed(1));

async function plan(storage: Storage, query: AuditQuery): Promise<string> {
  const compiled = await compileAuditQuery(storage.db, ENGINE, query);
  if (!compiled) return '(no rows can match: not run)';
  const prefix = ENGINE === 'sqlite' ? 'explain query plan ' : 'explain ';
  const { rows } = await storage.db.executeQuery<Record<string, string>>(CompiledQuery.raw(prefix + compiled.sql, [...compiled.parameters]));
  return rows.map((r) => (ENGINE === 'sqlite' ? r.detail : r['QUERY PLAN'])!.trim()).join('; ').slice(0, 400);
}

/**
 * Events per second through the appender the server uses (SQLite: its own connection, statements
 * compiled once; PostgreSQL: one custos_audit_append call per batch), one batch after another,
 * continuing the seeded chain with the seeded mix of outcomes, stamped after the seeded span.
 */
async function appendRate(appender: AuditAppender, storage: Storage, key: Buffer, shape: EventShape, after: number, round: number): Promise<number> {
  const stored = await createAuditStore(ENGINE).headCheckpoint(storage.db);
  if (!stored) throw new Error('no head after seeding');
  const guard = createChainGuard({ onTamper: (found) => { throw new Error(found); }, onHead: () => undefined });
  guard.ready({ seq: stored.seq, hash: stored.hash, mac: stored.mac }, guard.generation());
  const events = makeEvents({ ...shape, total: APPENDS }, 0, APPENDS, prng(31 + round)).map((e, i) => ({ ...e, time: after + round * APPENDS + i }));
  const started = performance.now();
  for (let from = 0; from < events.length; from += APPEND_BATCH) guard.wrote(await appender.append(events.slice(from, from + APPEND_BATCH), key, guard));
  return Math.round(events.length / ((performance.now() - started) / 1000));
}

async function main(): Promise<void> {
  mkdirSync(BASE_DIR, { recursive: true });
  const dir = mkdtempSync(path.join(BASE_DIR, 'custos-audit-scale-'));
  let cluster: PostgresCluster | undefined;
  const rows: BenchRow[] = [];
  const load = () => os.loadavg()[0]!.toFixed(1);
  try {
    let url = `sqlite:${path.join(dir, 'custos.db')}`;
    let password: string | undefined;
    if (ENGINE === 'postgres') {
      cluster = await startPostgresCluster();
      ({ url, password } = await cluster.createDatabase());
    }
    const storage = await openStorage({ url, ...(password ? { password } : {}) });
    const auditStore = createAuditStore(ENGINE);
    const key = randomBytes(32);
    const end = Date.now();
    const start = end - AUDIT_SPAN_MS;
    if (ENGINE === 'postgres' && PARTITIONS) await ensureMonthPartitions(storage.db, Array.from({ length: 15 }, (_, i) => start + i * 30 * DAY));
    const writer = ENGINE === 'postgres' ? postgresRowWriter(pgConnectionFields(url, password)) : sqliteRowWriter(url.slice('sqlite:'.length));
    const shape = { secretNames: Array.from({ length: AUDITED_SECRETS }, (_, i) => seededName(i, 1_000_000)), accessors: Array.from({ length: ACCESSORS }, (_, i) => seededAccessor(i)), startTime: start, total: EVENTS };
    const seedStart = performance.now();
    const head = await seedEvents(writer, key, { seq: 0, hash: GENESIS_HASH }, shape, (n) => { if (n % 1_000_000 === 0) process.stderr.write(`seeded ${n}\n`); });
    await writer.close();
    const seedSeconds = (performance.now() - seedStart) / 1000;
    await auditStore.setHeadCheckpoint(storage.db, { ...head, mac: headMac(key, head.seq, head.hash) });
    // PostgreSQL gathers statistics by itself (autovacuum); the server never runs ANALYZE on SQLite, so neither does this.
    if (ENGINE === 'postgres') await sql`analyze`.execute(storage.db);
    rows.push({ suite: 'audit-scale', case: `${ENGINE}: seed ${EVENTS.toLocaleString('en')} events${ENGINE === 'postgres' && !PARTITIONS ? ' (default partition only)' : ''}`, metrics: { seconds: seedSeconds.toFixed(0), 'per s': Math.round(EVENTS / seedSeconds), load: load() } });

    const secret = shape.secretNames[7]!;
    const accessor = shape.accessors[3]!;
    const year = { since: end - 365 * DAY, until: end + 1 };
    const month = { since: end - 60 * DAY, until: end - 30 * DAY };
    const queries: [string, AuditQuery][] = [
      ['one secret, one year, oldest first (100)', { ...year, secretName: secret, limit: 100 }],
      ['one secret, one year, newest first (100)', { ...year, secretName: secret, newestFirst: true, limit: 100 }],
      ['one principal, one month (100)', { ...month, accessor, limit: 100 }],
      ['outcome denied, one month (100)', { ...month, outcome: 'denied', limit: 100 }],
      ['outcome failure + principal, one year (100)', { ...year, outcome: 'failure', accessor, limit: 100 }],
      ['only since (7 days), oldest first (100)', { since: end - 7 * DAY, limit: 100 }],
      ['only since (7 days), newest first (100)', { since: end - 7 * DAY, newestFirst: true, limit: 100 }],
      ['one month, no other filter, oldest first (100)', { ...month, limit: 100 }],
      ['only until (6 months ago), newest first (100)', { until: end - 182 * DAY, newestFirst: true, limit: 100 }],
    ];
    // Side by side under the same load: the search as the store runs it (a seq range from two
    // time seeks, then the range) and the same search without the range, as it ran before.
    for (const [name, query] of queries) {
      const bounded: number[] = [];
      const unbounded: number[] = [];
      let found = 0;
      for (let round = 0; round < 6; round++) {
        let start = performance.now();
        const result = await auditStore.query(storage.db, query);
        if (round > 0) bounded.push(performance.now() - start);
        start = performance.now();
        const before = await buildAuditQuery(storage.db, ENGINE, query).execute();
        if (round > 0) unbounded.push(performance.now() - start);
        if (result.length !== before.length) throw new Error(`${name}: ${result.length} events with the seq range, ${before.length} without`);
        found = result.length;
      }
      rows.push({ suite: 'audit-scale', case: `${ENGINE}: ${name}`, metrics: { ms: median(bounded), 'ms without seq range': median(unbounded), rows: found, load: load(), plan: await plan(storage, query) } });
    }

    const walkStart = performance.now();
    const verified = await verifyChain(storage.db, auditStore, key);
    const walkSeconds = (performance.now() - walkStart) / 1000;
    if (!verified.ok) throw new Error(`the seeded chain does not verify: ${verified.problem?.message}`);
    rows.push({ suite: 'audit-scale', case: `${ENGINE}: verify walk, ${verified.checked.toLocaleString('en')} events`, metrics: { seconds: walkSeconds.toFixed(1), 'per s': Math.round(verified.checked / walkSeconds), load: load() } });

    const appender = ENGINE === 'postgres' ? createPgAppender(storage.db, auditStore) : createSqliteAppender(url.slice('sqlite:'.length), { fsyncEachBatch: false });
    const layouts = Object.keys(OUTCOME_INDEX_LAYOUTS);
    const rates = new Map(layouts.map((layout) => [layout, [] as number[]]));
    const searchMs = new Map(layouts.map((layout) => [layout, [] as number[]]));
    const plans = new Map<string, string>();
    const both: AuditQuery = { ...year, outcome: 'failure', accessor, limit: 100 };
    let round = 0;
    for (let r = 0; r < APPEND_ROUNDS; r++) {
      for (const layout of r % 2 === 0 ? layouts : [...layouts].reverse()) {
        await useLayout(storage, layout);
        rates.get(layout)!.push(await appendRate(appender, storage, key, shape, end + 1, round++));
        const started = performance.now();
        await auditStore.query(storage.db, both);
        searchMs.get(layout)!.push(performance.now() - started);
        plans.set(layout, await plan(storage, both));
      }
    }
    await appender.close();
    for (const layout of layouts) {
      const perSecond = rates.get(layout)!;
      rows.push({ suite: 'audit-scale', case: `${ENGINE}: outcome indexes ${layout}: append ${APPEND_ROUNDS} × ${APPENDS.toLocaleString('en')} events (batches of ${APPEND_BATCH}); outcome failure + principal, one year`,
        metrics: { 'per s': median(perSecond), range: `${Math.min(...perSecond)}-${Math.max(...perSecond)}`, ms: median(searchMs.get(layout)!), load: load(), plan: plans.get(layout)! } });
    }
    await storage.close();
  } finally {
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  printTable(`audit log at ${EVENTS.toLocaleString('en')} events (${ENGINE})`, rows);
  process.stdout.write(`\nsaved ${saveResults(`audit-scale-${ENGINE}`, { events: EVENTS, rows })}\n`);
}

await main();

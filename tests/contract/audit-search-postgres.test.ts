import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CompiledQuery, sql } from 'kysely';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { compileAuditQuery, readTimeOrder, timeSeek, type AuditQuery } from '../../src/storage/audit-store.js';
import { ensureMonthPartitions } from '../../src/storage/audit-partitions.js';
import { startPostgresCluster, type PostgresCluster } from '../support/postgres-cluster.js';
import { checkSearchesMatch, SEARCH_START } from '../support/audit-search-scenario.js';

/**
 * PostgreSQL: every audit search shape reads a range of seq through an index in every month
 * partition it touches (no sequential scan, no walk of a primary key from one end), and the
 * seq bounds change no answer.
 */
let cluster: PostgresCluster;
const opened: Storage[] = [];
const DAY = 86_400_000;
const start = Date.UTC(2025, 0, 1);

before(async () => {
  cluster = await startPostgresCluster();
});
after(async () => {
  for (const storage of opened) await storage.close();
  await cluster?.stop();
});

async function freshStorage(): Promise<Storage> {
  const { url, password } = await cluster.createDatabase();
  const storage = await openStorage({ url, password });
  opened.push(storage);
  return storage;
}

test('each audit search shape reads a range of seq through an index in every partition (PostgreSQL plan)', async () => {
  const storage = await freshStorage();
  // 14 months, 200,000 events in time order; the planner's statistics from ANALYZE.
  await ensureMonthPartitions(storage.db, Array.from({ length: 14 }, (_, i) => Date.UTC(2025, i, 15)));
  await sql`insert into audit_events (seq, time, request_id, accessor, source, operation, secret_name, version_id, outcome, error_code, status, latency_us, detail, prev_hash, hash)
    select n, ${start}::bigint + n::bigint * 180000, 'r' || n, 'acc' || (n % 200), null, 'secret.read', 'prod/s' || (n % 1000), null,
      case when n % 100 < 96 then 'success' when n % 100 < 99 then 'denied' else 'failure' end, null, 200, 1, null, 'p', 'h'
    from generate_series(1, 200000) as n`.execute(storage.db);
  await sql`analyze audit_events`.execute(storage.db);
  const order = await readTimeOrder(storage.db);
  assert.deepEqual(order, { monotonicAfter: 0, maxTimeBefore: null });

  const explain = async (compiled: { sql: string; parameters: readonly unknown[] }) =>
    (await storage.db.executeQuery<{ 'QUERY PLAN': string }>(CompiledQuery.raw(`explain ${compiled.sql}`, [...compiled.parameters]))).rows.map((r) => r['QUERY PLAN'].trim());
  const end = start + 200000 * 180000;
  for (const seek of ['first at or after', 'last before'] as const) {
    const plan = await explain(timeSeek(storage.db, order!, seek, end - 100 * DAY).compile());
    assert.ok(plan.some((l) => /Index (Only )?Scan( Backward)? using audit_events_p\d+_time_idx/.test(l)), plan.join('\n'));
    // Read in index order from the bound: no sequential scan, and no sort of everything after it (an incremental sort orders ties by seq).
    assert.ok(!plan.some((l) => /Seq Scan|^(-> +)?Sort +\(/.test(l)), plan.join('\n'));
  }

  const year = { since: end - 365 * DAY, until: end + 1 };
  const month = { since: end - 60 * DAY, until: end - 30 * DAY };
  const shapes: [string, AuditQuery, RegExp][] = [
    ['one secret, one year', { ...year, secretName: 'prod/s7', limit: 100 }, /secret_name_seq_idx/],
    ['one secret, one year, newest first', { ...year, secretName: 'prod/s7', newestFirst: true, limit: 100 }, /secret_name_seq_idx/],
    ['one principal, one month', { ...month, accessor: 'acc3', limit: 100 }, /accessor_seq_idx/],
    ['outcome denied, one month', { ...month, outcome: 'denied', limit: 100 }, /audit_events_(p\d+|default)_outcome_seq_idx/],
    // Exactly the principal's events of that outcome (migration 040), not one index filtered by the other.
    ['outcome failure + principal, one year', { ...year, outcome: 'failure', accessor: 'acc199', limit: 100 }, /accessor_outcome_seq_idx/],
    ['outcome denied + principal, one year, newest first', { ...year, outcome: 'denied', accessor: 'acc97', newestFirst: true, limit: 100 }, /accessor_outcome_seq_idx/],
    // Successes are in neither partial index: the primary key's seq range, or the principal's index.
    ['outcome success, one month', { ...month, outcome: 'success', limit: 100 }, /_pkey/],
    ['outcome success + principal, one month', { ...month, outcome: 'success', accessor: 'acc3', limit: 100 }, /accessor_seq_idx/],
    ['only since, oldest first', { since: end - 7 * DAY, limit: 100 }, /_pkey/],
    ['only since, newest first', { since: end - 7 * DAY, newestFirst: true, limit: 100 }, /_pkey/],
    ['one month, no other filter', { ...month, limit: 100 }, /_pkey/],
    ['only until, newest first', { until: end - 182 * DAY, newestFirst: true, limit: 100 }, /_pkey/],
  ];
  for (const [name, query, index] of shapes) {
    const compiled = await compileAuditQuery(storage.db, 'postgres', query);
    assert.ok(compiled, name);
    const plan = await explain(compiled);
    const text = `${name}:\n${plan.join('\n')}`;
    assert.ok(plan.some((l) => index.test(l)), text);
    assert.ok(!plan.some((l) => /Seq Scan/.test(l)), text);
    // An outcome alone: its partial index in seq order, stopping at the page (the planner
    // estimates the outcome's share right, so it does not fetch the whole month to sort it).
    if (query.accessor === undefined && query.outcome !== undefined && query.outcome !== 'success') assert.ok(!plan.some((l) => /^(-> +)?Sort +\(/.test(l)), text);
    if (query.accessor !== undefined && query.outcome !== undefined && query.outcome !== 'success') {
      // In every partition: not one index with the other condition as a filter, nor two combined.
      const used = plan.flatMap((l) => /(?:Scan(?: Backward)? using|Bitmap Index Scan on) (\S+)/.exec(l)?.[1] ?? []);
      assert.ok(used.length > 0 && used.every((name) => /_accessor_outcome_seq_idx$/.test(name)), text);
    }
    // A primary key (seq, time) read with only a time condition walks it from one end: each
    // index scan must be bounded by seq (Index Cond on seq), or be on a (column, seq) index.
    plan.forEach((line, i) => {
      if (!/Index Scan.* using \S+_pkey/.test(line)) return;
      assert.match(plan[i + 1] ?? '', /Index Cond: .*\(seq [<>]=/, text);
    });
  }
});

for (const upgraded of [false, true]) {
  test(`time-bounded audit searches return the same events as before (PostgreSQL, ${upgraded ? 'upgraded store with events out of time order' : 'new store'})`, async () => {
    const storage = await freshStorage();
    // Months on both sides of the scenario's span, so searches cross partitions.
    await ensureMonthPartitions(storage.db, [SEARCH_START, SEARCH_START + 15 * DAY, SEARCH_START + 45 * DAY]);
    const { compared, nonEmpty } = await checkSearchesMatch(storage, { upgraded, seed: upgraded ? 380 : 290 });
    assert.ok(nonEmpty > compared / 3, `most searches find events (${nonEmpty} of ${compared})`);
  });
}

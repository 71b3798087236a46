import { sql, type Kysely } from 'kysely';
import type { Database, Queryable } from './schema.js';

/**
 * PostgreSQL keeps audit events in one native partition per UTC month of `time`, so retention
 * drops whole months instead of deleting row by row, and a time-range query reads only the
 * months it names. Partitions are named `audit_events_pYYYYMM`; `audit_events_default` takes
 * any event whose month has no partition (a clock far ahead or behind), so an append never
 * fails for want of one.
 */

export const DEFAULT_PARTITION = 'audit_events_default';
const PARTITION_NAME = /^audit_events_p(\d{4})(\d{2})$/;

/** The UTC month holding `time` (ms), as its first millisecond and the next month's. */
export function monthOf(time: number): { name: string; from: number; to: number } {
  const d = new Date(time);
  const year = d.getUTCFullYear();
  const month = d.getUTCMonth();
  return { name: `audit_events_p${year}${String(month + 1).padStart(2, '0')}`, from: Date.UTC(year, month, 1), to: Date.UTC(year, month + 1, 1) };
}

/** A partition's bounds from its name; undefined for the default partition or a foreign table. */
export function boundsOf(name: string): { from: number; to: number } | undefined {
  const m = PARTITION_NAME.exec(name);
  if (!m) return undefined;
  const from = Date.UTC(Number(m[1]), Number(m[2]) - 1, 1);
  return { from, to: monthOf(from).to };
}

/** Names of audit_events' partitions in this schema. */
export async function listPartitions(q: Queryable): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    select c.relname as name from pg_inherits i
    join pg_class c on c.oid = i.inhrelid
    where i.inhparent = to_regclass('audit_events')
    order by c.relname`.execute(q);
  return rows.map((r) => r.name);
}

/**
 * Creates the month partitions for `months` (each a time in that month) that do not exist yet.
 * A month whose events already went to the default partition keeps them there: PostgreSQL
 * refuses the new partition, and those events stay readable, verified and retained as before.
 * Each statement commits on its own, so pass the database, not a transaction. Returns the
 * partitions created.
 */
export async function ensureMonthPartitions(q: Queryable, months: number[]): Promise<string[]> {
  const existing = new Set(await listPartitions(q));
  const created: string[] = [];
  for (const time of months) {
    const month = monthOf(time);
    if (existing.has(month.name)) continue;
    try {
      await sql.raw(`create table if not exists ${month.name} partition of audit_events for values from (${month.from}) to (${month.to})`).execute(q);
      existing.add(month.name);
      created.push(month.name);
    } catch (error) {
      const code = (error as { code?: string }).code;
      // 23514: rows of that month sit in the default partition. 42P07 / 23505: another node
      // created it at the same moment.
      if (code !== '23514' && code !== '42P07' && code !== '23505') throw error;
    }
  }
  return created;
}

/** This month and the next `ahead` months, so appends land in a month partition across a month's turn. */
export function upcomingMonths(now: number, ahead = 2): number[] {
  const months = [monthOf(now).from];
  for (let i = 0; i < ahead; i++) months.push(monthOf(months[months.length - 1]!).to);
  return months;
}

/** Month partitions wholly before `cutoff`, oldest first: retention drops them whole. */
export async function monthsBefore(q: Queryable, cutoff: number): Promise<string[]> {
  return (await listPartitions(q)).filter((name) => (boundsOf(name)?.to ?? Infinity) <= cutoff).sort();
}

/** A month partition's newest event in the chain and how many events it holds. */
export async function partitionSummary(q: Queryable, name: string): Promise<{ last?: { seq: number; hash: string }; events: number }> {
  const { rows } = await sql<{ seq: string; hash: string }>`select seq, hash from ${sql.table(name)} order by seq desc limit 1`.execute(q);
  if (rows.length === 0) return { events: 0 };
  const counted = await sql<{ n: string }>`select count(*) as n from ${sql.table(name)}`.execute(q);
  return { last: { seq: Number(rows[0]!.seq), hash: rows[0]!.hash }, events: Number(counted.rows[0]!.n) };
}

export async function dropPartition(q: Queryable, name: string): Promise<void> {
  if (!PARTITION_NAME.test(name)) throw new Error(`not an audit month partition: ${name}`);
  await sql`drop table ${sql.table(name)}`.execute(q);
}

const COLUMNS = 'seq, time, request_id, accessor, source, operation, secret_name, version_id, outcome, error_code, status, latency_us, detail, prev_hash, hash';

/**
 * Turns the plain audit_events table into the partitioned one, keeping every event: a month
 * partition for each month that has events, the default partition, then the same indexes.
 * PostgreSQL requires the partition key in a primary key, hence (seq, time); seq stays unique
 * because appends take the chain lock and follow the head.
 */
export async function partitionAuditEvents(db: Kysely<Database>): Promise<void> {
  await sql`alter table audit_events rename to audit_events_unpartitioned`.execute(db);
  await sql`alter index if exists audit_by_time rename to audit_by_time_unpartitioned`.execute(db);
  await sql`alter index if exists audit_by_secret rename to audit_by_secret_unpartitioned`.execute(db);
  await sql`alter index if exists audit_by_accessor rename to audit_by_accessor_unpartitioned`.execute(db);
  await sql`create table audit_events (
    seq bigint not null, time bigint not null, request_id text not null, accessor text, source text,
    operation text not null, secret_name text, version_id text, outcome text not null, error_code text,
    status integer not null, latency_us bigint not null, detail text, prev_hash text not null, hash text not null,
    constraint audit_events_seq_time primary key (seq, time)
  ) partition by range (time)`.execute(db);
  await sql.raw(`create table ${DEFAULT_PARTITION} partition of audit_events default`).execute(db);
  const { rows } = await sql<{ month_start: string }>`
    select distinct (extract(epoch from date_trunc('month', to_timestamp(time / 1000.0) at time zone 'UTC')) * 1000)::bigint as month_start
    from audit_events_unpartitioned`.execute(db);
  await ensureMonthPartitions(db, [...rows.map((r) => Number(r.month_start)), ...upcomingMonths(Date.now())]);
  await sql.raw(`insert into audit_events (${COLUMNS}) select ${COLUMNS} from audit_events_unpartitioned`).execute(db);
  await sql`drop table audit_events_unpartitioned`.execute(db);
  await sql`create index audit_by_time on audit_events (time)`.execute(db);
  await sql`create index audit_by_secret on audit_events (secret_name, seq)`.execute(db);
  await sql`create index audit_by_accessor on audit_events (accessor, seq)`.execute(db);
}

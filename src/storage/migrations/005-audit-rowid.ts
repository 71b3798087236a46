import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * SQLite only: `seq bigint PRIMARY KEY` is not an alias of the rowid, so every audit append
 * maintained the table's rowid B-tree and a separate index on seq. Rebuilt with
 * `INTEGER PRIMARY KEY` (the rowid itself), an append updates one B-tree fewer. PostgreSQL's
 * bigint primary key is already the table's key.
 */
const COLUMNS = 'seq, time, request_id, accessor, source, operation, secret_name, version_id, outcome, error_code, status, latency_us, detail, prev_hash, hash';

export function auditRowid(dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      if (dialect !== 'sqlite') return;
      await sql`create table audit_events_rowid (
        seq integer primary key, time bigint not null, request_id text not null, accessor text, source text,
        operation text not null, secret_name text, version_id text, outcome text not null, error_code text,
        status integer not null, latency_us bigint not null, detail text, prev_hash text not null, hash text not null)`.execute(db);
      await sql.raw(`insert into audit_events_rowid (${COLUMNS}) select ${COLUMNS} from audit_events order by seq`).execute(db);
      await sql`drop table audit_events`.execute(db);
      await sql`alter table audit_events_rowid rename to audit_events`.execute(db);
      await db.schema.createIndex('audit_by_time').on('audit_events').column('time').execute();
      await db.schema.createIndex('audit_by_secret').on('audit_events').columns(['secret_name', 'seq']).execute();
      await db.schema.createIndex('audit_by_accessor').on('audit_events').columns(['accessor', 'seq']).execute();
    },
  };
}

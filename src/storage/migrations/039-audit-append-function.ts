import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * PostgreSQL: one audit batch in one round trip. `custos_audit_append` takes the chain lock,
 * and appends the given rows and moves the head only if the stored head is still the one the
 * node chained them after (the same test as chain-guard.ts's `matches`); otherwise it appends
 * nothing and returns the stored head (with its event's time) and the events from the expected head to it (up to 1,000;
 * none when further behind), so the node verifies what other nodes appended and chains again
 * without another round trip. Each statement inside a volatile function takes a new snapshot, so the head is read
 * after the lock is held (a CTE would read it from a snapshot taken before waiting for the lock).
 * The lock is held only while the server runs the function, never across network round trips.
 * The head matches only if its event's time is the one the node chained after too
 * (`expected_time`): audit time never goes back along the chain (migration 038), so a batch
 * chained without knowing the head's time is refused, and the node learns it from the answer.
 * SQLite has one writer and needs none of this.
 */
export function auditAppendFunction(dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      if (dialect !== 'postgres') return;
      await sql`
        create or replace function custos_audit_append(
          expected_seq bigint, expected_hash text, expected_mac text, expected_time bigint, batch jsonb,
          new_seq bigint, new_hash text, new_mac text, durable boolean
        ) returns table (appended boolean, seq bigint, hash text, mac text, event_hash text, event_time bigint, between_events jsonb)
        language plpgsql volatile as $fn$
        #variable_conflict use_column
        declare
          head record;
        begin
          if not durable then
            perform set_config('synchronous_commit', 'off', true);
          end if;
          perform pg_advisory_xact_lock(7236001);
          select h.seq, h.hash, h.mac, e.hash as event_hash, e.time as event_time into head
            from audit_head h left join audit_events e on e.seq = h.seq
            where h.id = 1;
          if not found then
            return;
          end if;
          if head.seq <> expected_seq or head.hash <> expected_hash or head.mac <> expected_mac
            or not (head.event_hash is not distinct from expected_hash or (head.seq = 0 and head.event_hash is null))
            or head.event_time is distinct from expected_time then
            return query select false, head.seq, head.hash, head.mac, head.event_hash, head.event_time,
              case when head.seq > expected_seq and head.seq - expected_seq <= 1000 then
                (select jsonb_agg(to_jsonb(e) order by e.seq) from audit_events e where e.seq >= expected_seq and e.seq <= head.seq)
              end;
            return;
          end if;
          insert into audit_events (seq, time, request_id, accessor, source, operation, secret_name, version_id,
                                    outcome, error_code, status, latency_us, detail, prev_hash, hash)
            select r.seq, r.time, r.request_id, r.accessor, r.source, r.operation, r.secret_name, r.version_id,
                   r.outcome, r.error_code, r.status, r.latency_us, r.detail, r.prev_hash, r.hash
            from jsonb_populate_recordset(null::audit_events, batch) r;
          update audit_head set seq = new_seq, hash = new_hash, mac = new_mac where id = 1;
          return query select true, new_seq, new_hash, new_mac, new_hash, null::bigint, null::jsonb;
        end
        $fn$`.execute(db);
    },
  };
}

import { sql } from 'kysely';
import type { Queryable } from './schema.js';

const READ_OPERATIONS = ['secret.read', 'aws.GetSecretValue'];

/** Read-only aggregate queries behind `custos report` (inventory, access counts, rotation runs). */
export function createReportStore() {
  return {
    /** Live primary secrets with their rotation schedule, if any. */
    async inventory(q: Queryable) {
      return q.selectFrom('secrets').leftJoin('rotation_schedules', 'rotation_schedules.secret_id', 'secrets.id')
        .select(['secrets.id', 'secrets.name', 'secrets.owner', 'secrets.created_at', 'secrets.last_rotated_at', 'secrets.last_accessed_at', 'secrets.rotation',
          'rotation_schedules.next_due_at', 'rotation_schedules.overdue_since'])
        .where('secrets.deleted_at', 'is', null).where('secrets.primary_region', 'is', null).orderBy('secrets.name').execute();
    },
    /** Successful value reads since `since` per secret and principal, with how many fall after `recent`. */
    async readCounts(q: Queryable, since: number, recent: number) {
      const rows = await q.selectFrom('audit_events')
        .select(['secret_name', 'accessor', (eb) => eb.fn.countAll<number>().as('reads'), (eb) => eb.fn.max('time').as('last_read'),
          sql<number>`sum(case when time >= ${recent} then 1 else 0 end)`.as('recent_reads')])
        .where('time', '>=', since).where('outcome', '=', 'success').where('operation', 'in', READ_OPERATIONS).where('secret_name', 'is not', null)
        .groupBy(['secret_name', 'accessor']).execute();
      return rows.map((r) => ({ secret: r.secret_name!, accessor: r.accessor, reads: Number(r.reads), recentReads: Number(r.recent_reads), lastRead: Number(r.last_read) }));
    },
    /** Successful value reads per UTC day and secret since `since`. */
    async readsPerDay(q: Queryable, since: number) {
      const day = sql<number>`(time / 86400000)`;
      const rows = await q.selectFrom('audit_events').select([day.as('day'), 'secret_name', (eb) => eb.fn.countAll<number>().as('reads')])
        .where('time', '>=', since).where('outcome', '=', 'success').where('operation', 'in', READ_OPERATIONS).where('secret_name', 'is not', null)
        .groupBy([day, 'secret_name']).execute();
      return rows.map((r) => ({ day: Math.floor(Number(r.day)), secret: r.secret_name!, reads: Number(r.reads) }));
    },
    async tokenNames(q: Queryable): Promise<Map<string, string>> {
      const rows = await q.selectFrom('tokens').select(['accessor', 'display_name']).execute();
      return new Map(rows.map((r) => [r.accessor, r.display_name]));
    },
    /** Tokens and AWS access keys not revoked (and, for tokens, not expired) at `now`. */
    async liveCredentials(q: Queryable, now: number) {
      const tokens = await q.selectFrom('tokens').select(['accessor', 'display_name', 'policies', 'env', 'is_root', 'expires_at', 'created_at']).where('revoked_at', 'is', null)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)])).orderBy('accessor').execute();
      const keys = await q.selectFrom('aws_access_keys').select(['access_key_id', 'display_name', 'policies', 'env', 'is_root', 'created_at']).where('revoked_at', 'is', null).orderBy('access_key_id').execute();
      return { tokens, keys };
    },
    async policies(q: Queryable) {
      return q.selectFrom('policies').select(['name', 'document', 'updated_at']).orderBy('name').execute();
    },
    /** Rotation runs started in [since, until). */
    async rotationRuns(q: Queryable, since: number, until: number) {
      return q.selectFrom('rotations').select(['id', 'secret_name', 'status', 'trigger', 'requested_by', 'attempts', 'started_at', 'finished_at'])
        .where('started_at', '>=', since).where('started_at', '<', until).orderBy('started_at').execute();
    },
  };
}

export type ReportStore = ReturnType<typeof createReportStore>;

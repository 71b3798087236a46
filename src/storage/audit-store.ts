import { sql, type Insertable, type Selectable } from 'kysely';
import type { Database, Dialect, Queryable } from './schema.js';

export type AuditRow = Selectable<Database['audit_events']>;
export type AnchorRow = Selectable<Database['audit_anchor']>;

export interface AuditQuery {
  secretName?: string;
  accessor?: string;
  since?: number;
  outcome?: string;
  operation?: string;
  /** Newest first when true (tail); oldest first otherwise. */
  newestFirst?: boolean;
  afterSeq?: number;
  limit: number;
}

// Any constant works; it only has to be the same on every node.
const AUDIT_CHAIN_LOCK_ID = 7_236_001;

export function createAuditStore(dialect: Dialect) {
  return {
    /**
     * Serializes chain appends across nodes for the rest of the transaction. SQLite needs
     * nothing: it has one writer at a time.
     */
    async lockChain(tx: Queryable): Promise<void> {
      if (dialect === 'postgres') await sql`select pg_advisory_xact_lock(${AUDIT_CHAIN_LOCK_ID})`.execute(tx);
    },
    async head(q: Queryable): Promise<{ seq: number; hash: string } | undefined> {
      return q.selectFrom('audit_events').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    },
    async anchor(q: Queryable): Promise<AnchorRow | undefined> {
      return q.selectFrom('audit_anchor').selectAll().where('id', '=', 1).executeTakeFirst();
    },
    async setAnchor(q: Queryable, anchor: Omit<AnchorRow, 'id'>): Promise<void> {
      await q
        .insertInto('audit_anchor')
        .values({ id: 1, ...anchor })
        .onConflict((oc) => oc.column('id').doUpdateSet(anchor))
        .execute();
    },
    async insertMany(q: Queryable, rows: Insertable<Database['audit_events']>[]): Promise<void> {
      // Chunked to stay under SQLite's bound-parameter limit.
      for (let i = 0; i < rows.length; i += 200) await q.insertInto('audit_events').values(rows.slice(i, i + 200)).execute();
    },
    async page(q: Queryable, afterSeq: number, limit: number): Promise<AuditRow[]> {
      return q.selectFrom('audit_events').selectAll().where('seq', '>', afterSeq).orderBy('seq').limit(limit).execute();
    },
    async query(q: Queryable, query: AuditQuery): Promise<AuditRow[]> {
      let select = q.selectFrom('audit_events').selectAll();
      if (query.secretName !== undefined) select = select.where('secret_name', '=', query.secretName);
      if (query.accessor !== undefined) select = select.where('accessor', '=', query.accessor);
      if (query.since !== undefined) select = select.where('time', '>=', query.since);
      if (query.outcome !== undefined) select = select.where('outcome', '=', query.outcome);
      if (query.operation !== undefined) select = select.where('operation', '=', query.operation);
      if (query.afterSeq !== undefined) select = select.where('seq', '>', query.afterSeq);
      return select.orderBy('seq', query.newestFirst ? 'desc' : 'asc').limit(query.limit).execute();
    },
    /** The newest event strictly older than `cutoff`, i.e. the last one retention removes. */
    async lastBefore(q: Queryable, cutoff: number): Promise<{ seq: number; hash: string } | undefined> {
      return q.selectFrom('audit_events').select(['seq', 'hash']).where('time', '<', cutoff).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    },
    async deleteUpTo(q: Queryable, seq: number): Promise<number> {
      const result = await q.deleteFrom('audit_events').where('seq', '<=', seq).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}

export type AuditStore = ReturnType<typeof createAuditStore>;

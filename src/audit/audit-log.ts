import { createHmac } from 'node:crypto';
import type { Kysely } from 'kysely';
import { AppError } from '../errors/app-error.js';
import type { AuditRow, AuditStore } from '../storage/audit-store.js';
import type { Database } from '../storage/schema.js';

/** One audited request or engine step. Never carries a secret value or a token. */
export interface AuditEvent {
  time: number;
  requestId: string;
  accessor: string | null;
  source: string | null;
  operation: string;
  secretName: string | null;
  versionId: string | null;
  outcome: 'success' | 'denied' | 'failure';
  errorCode: string | null;
  status: number;
  latencyUs: number;
  /** Small non-secret context (labels moved, rotation step, node). */
  detail?: Record<string, string | number | boolean | null>;
}

export const GENESIS_HASH = '0'.repeat(64);

/** Fixed field order so the hash input never depends on object key order or the engine. */
export function canonicalEvent(row: Omit<AuditRow, 'hash' | 'prev_hash'>): string {
  return JSON.stringify([
    row.seq, row.time, row.request_id, row.accessor, row.source, row.operation, row.secret_name,
    row.version_id, row.outcome, row.error_code, row.status, row.latency_us, row.detail,
  ]);
}

export function chainHash(key: Buffer, prevHash: string, row: Omit<AuditRow, 'hash' | 'prev_hash'>): string {
  return createHmac('sha256', key).update(prevHash).update('\n').update(canonicalEvent(row)).digest('hex');
}

export interface VerifyResult {
  ok: boolean;
  checked: number;
  firstSeq: number | null;
  lastSeq: number | null;
  headHash: string;
  /** The first event that is altered, or the sequence number where events are missing. */
  problem?: { seq: number; kind: 'altered' | 'missing' | 'reordered'; message: string };
}

export interface AuditLogDeps {
  db: Kysely<Database>;
  auditStore: AuditStore;
  /** The HMAC chain key; throws while sealed. */
  chainKey: () => Buffer;
  isSealed: () => boolean;
  now: () => number;
  /** Reports write failures (the log never includes event payloads beyond ids). */
  onError: (error: unknown) => void;
}

interface Pending {
  event: AuditEvent;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Append-only, hash-chained audit log with group commit: events recorded while a batch is
 * being written join the next batch, so one transaction carries many requests' events under
 * load, and `record` resolves only once its event is durable (a request whose event cannot
 * be written fails: fail closed).
 */
export function createAuditLog(deps: AuditLogDeps) {
  let queue: Pending[] = [];
  let flushing: Promise<void> | null = null;
  // While sealed there is no chain key: keep events (bounded) and chain them at unseal.
  const heldWhileSealed: AuditEvent[] = [];
  const MAX_HELD = 10_000;

  async function writeBatch(batch: Pending[]): Promise<void> {
    const key = deps.chainKey();
    await deps.db.transaction().execute(async (tx) => {
      await deps.auditStore.lockChain(tx);
      const head = await deps.auditStore.head(tx);
      const anchor = head ? undefined : await deps.auditStore.anchor(tx);
      let seq = head?.seq ?? anchor?.seq ?? 0;
      let prevHash = head?.hash ?? anchor?.hash ?? GENESIS_HASH;
      const rows = batch.map(({ event }) => {
        seq += 1;
        const base = {
          seq,
          time: event.time,
          request_id: event.requestId,
          accessor: event.accessor,
          source: event.source,
          operation: event.operation,
          secret_name: event.secretName,
          version_id: event.versionId,
          outcome: event.outcome,
          error_code: event.errorCode,
          status: event.status,
          latency_us: Math.round(event.latencyUs),
          detail: event.detail ? JSON.stringify(event.detail) : null,
        };
        const hash = chainHash(key, prevHash, base);
        const row = { ...base, prev_hash: prevHash, hash };
        prevHash = hash;
        return row;
      });
      await deps.auditStore.insertMany(tx, rows);
    });
  }

  function scheduleFlush(): void {
    if (flushing) return;
    flushing = (async () => {
      // Yield once so every request finishing in this tick joins the batch.
      await new Promise((r) => setImmediate(r));
      while (queue.length > 0) {
        const batch = queue;
        queue = [];
        try {
          await writeBatch(batch);
          for (const p of batch) p.resolve();
        } catch (error) {
          deps.onError(error);
          const failure = new AppError('audit_unavailable', 'the audit log could not be written, so the response was withheld; a write may have been applied (retry it with the same idempotency token)', { cause: error });
          for (const p of batch) p.reject(failure);
        }
      }
    })().finally(() => {
      flushing = null;
      if (queue.length > 0) scheduleFlush();
    });
  }

  return {
    /** Resolves once the event is durably chained; rejects with `audit_unavailable` otherwise. */
    record(event: AuditEvent): Promise<void> {
      if (deps.isSealed()) {
        if (heldWhileSealed.length < MAX_HELD) heldWhileSealed.push(event);
        return Promise.resolve();
      }
      return new Promise<void>((resolve, reject) => {
        queue.push({ event, resolve, reject });
        scheduleFlush();
      });
    },

    /** Chains the events recorded while sealed; call right after unsealing. */
    async releaseHeld(): Promise<void> {
      const held = heldWhileSealed.splice(0);
      await Promise.all(held.map((event) => this.record(event)));
    },

    /** Waits for every queued event to be written (graceful shutdown). */
    async flush(): Promise<void> {
      while (flushing) await flushing;
    },

    /** Walks the chain from its anchor and reports the first altered, missing or reordered event. */
    async verify(): Promise<VerifyResult> {
      const key = deps.chainKey();
      const anchor = await deps.auditStore.anchor(deps.db);
      let expectedSeq = (anchor?.seq ?? 0) + 1;
      let prevHash = anchor?.hash ?? GENESIS_HASH;
      let checked = 0;
      let firstSeq: number | null = null;
      let lastSeq: number | null = null;
      let after = 0;
      for (;;) {
        const page = await deps.auditStore.page(deps.db, after, 1000);
        if (page.length === 0) break;
        for (const row of page) {
          firstSeq ??= row.seq;
          if (row.seq < expectedSeq) {
            return { ok: false, checked, firstSeq, lastSeq, headHash: prevHash, problem: { seq: row.seq, kind: 'reordered', message: `event ${row.seq} precedes the chain anchor` } };
          }
          if (row.seq > expectedSeq) {
            return { ok: false, checked, firstSeq, lastSeq, headHash: prevHash, problem: { seq: expectedSeq, kind: 'missing', message: `events ${expectedSeq}..${row.seq - 1} are missing` } };
          }
          const { hash, prev_hash, ...base } = row;
          if (prev_hash !== prevHash || chainHash(key, prevHash, base) !== hash) {
            return { ok: false, checked, firstSeq, lastSeq, headHash: prevHash, problem: { seq: row.seq, kind: 'altered', message: `event ${row.seq} was altered` } };
          }
          prevHash = hash;
          lastSeq = row.seq;
          expectedSeq += 1;
          checked += 1;
        }
        after = page[page.length - 1]!.seq;
      }
      return { ok: true, checked, firstSeq, lastSeq, headHash: prevHash };
    },

    /**
     * Deletes events older than the retention period. The hash of the last deleted event
     * becomes the anchor, so what remains still verifies as one unbroken chain.
     */
    async prune(retentionDays: number): Promise<number> {
      const cutoff = deps.now() - retentionDays * 86_400_000;
      return deps.db.transaction().execute(async (tx) => {
        await deps.auditStore.lockChain(tx);
        const last = await deps.auditStore.lastBefore(tx, cutoff);
        if (!last) return 0;
        await deps.auditStore.setAnchor(tx, { seq: last.seq, hash: last.hash, pruned_before: cutoff });
        return deps.auditStore.deleteUpTo(tx, last.seq);
      });
    },

    query: (query: Parameters<AuditStore['query']>[1]) => deps.auditStore.query(deps.db, query),
  };
}

export type AuditLog = ReturnType<typeof createAuditLog>;

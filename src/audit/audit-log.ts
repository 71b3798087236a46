/**
 * The audit log: recording, batching, start-up verification and the tamper guard. It stays one
 * file a little over 400 lines on purpose: when an append is allowed (verified, ready, tampered)
 * is decided by these pieces together, and the fail-closed rules are reviewed in one place.
 * Chaining, appenders, verification walks and the guard's state live in their own files.
 */
import type { Kysely } from 'kysely';
import { AppError } from '../errors/app-error.js';
import type { AuditStore } from '../storage/audit-store.js';
import type { Database, Queryable } from '../storage/schema.js';
import { anchorMac, chainRows, GENESIS_HASH, headMac, verifiedMac, type AuditEvent } from './audit-chain.js';
import { appendInTransaction, createInProcessAppender, type AuditAppender } from './audit-appenders.js';
import { createChainGuard } from './chain-guard.js';
import { verifyChain, type AcknowledgedBreak, type StoredHead, type VerifyResult } from './audit-verify.js';

export { canonicalEvent, chainHash, GENESIS_HASH, type AuditEvent } from './audit-chain.js';
export { ACKNOWLEDGE_BREAK, type AcknowledgedBreak, type VerifyResult } from './audit-verify.js';

export { createInProcessAppender, createPgAppender, createSqliteAppender, type AuditAppender } from './audit-appenders.js';

export interface AuditLogDeps {
  db: Kysely<Database>;
  auditStore: AuditStore;
  /** Where batches are written; in this process through Kysely unless given. */
  appender?: AuditAppender;
  /** The HMAC chain key; throws while sealed. */
  chainKey: () => Buffer;
  isSealed: () => boolean;
  now: () => number;
  /** Reports write failures (the log never includes event payloads beyond ids). */
  onError: (error: unknown) => void;
  /** Reports tampering, once per detection: the server logs it loudly. */
  onTamper?: (found: string) => void;
  /** Told every verified head (external checkpoints). */
  onHead?: (head: { seq: number; hash: string }) => void;
  /**
   * A store upgraded from a version that wrote no head at initialization may have none yet,
   * legitimately, until its first unseal by this version (when the barrier adds its
   * checkpoint key). True admits a missing head then, if the store holds no events either.
   */
  allowMissingHead?: () => boolean;
  /** Extra start-up check (the last external checkpoint); returns what is wrong, or null. */
  startupCheck?: (q: Queryable, acknowledged: AcknowledgedBreak[]) => Promise<string | null>;
  /** The highest sequence number recorded outside the database (a new segment starts above it). */
  highestExternalSeq?: () => number;
  /** A new segment was opened (checkpoint it at once). */
  onAcknowledged?: () => void;
  /** Start-up walks a chain of up to this many events whole; a longer one from the verified mark (default 1,000,000). */
  startupWalkMaxEvents?: number;
  /**
   * When a periodic check walks the whole chain this often (the alerts' integrity rule), a
   * start-up that walked from the mark skips its background whole walk if the last one is more
   * recent than this: the periodic check walks it whole when due. Unset: always walk it.
   */
  periodicFullWalkMs?: number;
}

const NO_OPTIONS: RecordOptions = Object.freeze({});

interface Pending {
  event: AuditEvent;
  tamperedOk: boolean;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Options of one recorded event. */
export interface RecordOptions {
  /**
   * The request may be answered while the chain is tampered (verify, acknowledge-break,
   * reading events): its event is held and chained right after the acknowledgement.
   */
  tamperedOk?: boolean;
}

/**
 * Append-only, hash-chained audit log with group commit: events recorded while a batch is
 * being written join the next batch, so one transaction carries many requests' events under
 * load, and `record` resolves only once its event is durable (a request whose event cannot
 * be written fails: fail closed). No append extends a chain whose head it has not verified:
 * the whole chain is verified once after unseal, and each append checks the stored head
 * against the one this process last wrote or verified. On a mismatch that is not a genuine
 * extension the log is tampered and refuses appends until an operator acknowledges the break.
 */
export function createAuditLog(deps: AuditLogDeps) {
  /** The newest event a verify walk found good, and when the chain was last walked whole. */
  let verified: { seq: number; hash: string; fullAt: number } | null = null;
  const appender = deps.appender ?? createInProcessAppender(deps.db, deps.auditStore);
  const guard = createChainGuard({ onTamper: (found) => deps.onTamper?.(found), onHead: (head) => deps.onHead?.(head) });
  let queue: Pending[] = [];
  let flushing: Promise<void> | null = null;
  // While sealed there is no chain key, and while tampered no chain to extend: keep events
  // (bounded) and chain them at unseal or after the acknowledgement.
  const held: AuditEvent[] = [];
  const MAX_HELD = 10_000;
  let verifying: Promise<void> | null = null;
  // The acknowledgement transaction in progress: its event opens the new segment.
  let segment: { tx: Queryable; after: { seq: number; hash: string; time: number | null }; written?: StoredHead } | null = null;

  /** The stored verified mark, if its MAC verifies under `key`. */
  async function genuineMark(q: Queryable, key: Buffer) {
    const mark = await deps.auditStore.verifiedMark(q);
    return mark && mark.mac === verifiedMac(key, mark.seq, mark.hash, mark.fullAt) ? mark : undefined;
  }

  async function saveMark(q: Queryable, key: Buffer): Promise<void> {
    if (!verified) return;
    const { seq, hash, fullAt } = verified;
    await deps.auditStore.setVerifiedMark(q, { seq, hash, fullAt, mac: verifiedMac(key, seq, hash, fullAt) }).catch((error) => deps.onError(error));
  }

  /**
   * Verifies the chain before the first append and sets the guard from the result (through
   * `q`, or the pool). A chain of up to `startupWalkMaxEvents` events is walked whole. A longer
   * one is walked from the verified mark (the newest event an earlier walk found good, MAC'd),
   * so a restart does not stall for minutes on a year of events, and walked whole right after
   * in the background: tampering before the mark trips the log then, not before serving. With a
   * periodic whole walk (`periodicFullWalkMs`) that is not yet due, that walk is left to it:
   * at 10^8 events a whole walk takes a core for many minutes, and a restart does not make
   * events before the mark any more likely to have changed than the hours before it did.
   */
  let backgroundWalk: Promise<void> | null = null;

  async function runVerification(q: Queryable): Promise<void> {
    const gen = guard.generation();
    const key = deps.chainKey();
    const allowMissingHead = deps.allowMissingHead?.();
    const [storedHead, anchor] = await Promise.all([deps.auditStore.headCheckpoint(q), deps.auditStore.anchor(q)]);
    const long = (storedHead?.seq ?? 0) - (anchor?.seq ?? 0) > (deps.startupWalkMaxEvents ?? 1_000_000);
    let mark = long ? await genuineMark(q, key) : undefined;
    let result = await verifyChain(q, deps.auditStore, key, { allowMissingHead, ...(mark ? { from: mark } : {}) });
    let extra = result.ok ? await deps.startupCheck?.(q, result.acknowledgedBreaks) : null;
    if (mark && (!result.ok || extra)) {
      // Judged on the whole chain only: an acknowledged break before the mark is seen by a full walk.
      mark = undefined;
      result = await verifyChain(q, deps.auditStore, key, { allowMissingHead });
      extra = result.ok ? await deps.startupCheck?.(q, result.acknowledgedBreaks) : null;
    }
    if (!result.ok) return guard.trip(result.problem!.message, gen);
    if (extra) return guard.trip(extra, gen);
    // Sealed and unsealed again: the chain may not have gone back meanwhile.
    if ((result.head?.seq ?? 0) < guard.highestSeen()) return guard.trip(`the head went back from event ${guard.highestSeen()} to ${result.head?.seq ?? 0} while sealed`, gen);
    let head = result.head;
    if (!head) {
      head = { seq: 0, hash: GENESIS_HASH, mac: headMac(key, 0, GENESIS_HASH) };
      await deps.auditStore.setHeadCheckpoint(q, head); // the upgraded store's genesis, adopted once
    }
    guard.ready(head, gen);
    verified = { ...result.lastGood, fullAt: mark ? mark.fullAt : deps.now() };
    await saveMark(q, key);
    const periodicWalkDue = deps.periodicFullWalkMs === undefined || deps.now() - (mark?.fullAt ?? 0) >= deps.periodicFullWalkMs;
    if (mark && periodicWalkDue) {
      backgroundWalk = new Promise<void>((resolve) => setImmediate(resolve))
        .then(() => api.verify())
        .then(() => undefined, (error) => deps.onError(error))
        .finally(() => (backgroundWalk = null));
    }
  }

  /** Resolves once the chain was verified since unseal (the guard is then ready or tampered). */
  async function ensureVerified(q?: Queryable): Promise<void> {
    if (guard.state() !== 'unverified') return;
    // Inside a transaction, verify through it: on SQLite the pool's one connection is that
    // transaction's, and waiting for a verification running on it would never end.
    if (q) return runVerification(q);
    verifying ??= runVerification(deps.db).finally(() => (verifying = null));
    return verifying;
  }

  const tamperedError = () => new AppError('audit_tampered', 'the audit log was tampered with; an operator must run `custos audit acknowledge-break`');

  async function writeBatch(batch: Pending[]): Promise<void> {
    await ensureVerified();
    if (guard.state() === 'tampered') throw tamperedError();
    const head = await appender.append(batch.map((p) => p.event), deps.chainKey(), guard);
    guard.wrote(head);
  }

  function hold(event: AuditEvent): boolean {
    if (held.length >= MAX_HELD) return false;
    held.push(event);
    return true;
  }

  function scheduleFlush(): void {
    if (flushing) return;
    flushing = (async () => {
      // Yield once so every request finishing in this tick joins the batch.
      await new Promise((r) => setImmediate(r));
      // No lingering for bigger batches: under load the queue refills while a batch is
      // written, and waiting only delayed responses (measured: equal or better throughput
      // and p99 without it at 1, 16 and 64 connections).
      while (queue.length > 0) {
        const batch = queue;
        queue = [];
        try {
          await writeBatch(batch);
          for (const p of batch) p.resolve();
        } catch (error) {
          const tampered = (error as AppError).code === 'audit_tampered';
          if (!tampered) deps.onError(error);
          const failure = tampered ? tamperedError() : new AppError('audit_unavailable', 'the audit log could not be written, so the response was withheld', { cause: error, retryAfterSeconds: (error as AppError).retryAfterSeconds });
          for (const p of batch) {
            if (tampered && p.tamperedOk && hold(p.event)) p.resolve();
            else p.reject(failure);
          }
        }
      }
    })().finally(() => {
      flushing = null;
      if (queue.length > 0) scheduleFlush();
    });
  }

  const api = {
    /** Resolves once the event is durably chained; rejects with `audit_unavailable` or `audit_tampered` otherwise. */
    record(event: AuditEvent, options: RecordOptions = NO_OPTIONS): Promise<void> {
      if (deps.isSealed()) {
        hold(event);
        return Promise.resolve();
      }
      if (guard.state() === 'tampered') {
        if (options.tamperedOk && hold(event)) return Promise.resolve();
        return Promise.reject(tamperedError());
      }
      return new Promise<void>((resolve, reject) => {
        queue.push({ event, tamperedOk: options.tamperedOk === true, resolve, reject });
        scheduleFlush();
      });
    },

    /**
     * Verifies the whole chain (call right after unsealing), then chains the events recorded
     * while sealed. Tampering found here leaves them held, and the log refusing appends.
     */
    async verifyAtUnseal(): Promise<void> {
      await ensureVerified();
      if (guard.state() !== 'ready') return;
      const events = held.splice(0);
      await Promise.all(events.map((event) => this.record(event)));
    },

    /** Forgets what was verified (on seal: the store may change while no key is in memory). */
    reset(): void {
      guard.reset();
    },

    /** Another node acknowledged a break: verify again from scratch. */
    recheck(): void {
      if (guard.state() === 'tampered' && !deps.isSealed()) {
        guard.reset({ forgetHighest: true });
        void this.verifyAtUnseal().catch((error) => deps.onError(error));
      }
    },

    /** True while appends are refused until an operator acknowledges the break (a cheap check). */
    isTampered: () => guard.state() === 'tampered',

    /** The whole walk a start-up from the verified mark began in the background, while it runs. */
    backgroundWalk: (): Promise<void> | null => backgroundWalk,

    /** 'unverified' | 'ready' | 'tampered', and what was found. */
    status: () => ({ state: guard.state(), found: guard.found() }),

    /**
     * Appends one event inside the caller's transaction (a request's write), so the change
     * and its audit event commit together. The chain lock and head check happen in `tx`.
     */
    async appendWithin(tx: Queryable, event: AuditEvent): Promise<StoredHead> {
      const key = deps.chainKey();
      if (segment && segment.tx === tx) {
        const rows = chainRows(key, segment.after, [event]);
        await deps.auditStore.insertMany(tx, rows);
        const last = rows[0]!;
        segment.written = { seq: last.seq, hash: last.hash, mac: headMac(key, last.seq, last.hash) };
        await deps.auditStore.setHeadCheckpoint(tx, segment.written);
        return segment.written;
      }
      await ensureVerified(tx);
      if (guard.state() === 'tampered') throw tamperedError();
      return appendInTransaction(tx, deps.auditStore, key, guard, [event]);
    },

    /** The transaction that `appendWithin` wrote `head` in has committed: it is the head to expect. */
    committed(head: StoredHead): void {
      guard.wrote(head);
    },

    /**
     * Opens a new segment after a break: verifies the chain under the chain lock, and has
     * `writeEvent` append the acknowledgement (the caller's own audit event, annotated with
     * what was found and the reason) as the first event, linked to the last verified one.
     * Refuses with `audit_not_broken` when there is nothing to acknowledge.
     */
    async acknowledgeBreak(reason: string, annotate: (detail: Record<string, string | number>) => void, writeEvent: (tx: Queryable) => Promise<void>) {
      await this.flush();
      const key = deps.chainKey();
      const outcome = await deps.db.transaction().execute(async (tx) => {
        await deps.auditStore.lockChain(tx);
        const result = await verifyChain(tx, deps.auditStore, key);
        const found = guard.state() === 'tampered' ? guard.found()! : result.problem?.message;
        if (!found) throw new AppError('audit_not_broken', 'the audit chain verifies: there is no break to acknowledge');
        const after = result.lastGood;
        const nextSeq = Math.max(result.maxStoredSeq, guard.highestSeen(), deps.highestExternalSeq?.() ?? 0, after.seq) + 1;
        annotate({ after_seq: after.seq, after_hash: after.hash, found: found.slice(0, 300), reason });
        // Not earlier than any stored event, verified or not: time keeps growing with seq.
        segment = { tx, after: { seq: nextSeq - 1, hash: after.hash, time: await deps.auditStore.latestTime(tx) } };
        try {
          await writeEvent(tx);
          if (!segment.written) throw new AppError('internal_error', 'the acknowledgement was not written');
          return { head: segment.written, after, found };
        } finally {
          segment = null;
        }
      });
      guard.resume(outcome.head);
      deps.onAcknowledged?.();
      const events = held.splice(0);
      await Promise.all(events.map((event) => this.record(event)));
      return { afterSeq: outcome.after.seq, afterHash: outcome.after.hash, resumedAt: outcome.head.seq, found: outcome.found };
    },

    /** Writes the genesis head of a new chain (at initialization, inside its transaction). */
    async initializeChain(q: Queryable = deps.db): Promise<void> {
      const key = deps.chainKey();
      await deps.auditStore.setHeadCheckpoint(q, { seq: 0, hash: GENESIS_HASH, mac: headMac(key, 0, GENESIS_HASH) });
    },

    /** Waits for every queued event to be written (graceful shutdown). */
    async flush(): Promise<void> {
      while (flushing) await flushing;
    },

    /** Flushes, then stops the appender (and closes its connection, if it has one). */
    async close(): Promise<void> {
      while (flushing) await flushing;
      await appender.close();
    },

    /**
     * Walks the chain from its anchor and reports the first altered, missing or reordered
     * event not covered by an acknowledged break. A break found here trips the log like one
     * found by an append: the verify request's own event is held, so it cannot heal the chain.
     */
    async verify(options: { fullEveryMs?: number } = {}): Promise<VerifyResult & { tampered: string | null }> {
      // With `fullEveryMs` (the periodic integrity check), the walk starts after the newest event
      // verified before, and walks everything only once that long has passed since the last full walk.
      const at = deps.now();
      const full = options.fullEveryMs === undefined || !verified || at - verified.fullAt >= options.fullEveryMs;
      const key = deps.chainKey();
      const result = await verifyChain(deps.db, deps.auditStore, key, full ? {} : { from: verified! });
      if (result.ok) {
        verified = { ...result.lastGood, fullAt: full ? at : verified!.fullAt };
        await saveMark(deps.db, key);
      }
      if (!result.ok && !deps.isSealed()) guard.trip(result.problem!.message);
      const tampered = guard.found();
      // A chain that walks cleanly can still be tampered: rolled back behind what this process wrote.
      if (result.ok && tampered) return { ...result, ok: false, problem: { seq: result.lastGood.seq + 1, kind: 'missing', message: tampered }, tampered };
      return { ...result, tampered };
    },

    /** Hashes of stored events, for checking external checkpoints against the chain. */
    hashes: (seqs: number[]) => deps.auditStore.hashes(deps.db, seqs),
    anchor: () => deps.auditStore.anchor(deps.db),

    /**
     * Removes events older than the retention period, oldest first; the hash of the last
     * removed event becomes the anchor, so what remains verifies as one unbroken chain.
     * On PostgreSQL a month wholly past retention is dropped as a partition: one short
     * transaction moves the anchor to the month's newest event, drops the month and deletes
     * the few events of other months that precede it in the chain (nodes' clocks differ a
     * little). The rest goes in batches of `batchSize`, each its own short transaction under
     * the chain lock (anchor to the batch's last event, then delete up to it); writers get the
     * lock between steps, so pruning a year's backlog never holds appends up for long.
     */
    async prune(retentionDays: number, options: { batchSize?: number; onBatch?: (deleted: number) => void } = {}): Promise<number> {
      const cutoff = deps.now() - retentionDays * 86_400_000;
      const batchSize = Math.max(1, options.batchSize ?? 2000);
      // Never prune a tampered chain: what is left of it is the evidence.
      if (guard.state() === 'tampered') return 0;
      const last = await deps.auditStore.lastBefore(deps.db, cutoff);
      if (!last) return 0;
      let total = 0;
      for (const month of await deps.auditStore.months.before(deps.db, cutoff)) {
        if (guard.state() === 'tampered') return total;
        const deleted = await deps.db.transaction().execute(async (tx) => {
          await deps.auditStore.lockChain(tx);
          const { last: newest, events } = await deps.auditStore.months.summary(tx, month);
          if (newest) await deps.auditStore.setAnchor(tx, { seq: newest.seq, hash: newest.hash, pruned_before: cutoff, mac: anchorMac(deps.chainKey(), newest.seq, newest.hash, cutoff) });
          await deps.auditStore.months.drop(tx, month);
          return events + (newest ? await deps.auditStore.deleteUpTo(tx, newest.seq) : 0);
        });
        total += deleted;
        options.onBatch?.(deleted);
        await new Promise((resolve) => setImmediate(resolve));
      }
      for (;;) {
        if (guard.state() === 'tampered') return total;
        const deleted = await deps.db.transaction().execute(async (tx) => {
          await deps.auditStore.lockChain(tx);
          const end = (await deps.auditStore.nthUpTo(tx, last.seq, batchSize)) ?? (await deps.auditStore.nthUpTo(tx, last.seq, 1) ? last : undefined);
          if (!end) return 0;
          await deps.auditStore.setAnchor(tx, { seq: end.seq, hash: end.hash, pruned_before: cutoff, mac: anchorMac(deps.chainKey(), end.seq, end.hash, cutoff) });
          return deps.auditStore.deleteUpTo(tx, end.seq);
        });
        if (deleted === 0) return total;
        total += deleted;
        options.onBatch?.(deleted);
        // Let queued appends and reads run before the next batch takes the lock again.
        await new Promise((resolve) => setImmediate(resolve));
      }
    },

    query: (query: Parameters<AuditStore['query']>[1]) => deps.auditStore.query(deps.db, query),
  };
  return api;
}

export type AuditLog = ReturnType<typeof createAuditLog>;

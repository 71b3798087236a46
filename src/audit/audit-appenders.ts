import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import type { AuditRow, AuditStore } from '../storage/audit-store.js';
import type { Database, Queryable } from '../storage/schema.js';
import { openSqliteAuditWriter } from '../storage/sqlite-audit-writer.js';
import { chainRows, headMac, type AuditEvent } from './audit-chain.js';
import type { ChainGuard } from './chain-guard.js';
import { checkExtension, extensionProblem, type StoredHead } from './audit-verify.js';

/**
 * Where the audit log's batches are written: in this process through Kysely (PostgreSQL, and
 * SQLite in memory), or through the SQLite writer's own connection. Both append only after the
 * chain guard accepted the stored head.
 */

/** Writes one chained batch durably (or throws). Implementations decide where the work runs. */
export interface AuditAppender {
  /**
   * Appends after the stored head once `guard` accepts it (the head this process last saw, or
   * a genuine extension of it); returns the new head. Throws `audit_tampered` otherwise.
   */
  append(events: AuditEvent[], key: Buffer, guard: ChainGuard): Promise<StoredHead>;
  close(): Promise<void>;
}

/** Chains `events` after the verified head inside `tx` and moves the MAC'd head. */
export async function appendInTransaction(tx: Queryable, auditStore: AuditStore, key: Buffer, guard: ChainGuard, events: AuditEvent[]): Promise<StoredHead> {
  await auditStore.lockChain(tx);
  const stored = await auditStore.headCheckpoint(tx);
  const expected = guard.expected();
  if (!guard.matches(stored)) guard.accept(stored!, await checkExtension(tx, auditStore, key, expected, stored));
  const rows: AuditRow[] = chainRows(key, { seq: stored!.seq, hash: stored!.hash, time: stored!.event_time }, events);
  await auditStore.insertMany(tx, rows);
  const last = rows[rows.length - 1]!;
  const head = { seq: last.seq, hash: last.hash, mac: headMac(key, last.seq, last.hash) };
  await auditStore.setHeadCheckpoint(tx, head);
  // The next append (in this transaction, or after it committed) need not read the event back.
  guard.wroteInTransaction(stored!, head);
  return head;
}

/** Appends in this process through Kysely (PostgreSQL: the I/O is asynchronous anyway). */
export function createInProcessAppender(db: Kysely<Database>, auditStore: AuditStore): AuditAppender {
  return {
    append: (events, key, guard) => auditStore.appendTransaction(db, (tx) => appendInTransaction(tx, auditStore, key, guard, events)),
    close: async () => undefined,
  };
}

/**
 * PostgreSQL: each batch is one statement (`custos_audit_append`, migration 039) that appends
 * only if the stored head is still the one this node expects; the lock it takes is held only
 * while the server runs it. When another node appended in between, the statement appends nothing
 * and returns the stored head with the events in between: the node checks them as the locked
 * path does (their links, and the head's MAC), accepts or trips, and chains the batch again after the new
 * head. Nodes that keep overtaking each other fall back, after a few tries, to the locked
 * transaction (`appendInTransaction`), which cannot lose the race.
 */
export function createPgAppender(db: Kysely<Database>, auditStore: AuditStore, options: { optimisticTries?: number; onHeadRace?: (outcome: 'rechained' | 'locked') => void } = {}): AuditAppender {
  const tries = options.optimisticTries ?? 3;
  const locked = createInProcessAppender(db, auditStore);
  // The time of the head's event, for the head it belongs to: a batch's times start there
  // (time never goes back along the chain). Unknown after start-up or after a write's own
  // transaction moved the head; the function then refuses the batch and answers it.
  let headTime: { seq: number; hash: string; time: number | null } | undefined;
  return {
    async append(events, key, guard) {
      for (let attempt = 0; attempt < tries; attempt++) {
        const expected = guard.expected();
        const time = headTime && headTime.seq === expected.seq && headTime.hash === expected.hash ? headTime.time : null;
        const rows = chainRows(key, { seq: expected.seq, hash: expected.hash, time }, events);
        const last = rows[rows.length - 1]!;
        const head = { seq: last.seq, hash: last.hash, mac: headMac(key, last.seq, last.hash) };
        const result = await auditStore.appendIfHead(db, { seq: expected.seq, hash: expected.hash, mac: expected.mac, event_hash: expected.event_hash ?? null, event_time: time }, rows, head);
        if (result.appended) {
          headTime = { seq: head.seq, hash: head.hash, time: last.time };
          return head;
        }
        // No head row yet (a new store): the locked path writes the first one.
        if (!result.stored) return locked.append(events, key, guard);
        if (!guard.matches(result.stored)) guard.accept(result.stored, await checkExtension(db, auditStore, key, expected, result.stored, result.between));
        headTime = { seq: result.stored.seq, hash: result.stored.hash, time: result.stored.event_time };
        options.onHeadRace?.(attempt + 1 < tries ? 'rechained' : 'locked');
      }
      return locked.append(events, key, guard);
    },
    close: async () => undefined,
  };
}

/**
 * Appends on the request thread through its own SQLite connection, with statements compiled
 * once and rows inserted in chunks. better-sqlite3 is synchronous, but a batch of a few dozen
 * events takes well under a millisecond. (A worker thread did this before: on this class of
 * 2-core VM, waking another thread twice per batch and passing the events across cost more
 * CPU than the inserts themselves, and reads were ~20% slower for it.)
 *
 * The request thread's own connection may hold a write transaction open across awaits, and
 * this connection must never block the thread waiting for it (the holder could not finish):
 * it does not wait on a busy database, and the batch is retried a moment later instead.
 *
 * The head check costs nothing extra: the head row is read in the append transaction anyway
 * and compared with the one this process last wrote; only when another writer (a write
 * request's transaction on the main connection) moved it are the events in between read.
 */
export function createSqliteAppender(file: string, options: { fsyncEachBatch: boolean; busyRetryMs?: number }): AuditAppender {
  const writer = openSqliteAuditWriter(file, { fsyncEachBatch: options.fsyncEachBatch });
  const giveUpAfterMs = options.busyRetryMs ?? 5000;
  return {
    async append(events, key, guard) {
      const startedAt = Date.now();
      for (let attempt = 0; ; attempt++) {
        try {
          let head!: StoredHead;
          writer.append((stored, reader) => {
            if (!guard.matches(stored)) {
              const expected = guard.expected();
              const rows = stored && stored.seq > expected.seq ? reader.range(expected.seq, stored.seq) : [];
              guard.accept(stored!, extensionProblem(key, expected, stored, rows, rows[0]?.seq === expected.seq ? undefined : reader.anchor()));
            }
            const rows = chainRows(key, { seq: stored!.seq, hash: stored!.hash, time: stored!.event_time }, events);
            const last = rows[rows.length - 1]!;
            head = { seq: last.seq, hash: last.hash, mac: headMac(key, last.seq, last.hash) };
            return { rows, headMac: () => head.mac };
          });
          return head;
        } catch (error) {
          const busy = String((error as { code?: unknown }).code).startsWith('SQLITE_BUSY');
          if (!busy || Date.now() - startedAt >= giveUpAfterMs) throw error;
          await sleep(Math.min(1 + attempt, 10));
        }
      }
    },
    async close() {
      writer.close();
    },
  };
}

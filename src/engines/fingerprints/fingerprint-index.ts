import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Barrier } from '../../barrier/barrier.js';
import { curve, fingerprint, scalarFromKey } from '../../crypto/oprf.js';
import type { ChangeBus } from '../../lib/change-bus.js';
import { fingerprintInputs } from '../../lib/secret-fields.js';
import type { FingerprintRow, FingerprintStore } from '../../storage/fingerprint-store.js';
import type { Database } from '../../storage/schema.js';
import type { SecretStore } from '../../storage/secret-store.js';
import { transaction } from '../../storage/transaction.js';
import { AppError } from '../../errors/app-error.js';

const DRAIN_RETRY_MS = 1000;
/** Secrets whose rows one transaction writes: a build of a million secrets is not a million commits (each an fsync on SQLite). */
const WRITE_BATCH = 100;
/** Longest stretch of index work between two turns of the event loop: a build runs beside the requests, not instead of them. */
const SLICE_MS = 10;

/** The labels whose values a leak of would matter: the live one and the one rotation keeps valid for a grace period. */
export const INDEXED_LABELS = ['CURRENT', 'PREVIOUS'] as const;

export interface FingerprintIndexDeps {
  db: Kysely<Database>;
  secretStore: Pick<SecretStore, 'findById' | 'labels' | 'findVersion'>;
  fingerprintStore: FingerprintStore;
  barrier: Pick<Barrier, 'decryptValue' | 'fingerprintKey' | 'isSealed'>;
  changes: ChangeBus;
  /** Whether this node maintains the index (the leader; other nodes' writes reach it through the bus). */
  isLeader: () => boolean;
  logger: Logger;
}

/**
 * Keeps the scan fingerprint index in step with the secrets engine. It listens on the change
 * bus (every committed secret write, label move, deletion and purge publishes the secret's id)
 * and recomputes that secret's rows from its CURRENT and PREVIOUS versions, so the secrets
 * engine needs no knowledge of it. Values are decrypted only in memory, here, and only their
 * OPRF fingerprints are written.
 */
export function createFingerprintIndex(deps: FingerprintIndexDeps) {
  const { db, secretStore, fingerprintStore, barrier } = deps;
  const ecdh = curve();
  const dirty = new Set<string>();
  let rebuildAll = false;
  // Compare the index with the labels and recompute what differs: after missing changes, not after a key change.
  let catchUp = false;
  // The index was never marked built: mark it once this catch-up is written.
  let building = false;
  let checkedBuilt = false;
  let wasLeader = false;
  let drained = false;
  let running: Promise<void> | null = null;

  deps.changes.subscribe((topic, key) => {
    // Only the leader keeps the index; the others drop changes (a node that becomes leader rebuilds).
    if (!deps.isLeader()) return;
    if (topic === 'keyring' && key === '*') rebuildAll = true;
    if (topic !== 'secret') return;
    if (key === '*') rebuildAll = true;
    else dirty.add(key);
    schedule();
  });

  async function rowsFor(secretId: string): Promise<FingerprintRow[] | null> {
    const secret = await secretStore.findById(db, secretId);
    if (!secret || secret.primary_region !== null) return null;
    const k = scalarFromKey(barrier.fingerprintKey());
    const labels = (await secretStore.labels(db, secretId)).filter((l) => (INDEXED_LABELS as readonly string[]).includes(l.label));
    const rows: FingerprintRow[] = [];
    for (const label of labels) {
      const version = await secretStore.findVersion(db, secretId, label.version_id);
      if (!version || version.value_kind !== 'string') continue;
      const bytes = await barrier.decryptValue(secretId, version.version_id, { wrappedKey: version.wrapped_key, ciphertext: version.ciphertext }, { remember: false });
      const text = bytes.toString('utf8');
      bytes.fill(0);
      const seen = new Set<string>();
      for (const input of fingerprintInputs(text)) {
        const fp = fingerprint(ecdh, k, input.text);
        const key = `${input.field}\u0000${fp}`;
        if (seen.has(key)) continue;
        seen.add(key);
        rows.push({ secret_id: secretId, version_id: version.version_id, label: label.label, field: input.field, fingerprint: fp });
      }
    }
    return rows;
  }

  let sliceStart = performance.now();
  /**
   * Each fingerprint is two elliptic-curve operations (a fraction of a millisecond), and on SQLite
   * every query resolves without giving the event loop a turn, so a build of many secrets would
   * hold the thread (a server starting on a large store never got to listen). It gives way every
   * SLICE_MS.
   */
  async function yieldIfLong(): Promise<void> {
    if (performance.now() - sliceStart < SLICE_MS) return;
    await new Promise((resolve) => setImmediate(resolve));
    sliceStart = performance.now();
  }

  const unreachable = (error: unknown) => error instanceof AppError && error.retryAfterSeconds !== undefined;
  // Never the value: only which secret could not be indexed, and why.
  const skip = (error: unknown, secretId: string) => deps.logger.error({ err: error, secretId }, 'scan fingerprint index update failed');
  const write = (computed: [string, FingerprintRow[]][]) => transaction(db, undefined, async (tx) => {
    for (const [id, rows] of computed) await fingerprintStore.replaceSecret(tx, id, rows);
  });

  /**
   * Recomputes the rows of `ids`, WRITE_BATCH secrets per transaction. A store that cannot be
   * reached stops it with the rest of `ids` left dirty for the retry; a secret that fails on
   * its own is logged and skipped (a batch it breaks is written again one secret at a time).
   */
  async function reindex(ids: string[]): Promise<void> {
    for (let start = 0; start < ids.length; start += WRITE_BATCH) {
      const computed: [string, FingerprintRow[]][] = [];
      try {
        for (const id of ids.slice(start, start + WRITE_BATCH)) {
          try {
            computed.push([id, (await rowsFor(id)) ?? []]);
          } catch (error) {
            if (unreachable(error)) throw error;
            skip(error, id);
          }
          await yieldIfLong();
        }
        try {
          await write(computed);
        } catch (error) {
          if (unreachable(error)) throw error;
          for (const one of computed) await write([one]).catch((e: unknown) => (unreachable(e) ? Promise.reject(e) : skip(e, one[0])));
        }
      } catch (error) {
        // The database is busy or gone, not a secret's fault: what is not written stays for the retry.
        for (const left of ids.slice(start)) dirty.add(left);
        throw error;
      }
    }
  }

  /**
   * Marks dirty every secret whose CURRENT or PREVIOUS is not what its rows were computed from,
   * a page of 2,000 secrets at a time. Missed changes are only label moves, new versions and
   * deletions, which all show there; a full rebuild (a million secrets: many minutes of
   * elliptic-curve work) is for a changed fingerprint key only.
   */
  async function findStale(): Promise<void> {
    let after = '';
    let found = 0;
    for (;;) {
      const page = await fingerprintStore.staleSecrets(db, after, 2000, INDEXED_LABELS);
      for (const id of page.stale) dirty.add(id);
      found += page.stale.length;
      if (page.last === undefined) break;
      after = page.last;
      await yieldIfLong();
    }
    if (found > 0) deps.logger.info({ secrets: found }, 'scan fingerprint index: catching up on missed changes');
  }

  async function drain(): Promise<void> {
    const leader = deps.isLeader();
    // A node that just became leader ignored the changes published before it led.
    if (leader && !wasLeader && drained) catchUp = true;
    wasLeader = leader;
    drained = true;
    if (!checkedBuilt && !barrier.isSealed() && leader) {
      // Changes committed just before a crash (or by a node that then stopped leading) may be
      // missing. An index never built is caught up the same way: every secret without rows is
      // stale, and a build interrupted by a restart goes on from the secrets it had written.
      catchUp = true;
      building = !(await fingerprintStore.isBuilt(db));
      checkedBuilt = true;
    }
    while (dirty.size > 0 || rebuildAll || catchUp) {
      if (barrier.isSealed() || !deps.isLeader()) return;
      if (catchUp && !rebuildAll) {
        sliceStart = performance.now();
        await findStale();
      }
      catchUp = false;
      const full = rebuildAll || building;
      building = false;
      if (rebuildAll) {
        for (const id of await fingerprintStore.secretIds(db)) dirty.add(id);
        rebuildAll = false;
      }
      const batch = [...dirty];
      dirty.clear();
      const startedAt = (sliceStart = performance.now());
      if (full) deps.logger.info({ secrets: batch.length }, 'scan fingerprint index: building');
      await reindex(batch);
      if (full) {
        await fingerprintStore.markBuilt(db);
        deps.logger.info({ secrets: batch.length, seconds: Math.round((performance.now() - startedAt) / 1000) }, 'scan fingerprint index: built');
      }
    }
  }

  function schedule(): void {
    if (running || barrier.isSealed()) return;
    let failed = false;
    running = drain().catch((error: unknown) => {
      // The store is unreachable (PostgreSQL restarting): what is left to do stays marked.
      failed = true;
      deps.logger.warn({ err: error }, 'scan fingerprint index: the store could not be read; retrying');
    }).finally(() => {
      running = null;
      if (failed) setTimeout(schedule, DRAIN_RETRY_MS).unref();
      else if ((dirty.size > 0 || rebuildAll || catchUp) && !barrier.isSealed() && deps.isLeader()) schedule();
    });
  }

  return {
    /** Builds the index once if it never was (an existing database, a restored snapshot); then follows changes. */
    start(): void {
      schedule();
    },
    /** Recomputes every secret's rows (e.g. after the fingerprint key changed). */
    rebuild(): void {
      rebuildAll = true;
      schedule();
    },
    /** Resolves once the changes seen so far are indexed (a match waits for it, so a write just made is found). */
    async settled(): Promise<void> {
      schedule();
      while (running) await running;
    },
  };
}

export type FingerprintIndex = ReturnType<typeof createFingerprintIndex>;

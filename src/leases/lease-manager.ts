/**
 * Generic leases: issue (inside the issuing engine's transaction), renew (never past the
 * lease's max TTL), revoke, revoke by id prefix, list, and the sweep that revokes expired
 * leases. Everything is in the database: a restart or a leader change resumes from the rows.
 *
 * Revocation is crash-safe and idempotent: the intent (`revoking`) is stored before the
 * engine's external call and `revoked` only after it succeeds, so a crash in between leaves a
 * `revoking` row that the sweeper retries, and engines' revokers treat "already gone" as done.
 * A failed revocation is retried with exponential backoff, never dropped; after
 * `alertAfterAttempts` failures its audit event carries `detail.alert = lease_revocation_failing`.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { AppError } from '../errors/app-error.js';
import type { Identity } from '../auth/identity.types.js';
import type { Authorizer } from '../services/authorizer.js';
import type { Database, Queryable } from '../storage/schema.js';
import type { LeaseStore } from '../storage/lease-store.js';
import { transaction } from '../storage/transaction.js';
import { leaseOf, type Lease, type LeaseAudit, type LeaseRevoker, type NewLease } from './lease.types.js';

export const LEASE_RESOURCE = 'sys:leases';
const MAX_ERROR_LENGTH = 300;

export interface LeaseManagerDeps {
  db: Kysely<Database>;
  store: LeaseStore;
  authorizer: Pick<Authorizer, 'require'>;
  now: () => number;
  /** Records background (sweeper) events; request events come from the request's own auditor. */
  audit: LeaseAudit;
  nodeId: string;
  logger: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  /** Leases revoked per sweep query (default 100) and at once (default 4). */
  batchSize?: number;
  concurrency?: number;
  /** First retry delay and its cap (defaults 5 s and 10 min). */
  backoffMs?: number;
  maxBackoffMs?: number;
  alertAfterAttempts?: number;
  /** How long a revoked lease's row is kept (default 7 days; the audit log keeps its history). */
  revokedRetentionMs?: number;
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error)).slice(0, MAX_ERROR_LENGTH);

/** Runs `fn` over `items` with at most `limit` at a time. */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(workers);
}

export function createLeaseManager(deps: LeaseManagerDeps) {
  const { db, store, now } = deps;
  const revokers = new Map<string, LeaseRevoker>();
  const batchSize = deps.batchSize ?? 100;
  const concurrency = deps.concurrency ?? 4;
  const backoffMs = deps.backoffMs ?? 5_000;
  const maxBackoffMs = deps.maxBackoffMs ?? 600_000;
  const alertAfter = deps.alertAfterAttempts ?? 5;
  const revokedRetentionMs = deps.revokedRetentionMs ?? 7 * 86_400_000;
  // Per-target backoff (advisory, in memory; one entry per failing connection): once a lease of
  // a group fails, the group's other leases wait as long without an attempt of their own.
  const groupBackoff = new Map<string, { until: number }>();

  function revokerOf(lease: Lease): LeaseRevoker {
    const revoker = revokers.get(lease.engine);
    if (!revoker) throw new Error(`no engine "${lease.engine}" is registered to revoke leases`);
    return revoker;
  }

  async function load(id: string): Promise<Lease> {
    const row = await store.find(db, id);
    if (!row) throw new AppError('lease_not_found', `lease "${id}" does not exist`);
    return leaseOf(row);
  }

  /** The issuing token may renew and revoke its own leases; anyone else needs the capability on sys:leases. */
  async function authorizeOn(caller: Identity, lease: Lease, capability: 'update' | 'delete'): Promise<void> {
    if (lease.accessor !== null && lease.accessor === caller.accessor) return;
    await deps.authorizer.require(caller, capability, LEASE_RESOURCE);
  }

  async function auditBackground(lease: Lease, outcome: 'success' | 'failure', detail: Record<string, string | number | boolean | null>, operation = 'lease.revoke'): Promise<void> {
    const resource = revokers.get(lease.engine)?.resourceOf(lease) ?? null;
    await deps.audit({
      time: now(), requestId: `lease:${lease.id}`, accessor: 'system', source: `node:${deps.nodeId}`, operation,
      secretName: resource, versionId: null, outcome, errorCode: outcome === 'success' ? null : 'database_statement_failed',
      status: outcome === 'success' ? 200 : 502, latencyUs: 0, detail: { lease_id: lease.id, node: deps.nodeId, ...detail },
    }).catch((error) => deps.logger.error({ err: error, lease: lease.id }, 'lease audit write failed'));
  }

  /**
   * Runs the engine's revocation for a lease already marked `revoking` and records the result.
   * True when revoked; on failure the lease is rescheduled with backoff (and the error thrown
   * when `rethrow`, for a caller waiting on it).
   */
  async function finishRevocation(lease: Lease, reason: string, background: boolean, onFailure?: () => void): Promise<boolean> {
    if (!(await attemptRevocation(lease, reason, background, onFailure))) return false;
    const changed = await store.markRevoked(db, lease.id, now());
    if (changed && background) await auditBackground(lease, 'success', { reason, attempts: lease.revokeAttempts + 1 });
    return true;
  }

  /**
   * The engine's revocation of a lease already marked `revoking`, without marking it revoked
   * (the caller does, alone or in a batch). On failure the lease is rescheduled with backoff and
   * false returned, or the error thrown when not `background`.
   */
  async function attemptRevocation(lease: Lease, reason: string, background: boolean, onFailure?: () => void): Promise<boolean> {
    try {
      await revokerOf(lease).revoke(lease);
      return true;
    } catch (error) {
      onFailure?.(); // before any await: concurrent revocations of the same target see it at once
      const attempts = lease.revokeAttempts + 1;
      const delay = Math.min(maxBackoffMs, backoffMs * 2 ** Math.min(attempts - 1, 20));
      await store.recordFailure(db, lease.id, attempts, now() + delay, errorText(error));
      deps.logger.warn({ lease: lease.id, attempts, retry_in_ms: delay, err: errorText(error) }, 'lease revocation failed; will retry');
      await auditBackground(lease, 'failure', { reason, attempts, ...(attempts >= alertAfter ? { alert: 'lease_revocation_failing' } : {}) });
      if (!background) throw error instanceof AppError ? error : new AppError('database_statement_failed', `revoking lease "${lease.id}" failed (it stays revoking and is retried): ${errorText(error)}`);
      return false;
    }
  }

  return {
    /** Registers the engine that revokes (and renews) leases whose `engine` is `name`. */
    register(name: string, revoker: LeaseRevoker): void {
      revokers.set(name, revoker);
    },

    /** Creates a lease in the caller's transaction `q` (with the engine's own write). */
    async issue(q: Queryable, input: NewLease): Promise<Lease> {
      const issuedAt = now();
      const id = `${input.prefix}/${randomBytes(12).toString('base64url')}`;
      const maxExpiresAt = issuedAt + input.maxTtlSeconds * 1000;
      const expiresAt = Math.min(issuedAt + input.ttlSeconds * 1000, maxExpiresAt);
      await store.insert(q, {
        id, engine: input.engine, role: input.role, env: input.env, accessor: input.accessor, data: JSON.stringify(input.data), handle: input.handle ?? null,
        issued_at: issuedAt, expires_at: expiresAt, max_expires_at: maxExpiresAt, renewable: input.renewable ? 1 : 0,
        state: 'active', revoke_attempts: 0, next_attempt_at: null, last_error: null, revoked_at: null,
      });
      return leaseOf((await store.find(q, id))!);
    },

    /** Hands a lease whose issuance failed part-way to the sweeper (revoking what may not exist succeeds). */
    async abandon(id: string, cause: string): Promise<void> {
      await store.markRevoking(db, id, now());
      // The request's own event committed with the lease, before the failure: this one records it.
      const row = await store.find(db, id);
      if (row) await auditBackground(leaseOf(row), 'failure', { reason: 'issue_failed', cause: cause.slice(0, 200) }, 'lease.abandon');
    },

    /** Of `handles`, those an unrevoked lease of `engine` stands for. */
    async liveHandles(engine: string, handles: readonly string[]): Promise<Set<string>> {
      const live = new Set<string>();
      for (let i = 0; i < handles.length; i += 500) for (const h of await store.liveHandles(db, engine, handles.slice(i, i + 500))) live.add(h);
      return live;
    },

    async read(caller: Identity, id: string): Promise<Lease> {
      const lease = await load(id);
      if (lease.accessor !== caller.accessor) await deps.authorizer.require(caller, 'read', LEASE_RESOURCE);
      return lease;
    },

    /**
     * Extends an active lease to now + increment (default: its original TTL), capped at its
     * max TTL. A lease already at its max TTL is refused (`lease_max_ttl_reached`): it can
     * only end, and the holder must ask for new credentials.
     */
    async renew(caller: Identity, id: string, incrementSeconds?: number): Promise<Lease> {
      const lease = await load(id);
      await authorizeOn(caller, lease, 'update');
      if (lease.state !== 'active') throw new AppError('lease_revoked', `lease "${id}" is revoked`);
      const at = now();
      if (lease.expiresAt <= at) throw new AppError('lease_expired', `lease "${id}" has expired`);
      if (!lease.renewable) throw new AppError('lease_not_renewable', `lease "${id}" is not renewable`);
      if (lease.expiresAt >= lease.maxExpiresAt) throw new AppError('lease_max_ttl_reached', `lease "${id}" is at its max TTL (${new Date(lease.maxExpiresAt).toISOString()}); request new credentials`);
      const increment = incrementSeconds ?? Math.round((lease.expiresAt - lease.issuedAt) / 1000);
      if (!Number.isInteger(increment) || increment < 1) throw new AppError('validation_failed', 'increment must be a positive number of seconds', { details: { field: 'increment' } });
      const expiresAt = Math.min(at + increment * 1000, lease.maxExpiresAt);
      if (expiresAt <= lease.expiresAt) return lease; // already valid that long: nothing to move
      // The engine first (e.g. VALID UNTIL): a failure after it leaves the user valid a little
      // longer than its lease, which the lease's own expiry still ends.
      await revokerOf(lease).renew?.(lease, expiresAt);
      const moved = await transaction(db, caller.audit, (tx) => store.extend(tx, id, expiresAt));
      if (!moved) throw new AppError('lease_revoked', `lease "${id}" was revoked meanwhile`);
      return { ...lease, expiresAt };
    },

    /** Revokes now and waits for the engine; revoking a revoked lease succeeds (idempotent). */
    async revoke(caller: Identity, id: string): Promise<Lease> {
      const lease = await load(id);
      await authorizeOn(caller, lease, 'delete');
      if (lease.state === 'revoked') return lease;
      await transaction(db, caller.audit, (tx) => store.markRevoking(tx, id, now()));
      await finishRevocation({ ...lease, state: 'revoking' }, 'revoke', false);
      return { ...lease, state: 'revoked', revokedAt: now() };
    },

    /**
     * Marks every lease under the prefix for revocation in one statement (any number, none read
     * into memory); the sweeper revokes them in bounded batches. Returns how many were marked.
     */
    async revokePrefix(caller: Identity, prefix: string): Promise<number> {
      await deps.authorizer.require(caller, 'delete', LEASE_RESOURCE);
      if (prefix === '') throw new AppError('validation_failed', 'give a non-empty prefix', { details: { field: 'prefix' } });
      return transaction(db, caller.audit, (tx) => store.markRevokingPrefix(tx, prefix, now()));
    },

    async list(caller: Identity, query: { prefix?: string; after?: string; limit?: number; includeRevoked?: boolean }): Promise<{ leases: Lease[]; next: string | null }> {
      await deps.authorizer.require(caller, 'list', LEASE_RESOURCE);
      const limit = query.limit ?? 100;
      const rows = await store.list(db, query.prefix ?? '', query.after, limit + 1, query.includeRevoked ?? false);
      const page = rows.slice(0, limit).map(leaseOf);
      return { leases: page, next: rows.length > limit ? page[page.length - 1]!.id : null };
    },

    /**
     * One bounded sweep step: marks up to `batchSize` expired leases `revoking`, then revokes up
     * to `batchSize` due revocations (`concurrency` at a time). Returns how many it attempted;
     * the caller repeats while that equals the batch size.
     */
    async sweepBatch(): Promise<number> {
      const at = now();
      // Writes per batch, not per lease: on a synchronous (fsync per commit) store they dominate.
      await store.markExpiredRevoking(db, at, batchSize);
      await store.markRevokingWithEndedTokens(db, at, batchSize);
      const due = (await store.revocationsDue(db, at, batchSize)).map(leaseOf);
      const done: { lease: Lease; reason: string }[] = [];
      await eachLimited(due, concurrency, async (lease) => {
        const group = revokers.get(lease.engine)?.groupOf?.(lease);
        const waiting = group === undefined ? undefined : groupBackoff.get(group);
        if (waiting !== undefined && waiting.until > now()) {
          await store.recordFailure(db, lease.id, lease.revokeAttempts, waiting.until, `not attempted: ${group} is failing`);
          return;
        }
        const reason = lease.expiresAt <= at ? 'expired' : 'revoke';
        const ok = await attemptRevocation(lease, reason, true, () => group !== undefined && groupBackoff.set(group, { until: now() + backoffMs }));
        if (!ok) return;
        done.push({ lease, reason });
        if (group !== undefined) groupBackoff.delete(group);
      });
      // A crash before this update leaves them `revoking`: retried, and found already gone.
      const moved = new Set(await store.markRevokedMany(db, done.map((d) => d.lease.id), now()));
      await Promise.all(done.filter((d) => moved.has(d.lease.id)).map((d) => auditBackground(d.lease, 'success', { reason: d.reason, attempts: d.lease.revokeAttempts + 1 })));
      return due.length;
    },

    /** Drops rows of leases revoked more than `revokedRetentionMs` ago, at most 1,000 per call. */
    pruneRevoked(): Promise<number> {
      return store.pruneRevoked(db, now() - revokedRetentionMs, 1000);
    },

    /** Unrevoked leases by state (`active`, `revoking`), for metrics. */
    countByState: () => store.countByState(db),

    batchSize,
  };
}

export type LeaseManager = ReturnType<typeof createLeaseManager>;

import type { Kysely } from 'kysely';
import { AppError } from '../errors/app-error.js';
import { transaction } from '../storage/transaction.js';
import type { AuditLog, VerifyResult } from '../audit/audit-log.js';
import type { AuditCheckpoint } from '../audit/checkpoint-format.js';
import { GENESIS_HASH } from '../audit/audit-chain.js';
import type { Barrier, SealStatus } from '../barrier/barrier.js';
import type { ChangeBus } from '../lib/change-bus.js';
import type { AuditQuery, AuditRow } from '../storage/audit-store.js';
import type { Database } from '../storage/schema.js';
import type { Authorizer } from './authorizer.js';
import type { IdentityService } from '../auth/tokens/identity-service.js';
import type { Identity } from '../auth/identity.types.js';

export interface OperatorServiceDeps {
  db: Kysely<Database>;
  barrier: Barrier;
  identity: Pick<IdentityService, 'createRootToken'>;
  authorizer: Authorizer;
  auditLog: AuditLog;
  changes: ChangeBus;
  /** This node's signed checkpoints (audit/checkpoint-sinks.ts); none listed without. */
  checkpoints?: { list(beforeSeq: number, limit: number): (AuditCheckpoint & { signatureValid: boolean })[] };
  /**
   * The other processes serving this store (`--workers`): told of every unseal share this one
   * accepted and of every seal, so that unsealing or sealing any worker does it to all.
   * Resolves once every worker applied it. Absent with one process.
   */
  peers?: { shareSubmitted(share: string): Promise<void>; unsealReset(): Promise<void>; sealed(): Promise<void> };
}

/** Whether a checkpointed event is still in the chain with the hash that was signed. */
export type CheckpointChainState = 'matches' | 'differs' | 'missing' | 'pruned';
export interface CheckpointListing {
  checkpoints: (AuditCheckpoint & { signatureValid: boolean; chain: CheckpointChainState })[];
  /** Pass as `beforeSeq` for the next (older) page; null when this page was the last. */
  nextBeforeSeq: number | null;
}

/** Initialization, seal/unseal, keyring rotation and the audit log's read side. */
export function createOperatorService(deps: OperatorServiceDeps) {
  const { db, barrier, authorizer, auditLog } = deps;
  async function sealHere(): Promise<void> {
    await auditLog.flush();
    barrier.seal();
    auditLog.reset();
  }

  return {
    status: (): Promise<SealStatus> => barrier.status(),

    /**
     * Creates the keyring and the root token. The root token is hashed with a keyring key,
     * so the barrier is unsealed for that moment and sealed again: init leaves Custos sealed.
     */
    async initialize(shares: number, threshold: number): Promise<{ rootToken: string; keys: string[] }> {
      const keys = await db.transaction().execute((tx) => barrier.initialize(tx, shares, threshold));
      for (const key of keys.slice(0, threshold)) await barrier.submitUnsealShare(key);
      try {
        const rootToken = await db.transaction().execute(async (tx) => {
          // A new chain starts with a MAC'd genesis head: from now on a missing head is tampering.
          await auditLog.initializeChain(tx);
          return deps.identity.createRootToken(tx);
        });
        return { rootToken, keys };
      } finally {
        barrier.seal();
      }
    },

    async unseal(share: string): Promise<SealStatus> {
      const wasSealed = barrier.isSealed();
      let status: SealStatus;
      try {
        status = await barrier.submitUnsealShare(share);
      } catch (error) {
        // Shares that did not combine were all dropped here: the other workers drop theirs too.
        if (wasSealed && deps.peers && (await barrier.status()).progress === 0) await deps.peers.unsealReset();
        throw error;
      }
      if (wasSealed) await deps.peers?.shareSubmitted(share);
      if (wasSealed && !status.sealed) await auditLog.verifyAtUnseal();
      return status;
    },

    async seal(caller: Identity): Promise<void> {
      await authorizer.require(caller, 'update', 'sys:operator');
      await sealHere();
      await deps.peers?.sealed();
    },

    /** A share another worker accepted (never re-announced); unseals here too once enough arrived. */
    async applyPeerShare(share: string): Promise<void> {
      const wasSealed = barrier.isSealed();
      const status = await barrier.submitUnsealShare(share).catch(() => null); // a bad set fails on the worker that was given it
      if (wasSealed && status && !status.sealed) await auditLog.verifyAtUnseal();
    },

    /** Another worker's shares did not combine: drop the ones given so far. */
    applyPeerReset(): void {
      if (barrier.isSealed()) barrier.seal();
    },

    /** Another worker was sealed by an operator. */
    sealFromPeer: () => sealHere(),

    async rotateKey(caller: Identity): Promise<number> {
      await authorizer.require(caller, 'update', 'sys:operator');
      const term = await transaction(db, caller.audit, async (tx) => {
        const added = await barrier.rotateKey(tx);
        caller.audit?.annotate({ detail: { key_term: added } });
        return added;
      });
      await barrier.refreshKeyring();
      deps.changes.publish('keyring', String(term));
      return term;
    },

    async verifyAudit(caller: Identity): Promise<VerifyResult & { tampered: string | null }> {
      await authorizer.require(caller, 'read', 'sys:audit');
      await auditLog.flush();
      return auditLog.verify();
    },

    /**
     * Resumes service after a break: needs `update` on `sys:audit` (reading the log needs only
     * `read`). The caller's own audit event, carrying the reason and what was found, opens the
     * new segment, linked to the last event that verified.
     */
    async acknowledgeBreak(caller: Identity, reason: string) {
      await authorizer.require(caller, 'update', 'sys:audit');
      const auditor = caller.audit;
      if (!auditor) throw new AppError('internal_error', 'acknowledging a break needs the request\'s auditor');
      const result = await auditLog.acknowledgeBreak(reason, (detail) => auditor.annotate({ detail }), (tx) => auditor.beforeCommit(tx));
      deps.changes.publish('audit', String(result.resumedAt));
      return result;
    },

    /** The public key that verifies signed checkpoints (public: no permission beyond a token). */
    checkpointPublicKey(): string {
      return barrier.checkpointPublicKey();
    },

    /**
     * A page of signed checkpoints, newest first (`read` on `sys:audit`, like verify), each
     * compared with the event it names: a rollback or rewrite shows as `missing` or `differs`.
     */
    async listCheckpoints(caller: Identity, options: { beforeSeq?: number; limit: number }): Promise<CheckpointListing> {
      await authorizer.require(caller, 'read', 'sys:audit');
      await auditLog.flush();
      const page = deps.checkpoints?.list(options.beforeSeq ?? Number.MAX_SAFE_INTEGER, options.limit + 1) ?? [];
      const shown = page.slice(0, options.limit);
      const [hashes, anchor] = await Promise.all([auditLog.hashes(shown.map((c) => c.seq)), auditLog.anchor()]);
      const stored = new Map(hashes.map((h) => [h.seq, h.hash]));
      const chainState = (c: AuditCheckpoint): CheckpointChainState => {
        const hash = c.seq === 0 ? GENESIS_HASH : stored.get(c.seq); // seq 0: the chain's start, before any event
        if (hash !== undefined) return hash === c.hash ? 'matches' : 'differs';
        return anchor && anchor.seq >= c.seq ? 'pruned' : 'missing';
      };
      return {
        checkpoints: shown.map((c) => ({ ...c, chain: chainState(c) })),
        nextBeforeSeq: page.length > options.limit ? shown[shown.length - 1]!.seq : null,
      };
    },

    /** Hashes of the given events, for checking external checkpoints (`read` on `sys:audit`). */
    async auditHashes(caller: Identity, seqs: number[]): Promise<{ hashes: { seq: number; hash: string }[]; prunedThrough: number }> {
      await authorizer.require(caller, 'read', 'sys:audit');
      await auditLog.flush();
      const [hashes, anchor] = await Promise.all([auditLog.hashes(seqs), auditLog.anchor()]);
      return { hashes, prunedThrough: anchor?.seq ?? 0 };
    },

    async queryAudit(caller: Identity, query: AuditQuery): Promise<AuditEventRecord[]> {
      await authorizer.require(caller, 'read', 'sys:audit');
      await auditLog.flush();
      return auditLog.query(query);
    },
  };
}

export type OperatorService = ReturnType<typeof createOperatorService>;
/** One stored audit event as the audit API returns it. */
export type AuditEventRecord = AuditRow;

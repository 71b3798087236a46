import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { AuditStore } from '../storage/audit-store.js';
import type { Queryable } from '../storage/schema.js';
import type { AcknowledgedBreak } from './audit-verify.js';
import { createCheckpointer, fileSink, lastSignedCheckpoint, readCheckpointsBefore } from './audit-checkpoints.js';
import { checkpointSignatureValid, publicKeyFingerprint, type AuditCheckpoint } from './checkpoint-format.js';

/**
 * A checkpoint inside an acknowledged break: after the last event verified before it, and
 * either below the new segment or signed before the acknowledgement (another node may have
 * checkpointed events the acknowledging node never saw).
 */
export function coveredByBreak(checkpoint: { seq: number; time: number }, b: { afterSeq: number; resumedAt: number; time: number }): boolean {
  return b.afterSeq < checkpoint.seq && (checkpoint.seq < b.resumedAt || checkpoint.time <= b.time);
}

export interface AuditCheckpointerDeps {
  config: { audit_checkpoint_events: number; audit_checkpoint_seconds: number };
  barrier: { signCheckpoint(message: Buffer): Buffer; checkpointPublicKey(): string };
  logger: { info(obj: object, msg: string): void; error(obj: object, msg: string): void };
  nodeId: string;
  /** The append-only JSONL file (outside the data dir). */
  file: string;
  now: () => number;
}

/**
 * The server's checkpointer: signed checkpoints to the JSONL file and the JSON log, and the
 * start-up check that the newest checkpoint in that file still names an event the database
 * holds (a database file replaced by an older copy fails it).
 */
export function createAuditCheckpointer(deps: AuditCheckpointerDeps) {
  let fingerprint: { pem: string; value: string } | null = null;
  const keyFingerprint = () => {
    const pem = deps.barrier.checkpointPublicKey();
    if (fingerprint?.pem !== pem) fingerprint = { pem, value: publicKeyFingerprint(pem) };
    return fingerprint.value;
  };
  mkdirSync(path.dirname(deps.file), { recursive: true, mode: 0o700 });
  const checkpointer = createCheckpointer({
    sign: (message) => deps.barrier.signCheckpoint(message), keyFingerprint, node: deps.nodeId, now: deps.now,
    everyEvents: deps.config.audit_checkpoint_events, everyMs: deps.config.audit_checkpoint_seconds * 1000,
    sinks: [fileSink(deps.file), (checkpoint: AuditCheckpoint) => deps.logger.info({ audit_checkpoint: checkpoint }, 'audit checkpoint')],
    onError: (error) => deps.logger.error({ err: error, file: deps.file }, 'audit checkpoint could not be written'),
  });

  return {
    ...checkpointer,
    /**
     * A page of this node's checkpoints (newest first, below `beforeSeq`), each with whether
     * its signature verifies under the barrier's checkpoint key. Other nodes write their own files.
     */
    list(beforeSeq: number, limit: number): (AuditCheckpoint & { signatureValid: boolean })[] {
      const pem = deps.barrier.checkpointPublicKey();
      return readCheckpointsBefore(deps.file, beforeSeq, limit).map((c) => ({ ...c, signatureValid: checkpointSignatureValid(c, pem) }));
    },
    /** The newest checkpointed sequence number (a new segment starts above it). */
    lastCheckpointSeq(): number {
      return lastSignedCheckpoint(deps.file, deps.barrier.checkpointPublicKey())?.seq ?? 0;
    },
    /** Null when the newest checkpoint in the file is consistent with the store; what is wrong otherwise. */
    async checkAgainstStore(q: Queryable, store: AuditStore, acknowledged: AcknowledgedBreak[]): Promise<string | null> {
      const last = lastSignedCheckpoint(deps.file, deps.barrier.checkpointPublicKey());
      if (!last || last.seq === 0) return null;
      const [stored] = await store.hashes(q, [last.seq]);
      if (stored?.hash === last.hash) return null;
      // Inside a break an operator acknowledged: reported by verify, no longer a reason to refuse.
      if (acknowledged.some((b) => coveredByBreak(last, b))) return null;
      if (stored) return `event ${last.seq} differs from the signed checkpoint in ${deps.file}: the database was rewritten`;
      const anchor = await store.anchor(q);
      if (anchor && anchor.seq >= last.seq) return null; // pruned by retention
      return `event ${last.seq}, signed in checkpoint ${deps.file} at ${new Date(last.time).toISOString()}, is gone: the database was rolled back or rewritten`;
    },
  };
}

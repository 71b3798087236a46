import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Ties a request's audit event to the transaction that carries out its change, so a write
 * and its event commit together or not at all (fail closed for writes, not only for reads).
 *
 * The HTTP layer runs each mutating request inside `auditScope.run(auditor, …)`; storage's
 * `transaction()` calls `beforeCommit(tx)` at the end of every transaction it runs; the
 * auditor appends the request's event in the first one and ignores the rest.
 */
export interface TransactionAuditor {
  /** Appends the request's audit event inside `tx` (once per request). */
  beforeCommit(tx: unknown): Promise<void>;
  /** Adds what only the service knows (e.g. the version id it created) to the event. */
  annotate(fields: { versionId?: string | null }): void;
}

export const auditScope = new AsyncLocalStorage<TransactionAuditor>();

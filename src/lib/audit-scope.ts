/**
 * Ties a request's audit event to the transaction that carries out its change, so a write
 * and its event commit together or not at all (fail closed for writes, not only for reads).
 *
 * The HTTP layer gives each mutating request's identity an auditor; services pass
 * `caller.audit` to storage's `transaction()`, which calls `beforeCommit(tx)` at the end of
 * the transaction; the auditor appends the request's event in the first one and ignores the
 * rest. (Explicit rather than AsyncLocalStorage, which on Node 20 taxes every promise.)
 */
export interface TransactionAuditor {
  /** Appends the request's audit event inside `tx` (once per request). */
  beforeCommit(tx: unknown): Promise<void>;
  /**
   * The transaction `beforeCommit` appended in has committed (so the audit log may expect its
   * head without reading the event back). Optional: without it the next append checks it.
   */
  committed?(): void;
  /**
   * Adds what only the service knows (the version id or token it created, the key term it
   * added) to the event, or the operation when the service decides which one the request
   * turned out to be (a write that creates its secret). Call it before the write commits: the
   * event is sealed at commit.
   */
  annotate(fields: { operation?: string; versionId?: string | null; detail?: Record<string, string | number | boolean | null> }): void;
}

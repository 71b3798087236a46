import type { Kysely, Transaction } from 'kysely';
import type { TransactionAuditor } from '../lib/audit-scope.js';
import type { Database } from './schema.js';

/**
 * Runs `fn` in a transaction and, just before commit, lets the request's auditor (carried by
 * the caller's identity) append the request's audit event in the same transaction. Services
 * use this for every write they make on behalf of a request; background work passes none.
 */
export async function transaction<T>(db: Kysely<Database>, auditor: TransactionAuditor | undefined, fn: (tx: Transaction<Database>) => Promise<T>): Promise<T> {
  return auditedTransaction((work) => db.transaction().execute(work), auditor, fn);
}

export type TransactionRunner = <T>(work: (tx: Transaction<Database>) => Promise<T>) => Promise<T>;

/** `transaction`, run by `run` (a group commit, a transaction with another durability). */
export async function auditedTransaction<T>(run: TransactionRunner, auditor: TransactionAuditor | undefined, fn: (tx: Transaction<Database>) => Promise<T>): Promise<T> {
  const result = await run(async (tx) => {
    const value = await fn(tx);
    await auditor?.beforeCommit(tx);
    return value;
  });
  auditor?.committed?.();
  return result;
}

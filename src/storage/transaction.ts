import type { Kysely, Transaction } from 'kysely';
import { auditScope } from '../lib/audit-scope.js';
import type { Database } from './schema.js';

/**
 * Runs `fn` in a transaction and, just before commit, lets the current request's audit
 * scope append its event in the same transaction. Services use this for every write they
 * make on behalf of a request.
 */
export async function transaction<T>(db: Kysely<Database>, fn: (tx: Transaction<Database>) => Promise<T>): Promise<T> {
  return db.transaction().execute(async (tx) => {
    const result = await fn(tx);
    await auditScope.getStore()?.beforeCommit(tx);
    return result;
  });
}

/**
 * Access tracking: the last-accessed day of each secret, as AWS reports it. Reads call
 * `recordAccess`; at most one write per secret per day, never awaited by the read.
 */
import type { SecretRow } from '../../storage/secret-store.js';
import { DAY_MS } from './secret-refs.js';
import type { SecretsServiceDeps } from './secrets.types.js';

export function createAccessTracking(deps: Pick<SecretsServiceDeps, 'db' | 'secretStore' | 'now'>) {
  const { db, secretStore: store, now } = deps;
  const accessedDay = new Map<string, number>();

  function recordAccess(row: SecretRow): void {
    const day = Math.floor(now() / DAY_MS) * DAY_MS;
    if (row.last_accessed_at === day || accessedDay.get(row.id) === day) return;
    accessedDay.set(row.id, day);
    // Day granularity (as AWS reports it) means at most one write per secret per day;
    // it is not awaited so it never slows the read it was triggered by.
    store.touchAccessed(db, row.id, day).catch(() => accessedDay.delete(row.id));
  }

  return { recordAccess };
}

export type AccessTracking = ReturnType<typeof createAccessTracking>;

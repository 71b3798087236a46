import { sql, type Transaction } from 'kysely';
import type { Database } from './schema.js';

type Work<T> = (tx: Transaction<Database>) => Promise<T>;
interface Pending {
  work: Work<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** How many units share one commit at most (one SQLite transaction holds the connection meanwhile). */
export const MAX_GROUP = 64;

/**
 * Group commit for SQLite, whose one connection runs one transaction at a time: units of work
 * that arrive while a transaction is running wait and then share the next one, each inside its
 * own savepoint, so a unit that throws is rolled back alone and the others still commit. Each
 * caller's promise settles only after the shared commit, with the durability of `transaction`
 * (an fsynced one stays fsynced: one flush per group instead of one per unit). A group starts
 * one event-loop turn after its first unit arrives, never later: nothing waits on a timer.
 *
 * A unit must only use the transaction it is given (as everything run on SQLite's single
 * connection must), and it runs after the units queued before it, in order.
 */
export function createGroupCommit(transaction: <T>(work: Work<T>) => Promise<T>) {
  const queue: Pending[] = [];
  let running = false;

  async function runGroup(group: Pending[]): Promise<void> {
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      await transaction(async (tx) => {
        if (group.length === 1) {
          outcomes.push({ ok: true, value: await group[0]!.work(tx) });
          return;
        }
        for (const unit of group) {
          await sql`savepoint group_unit`.execute(tx);
          try {
            outcomes.push({ ok: true, value: await unit.work(tx) });
          } catch (error) {
            outcomes.push({ ok: false, error });
            await sql`rollback to group_unit`.execute(tx);
          }
          await sql`release group_unit`.execute(tx);
        }
      });
    } catch (error) {
      // The commit (or the one unit of a group of one) failed: nothing of the group is stored.
      for (const unit of group) unit.reject(error);
      return;
    }
    group.forEach((unit, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) unit.resolve(outcome.value);
      else unit.reject(outcome.error);
    });
  }

  async function drain(): Promise<void> {
    try {
      while (queue.length > 0) await runGroup(queue.splice(0, MAX_GROUP));
    } finally {
      running = false;
    }
  }

  return function inGroup<T>(work: Work<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      queue.push({ work: work as Work<unknown>, resolve: resolve as (value: unknown) => void, reject });
      if (running) return;
      running = true;
      // One turn of the event loop first: logins whose own reads (a secret id, a role) were
      // waiting for the connection finish them and join this group instead of the next.
      setImmediate(() => void drain());
    });
  };
}

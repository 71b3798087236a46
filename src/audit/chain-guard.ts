import { AppError } from '../errors/app-error.js';
import type { StoredHead } from './audit-verify.js';

/**
 * What this process knows about the chain's head: nothing yet (after unseal, before the
 * start-up verification), a head it verified or wrote itself, or that the chain was tampered
 * with. Appends compare the stored head with `expected()` in memory, so the check adds no
 * database round trip on the hot path.
 */
export function createChainGuard(deps: { onTamper: (found: string) => void; onHead: (head: { seq: number; hash: string }) => void }) {
  let state: 'unverified' | 'ready' | 'tampered' = 'unverified';
  let expected: StoredHead | null = null;
  let found: string | null = null;
  // The highest sequence number this process has seen in use: a new segment starts above it,
  // so numbers of deleted events are not silently reused.
  let highestSeen = 0;
  // Bumped on reset: a verification that started before a seal or a recheck must not decide after it.
  let generation = 0;
  // Heads this process wrote inside a request's transaction, by sequence number, each with the
  // head it extended. Whether that transaction committed is only known when its head shows up
  // as the stored one; until then (or if it rolled back) `expected` stays where it was.
  const writtenInTransaction = new Map<number, { after: StoredHead; head: StoredHead }>();
  const MAX_WRITTEN_IN_TRANSACTION = 1024;
  const sameHead = (a: StoredHead, b: StoredHead) => a.seq === b.seq && a.hash === b.hash && a.mac === b.mac;

  const advance = (head: StoredHead) => {
    if (expected && head.seq <= expected.seq) return;
    expected = head;
    highestSeen = Math.max(highestSeen, head.seq);
    for (const seq of writtenInTransaction.keys()) if (seq <= head.seq) writtenInTransaction.delete(seq);
    deps.onHead(head);
  };

  const storedIsHead = (stored: StoredHead & { event_hash?: string | null }, head: StoredHead) => sameHead(stored, head)
    && (stored.event_hash === head.hash || (head.seq === 0 && stored.event_hash == null));

  return {
    state: () => state,
    found: () => found,
    highestSeen: () => Math.max(highestSeen, expected?.seq ?? 0),

    /** The head this process last wrote or verified (only while ready). */
    expected(): StoredHead {
      if (state !== 'ready' || !expected) throw new AppError('audit_tampered', 'the audit chain has not been verified');
      return expected;
    },

    /**
     * True when the stored head is exactly the expected one (the common case: a string compare),
     * or one this process chained onto it, one or more appends deep, in request transactions (a
     * group commit's earlier units, or commits not confirmed through `wrote` yet): then the
     * events in between are ours and need not be read back. Only `wrote` (after a commit)
     * moves the expected head, so a transaction that rolls back leaves it where it was.
     */
    matches(stored: StoredHead | undefined): boolean {
      if (state !== 'ready' || !expected) throw new AppError('audit_tampered', found ?? 'the audit chain has not been verified');
      if (stored === undefined) return false;
      // The head row is the one this process last saw, and its event is still stored (genesis has none).
      if (storedIsHead(stored, expected)) return true;
      let written = writtenInTransaction.get(stored.seq);
      if (!written || !storedIsHead(stored, written.head)) return false;
      for (let steps = 0; steps < MAX_WRITTEN_IN_TRANSACTION; steps++) {
        if (sameHead(written.after, expected)) return true;
        const before = writtenInTransaction.get(written.after.seq);
        if (!before || !sameHead(before.head, written.after)) return false;
        written = before;
      }
      return false;
    },

    /** This process appended `head` after `after` inside a transaction that may still roll back. */
    wroteInTransaction(after: StoredHead, head: StoredHead): void {
      if (state !== 'ready') return;
      if (writtenInTransaction.size >= MAX_WRITTEN_IN_TRANSACTION) writtenInTransaction.clear();
      writtenInTransaction.set(head.seq, { after, head });
    },

    /** Takes `stored` as the new expected head if `problem` is null; trips and throws otherwise. */
    accept(stored: StoredHead, problem: string | null): void {
      if (problem) {
        this.trip(problem);
        throw new AppError('audit_tampered', 'the audit log was tampered with; an operator must run `custos audit acknowledge-break`');
      }
      advance(stored);
    },

    /** This process committed `head`. */
    wrote(head: StoredHead): void {
      if (state === 'ready') advance(head);
    },

    /** The current generation, to hand back to `ready` and `trip` when a verification ends. */
    generation: () => generation,

    /** A verification started in `gen` found the chain intact up to `head`. */
    ready(head: StoredHead, gen: number): void {
      if (gen !== generation || state !== 'unverified') return;
      state = 'ready';
      expected = null;
      advance(head);
    },

    /** An operator acknowledged the break: the new segment starts at `head`. */
    resume(head: StoredHead): void {
      writtenInTransaction.clear();
      state = 'ready';
      found = null;
      expected = null;
      advance(head);
    },

    trip(problem: string, gen = generation): void {
      if (state === 'tampered' || gen !== generation) return;
      state = 'tampered';
      found = problem;
      deps.onTamper(problem);
    },

    /**
     * Forgets what was verified. `forgetHighest` too after another node acknowledged a break:
     * its new segment may start below numbers this node saw in the part that was lost.
     */
    reset(options: { forgetHighest?: boolean } = {}): void {
      generation += 1;
      if (options.forgetHighest) highestSeen = 0;
      state = 'unverified';
      expected = null;
      found = null;
      writtenInTransaction.clear();
    },
  };
}

export type ChainGuard = ReturnType<typeof createChainGuard>;

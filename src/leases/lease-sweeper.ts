import type { Leadership } from '../lib/leadership.js';
import type { LeaseManager } from './lease-manager.js';

/**
 * Runs the lease sweep on the leader only, like the rotation scheduler: each tick pages due
 * leases in bounded batches (at most `maxBatchesPerTick`), checking leadership between
 * batches, so a node that loses the lease stops within one batch and the new leader resumes
 * from the database rows.
 */
export interface LeaseSweeperDeps {
  leases: Pick<LeaseManager, 'sweepBatch' | 'batchSize' | 'pruneRevoked'>;
  leadership: Pick<Leadership, 'isLeader'>;
  isSealed: () => boolean;
  logger: { error(obj: object, msg: string): void };
  tickMs: number;
  maxBatchesPerTick?: number;
}

export function createLeaseSweeper(deps: LeaseSweeperDeps) {
  let timer: NodeJS.Timeout | null = null;
  let ticking: Promise<void> | null = null;
  const maxBatches = deps.maxBatchesPerTick ?? 50;

  async function tick(): Promise<number> {
    let total = 0;
    for (let i = 0; i < maxBatches; i++) {
      if (!deps.leadership.isLeader() || deps.isSealed()) break;
      const n = await deps.leases.sweepBatch();
      total += n;
      if (n < deps.leases.batchSize) break;
    }
    if (deps.leadership.isLeader() && !deps.isSealed()) await deps.leases.pruneRevoked();
    return total;
  }

  const run = () => {
    if (ticking) return;
    ticking = tick().then(() => undefined, (err) => deps.logger.error({ err }, 'lease sweep failed')).finally(() => (ticking = null));
  };

  return {
    /** Starts ticking; the first tick runs at once so leases that expired while down are revoked on start-up. */
    start(): void {
      if (timer) return;
      run();
      timer = setInterval(run, deps.tickMs);
      timer.unref();
    },
    tick,
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      timer = null;
      await ticking;
    },
  };
}

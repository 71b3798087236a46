import type { Leadership } from '../../lib/leadership.js';
import type { RotationEngine } from './rotation-engine.js';

export interface RotationSchedulerDeps {
  engine: Pick<RotationEngine, 'resumeDue' | 'startDue' | 'endGraces'>;
  leadership: Leadership;
  /** Sealed: no keys, so no work (runs resume after unseal). */
  isSealed: () => boolean;
  logger: { error(obj: object, msg: string): void };
  /** How often to look for due work. */
  tickMs: number;
}

/**
 * Runs the engine's singleton work on the leader only: resume interrupted or backed-off
 * runs, start due rotations, end grace periods. The database guard (one active run per
 * secret) keeps this safe even if two nodes briefly both believe they lead.
 */
export function createRotationScheduler(deps: RotationSchedulerDeps) {
  let timer: NodeJS.Timeout | null = null;
  let ticking: Promise<void> | null = null;

  async function tick(): Promise<void> {
    if (!deps.leadership.isLeader() || deps.isSealed()) return;
    await deps.engine.resumeDue();
    if (!deps.leadership.isLeader()) return;
    await deps.engine.startDue();
    if (!deps.leadership.isLeader()) return;
    await deps.engine.endGraces();
  }

  const run = () => {
    if (ticking) return;
    ticking = tick().catch((err) => deps.logger.error({ err }, 'rotation scheduler tick failed')).finally(() => (ticking = null));
  };

  return {
    /** Starts ticking; the first tick runs at once so interrupted rotations resume on start-up. */
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

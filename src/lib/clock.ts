/**
 * The server's clock. Normally the wall clock; with the `testing_clock` setting (a documented
 * testing aid, never for production) an offset can be added at run time so integration tests
 * can cross TTLs and expiries without waiting.
 */
export interface Clock {
  now(): number;
  /** Moves this process's time forward; throws unless the clock was created adjustable. */
  advance(ms: number): number;
  readonly adjustable: boolean;
}

export function createClock(adjustable = false): Clock {
  let offset = 0;
  return {
    adjustable,
    now: adjustable ? () => Date.now() + offset : Date.now,
    advance(ms) {
      if (!adjustable) throw new Error('the clock is not adjustable (testing_clock is off)');
      if (!Number.isFinite(ms) || ms < 0) throw new Error('the clock only moves forward');
      offset += ms;
      return Date.now() + offset;
    },
  };
}

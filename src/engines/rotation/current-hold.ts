import type { ChangeBus } from '../../lib/change-bus.js';

/**
 * Holds reads of CURRENT while a single-user rotation is between `set` and `finish`.
 *
 * A single-user rotator changes the one password the target accepts in `set`; CURRENT moves
 * to the new value only in `finish`. In between, CURRENT names a password that no longer
 * logs in, and a client that knows nothing of PENDING (a plain boto3 job re-fetching
 * AWSCURRENT after an authentication failure) would fetch it again and fail again. So a read
 * of CURRENT of a held secret waits until the hold is released (then reads the new CURRENT),
 * or at most `maxWaitMs` (then reads the old CURRENT, which is what it would have got anyway).
 *
 * A hold is per secret: a region and a name (the same name in another region is another secret).
 * Holds travel over the change bus (topic `rotation`, key `hold:<region>|<name>` / `release:…`),
 * so a node serving a read learns of a rotation driven by another node. A bus that
 * reconnects (key `*`) drops every hold it knows: a missed release must not leave reads
 * waiting. A hold also ends by itself after `maxHoldMs`, should its driver die mid-run.
 *
 * The read path is hot: `waitIfHeld` is one Map lookup, and none at all when nothing is held.
 */
export interface CurrentHold {
  /** Null (synchronously) when reads of the secret's CURRENT are not held; else resolves when they may go on. */
  waitIfHeld(region: string, name: string): Promise<void> | null;
  /** Holds reads of the secret's CURRENT on every node; resolves once the other nodes have been told. */
  hold(region: string, name: string): Promise<void>;
  /** Releases the hold everywhere; waiting reads go on at once. */
  release(region: string, name: string): void;
}

export interface CurrentHoldOptions {
  changes: ChangeBus;
  /** The longest a read waits (config `rotation_read_hold_ms`); 0 turns holding off. */
  maxWaitMs: number;
  /** A hold nobody released ends after this long (a driver that died mid-run). */
  maxHoldMs?: number;
  now?: () => number;
}

interface Held {
  until: number;
  waiters: (() => void)[];
}

/** Regions never contain `|`, so the key names one secret. */
const holdKey = (region: string, name: string) => `${region}|${name}`;

export function createCurrentHold(options: CurrentHoldOptions): CurrentHold {
  const now = options.now ?? Date.now;
  const maxHoldMs = options.maxHoldMs ?? 60_000;
  const held = new Map<string, Held>();

  function open(name: string): void {
    const entry = held.get(name);
    if (entry) entry.until = now() + maxHoldMs;
    else held.set(name, { until: now() + maxHoldMs, waiters: [] });
  }

  function close(name: string): void {
    const entry = held.get(name);
    if (!entry) return;
    held.delete(name);
    for (const w of entry.waiters) w();
  }

  options.changes.subscribe((topic, key) => {
    if (topic !== 'rotation') return;
    if (key === '*') {
      for (const name of [...held.keys()]) close(name);
      return;
    }
    const sep = key.indexOf(':');
    const verb = key.slice(0, sep);
    const name = key.slice(sep + 1);
    if (verb === 'hold') open(name);
    else if (verb === 'release') close(name);
  });

  return {
    waitIfHeld(region, secretName) {
      if (held.size === 0) return null;
      const name = holdKey(region, secretName);
      const entry = held.get(name);
      if (!entry) return null;
      const left = Math.min(entry.until - now(), options.maxWaitMs);
      if (left <= 0) {
        if (entry.until <= now()) close(name);
        return null;
      }
      return new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done() {
          clearTimeout(timer);
          const i = entry!.waiters.indexOf(done);
          if (i >= 0) entry!.waiters.splice(i, 1);
          resolve();
        }
        entry.waiters.push(done);
      });
    },
    async hold(region, name) {
      if (options.maxWaitMs <= 0) return;
      await options.changes.publish('rotation', `hold:${holdKey(region, name)}`);
    },
    release(region, name) {
      void options.changes.publish('rotation', `release:${holdKey(region, name)}`);
    },
  };
}

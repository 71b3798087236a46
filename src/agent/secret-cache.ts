/**
 * The agent's cache of secret values and descriptions: in memory, bounded in bytes (LRU),
 * single-flight per entry (any number of simultaneous local reads of one secret make one
 * upstream request), invalidated by the change feed, and stale-if-error up to `maxStaleMs`.
 *
 * An entry is "valid" only while the change feed is live and no event for its name arrived
 * since it was fetched: then it is served without asking the server. Otherwise a read asks
 * the server; only when the server cannot answer (transient failure) is the last value
 * served, with its staleness: seconds since it was last known good. A refusal (not found,
 * access denied) drops the entry: what the agent's identity may not read is never served.
 */
import { createBoundedCache } from '../lib/bounded-cache.js';
import { AccessDeniedError, classifyError, SecretNotFoundError, TransientError, StaleLimitExceededError } from '../sdk/client-errors.js';

export interface CachedEntry {
  /** What the server answered (JSON-shaped; for values, the value is in it). */
  body: Record<string, unknown>;
  /** When the server last confirmed this (fetch, or the feed saying nothing changed). */
  knownGoodAt: number;
  valid: boolean;
  bytes: number;
}

export interface Served {
  body: Record<string, unknown>;
  /** Seconds since last known good when served from an entry the server could not confirm; null when fresh. */
  staleSeconds: number | null;
}

export interface SecretCacheOptions {
  maxBytes: number;
  maxStaleMs: number;
  now?: () => number;
  /** After an upstream transient failure, serve stale without asking for this long (default 1 s). */
  outageBackoffMs?: number;
  /** Whether this failure means the agent's own token must be replaced (then retried once). */
  reauthenticate?: () => Promise<boolean>;
  /** Called after entries changed (the disk cache persists them). */
  onChange?: () => void;
}

const TOKEN_CODES = new Set(['invalid_token', 'token_expired', 'token_revoked', 'missing_token']);
/** The name field of a key (names never hold NUL: the server refuses them, so nothing is cached under one). */
const nameOf = (key: string) => {
  const start = key.indexOf('\0') + 1;
  return key.slice(start, key.indexOf('\0', start));
};

/** `kind\0name\0selector`: values by label or version, and descriptions. */
export function cacheKey(kind: 'v' | 'd', name: string, selector = ''): string {
  return `${kind}\0${name}\0${selector}`;
}

export function createSecretCache(options: SecretCacheOptions) {
  const now = options.now ?? Date.now;
  const entries = createBoundedCache<CachedEntry>({ maxBytes: options.maxBytes, sizeOf: (e) => e.bytes });
  const inFlight = new Map<string, Promise<Served>>();
  const generation = new Map<string, number>();
  let live = false;
  let downUntil = 0;
  const stats = { hits: 0, misses: 0, upstream: 0, stale: 0, lastStaleSeconds: 0 };

  const genOf = (name: string) => generation.get(name) ?? 0;
  const changed = () => options.onChange?.();

  function serveStale(entry: CachedEntry | undefined, cause: unknown): Served {
    if (!entry) throw cause;
    const age = now() - entry.knownGoodAt;
    if (age > options.maxStaleMs) throw new StaleLimitExceededError('stale_limit_exceeded', `the server is unreachable and the cached value is older than max_stale`, { cause });
    stats.stale += 1;
    stats.lastStaleSeconds = Math.max(0, Math.floor(age / 1000));
    return { body: entry.body, staleSeconds: stats.lastStaleSeconds };
  }

  async function fetchInto(key: string, name: string, fetch: () => Promise<Record<string, unknown>>): Promise<Served> {
    const startedGen = genOf(name);
    const startedLive = live;
    stats.upstream += 1;
    let body: Record<string, unknown>;
    try {
      try {
        body = await fetch();
      } catch (error) {
        const failure = classifyError(error, name);
        if (!(failure instanceof AccessDeniedError && TOKEN_CODES.has(failure.code) && options.reauthenticate && (await options.reauthenticate()))) throw failure;
        body = await fetch();
      }
    } catch (error) {
      const failure = classifyError(error, name);
      if (failure instanceof TransientError) {
        downUntil = now() + (options.outageBackoffMs ?? 1000);
        return serveStale(entries.peek(key), failure);
      }
      // Not found, or not allowed: whatever was cached for this key is never served again.
      if (failure instanceof SecretNotFoundError || failure instanceof AccessDeniedError) {
        if (entries.peek(key)) {
          entries.delete(key);
          changed();
        }
      }
      throw failure;
    }
    downUntil = 0;
    stats.lastStaleSeconds = 0;
    const entry: CachedEntry = { body, knownGoodAt: now(), valid: startedLive && live && genOf(name) === startedGen, bytes: JSON.stringify(body).length + key.length };
    entries.set(key, entry);
    changed();
    return { body, staleSeconds: null };
  }

  /** Serves `key` from the cache when valid, else from the server (one request per key at a time). */
  function read(key: string, name: string, fetch: () => Promise<Record<string, unknown>>): Promise<Served> {
    const entry = entries.get(key);
    if (entry?.valid && live) {
      stats.hits += 1;
      return Promise.resolve({ body: entry.body, staleSeconds: null });
    }
    // The server just failed: do not make every caller wait for it to fail again.
    if (entry && now() < downUntil) return Promise.resolve().then(() => serveStale(entry, new TransientError('unreachable', 'the server is unreachable')));
    stats.misses += 1;
    let pending = inFlight.get(key);
    if (!pending) {
      pending = fetchInto(key, name, fetch).finally(() => inFlight.delete(key));
      inFlight.set(key, pending);
    }
    return pending;
  }

  function forEachOf(name: string, fn: (key: string, entry: CachedEntry) => void): void {
    for (const key of entries.keys()) if (nameOf(key) === name) fn(key, entries.peek(key)!);
  }

  return {
    read,
    /** Something about `name` changed: its entries must be confirmed before they are served again. */
    invalidate(name: string): void {
      generation.set(name, genOf(name) + 1);
      forEachOf(name, (_key, entry) => (entry.valid = false));
    },
    /** `name` is gone (deleted): its entries are dropped, not kept for outages. */
    drop(name: string): void {
      generation.set(name, genOf(name) + 1);
      const keys: string[] = [];
      forEachOf(name, (key) => keys.push(key));
      for (const key of keys) entries.delete(key);
      if (keys.length) changed();
    },
    /** Nothing cached can be trusted as current (feed lost, or a reset). */
    invalidateAll(): void {
      for (const name of new Set(entries.keys().map(nameOf))) generation.set(name, genOf(name) + 1);
      const at = now();
      for (const key of entries.keys()) {
        const entry = entries.peek(key)!;
        if (entry.valid && live) entry.knownGoodAt = at;
        entry.valid = false;
      }
    },
    /** The change feed is connected (true) or lost (false): losing it invalidates everything. */
    setLive(value: boolean): void {
      if (!value) this.invalidateAll();
      live = value;
    },
    isLive: () => live,
    /** Entries for the disk cache; `restore` puts them back as needing confirmation. */
    snapshot(): [string, CachedEntry][] {
      return entries.keys().map((key) => [key, entries.peek(key)!]);
    },
    restore(saved: [string, { body: Record<string, unknown>; knownGoodAt: number }][]): void {
      for (const [key, e] of saved.reverse()) entries.set(key, { body: e.body, knownGoodAt: e.knownGoodAt, valid: false, bytes: JSON.stringify(e.body).length + key.length });
    },
    stats: () => ({ ...stats, entries: entries.size }),
  };
}

export type SecretCache = ReturnType<typeof createSecretCache>;

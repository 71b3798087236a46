import { LRUCache } from 'lru-cache';

/**
 * The one in-memory cache shape of the server: a least-recently-used map bounded by entry
 * count, by bytes, or both. When full it evicts the least recently used entries, never
 * everything at once, so one burst of cold reads cannot empty what hot reads depend on.
 * `onEvict` runs for every entry that leaves (evicted, replaced, deleted or cleared), so an
 * owner that keeps key material or plaintext can zero it.
 */
export interface BoundedCacheOptions<V> {
  maxEntries?: number;
  /** Needs `sizeOf`. */
  maxBytes?: number;
  /** Bytes an entry counts for (at least 1 is counted). */
  sizeOf?: (value: V) => number;
  onEvict?: (value: V) => void;
  /** An entry older than this is not served (ms since it was set); none by default. */
  ttlMs?: number;
  /** The clock for `ttlMs` (milliseconds; tests inject one). */
  now?: () => number;
}

export interface BoundedCache<V> {
  get(key: string): V | undefined;
  set(key: string, value: V): void;
  delete(key: string): void;
  clear(): void;
  readonly size: number;
  /** Keys, most recently used first; listing them does not count as a use. */
  keys(): string[];
  /** Like get, but does not count as a use (iterating must not reorder the cache). */
  peek(key: string): V | undefined;
}

export function createBoundedCache<V extends object>(options: BoundedCacheOptions<V>): BoundedCache<V> {
  const { maxEntries, maxBytes, sizeOf, onEvict, ttlMs, now } = options;
  if (maxEntries === undefined && maxBytes === undefined) throw new Error('a bounded cache needs maxEntries or maxBytes');
  if (maxBytes !== undefined && !sizeOf) throw new Error('a cache bounded in bytes needs sizeOf');
  const lru = new LRUCache<string, V>({
    ...(maxEntries !== undefined ? { max: maxEntries } : {}),
    ...(maxBytes !== undefined && sizeOf ? { maxSize: maxBytes, sizeCalculation: (value: V) => Math.max(1, sizeOf(value)) } : {}),
    ...(onEvict ? { dispose: (value: V) => onEvict(value) } : {}),
    ...(ttlMs !== undefined && ttlMs > 0 ? { ttl: ttlMs, ...(now ? { perf: { now } } : {}) } : {}),
  } as LRUCache.Options<string, V, unknown>);
  return {
    get: (key) => lru.get(key),
    set: (key, value) => void lru.set(key, value),
    delete: (key) => void lru.delete(key),
    clear: () => lru.clear(),
    get size() {
      return lru.size;
    },
    keys: () => [...lru.keys()],
    peek: (key) => lru.peek(key),
  };
}

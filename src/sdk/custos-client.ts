import { createApiClient, CustosApiError, type ApiClient, type BatchValuesResponse, type SecretValueResponse } from './api-client.js';
import { classifyError, CustosClientError, StaleLimitExceededError } from './client-errors.js';
import { buildConnectionUrl } from './connection-url.js';
import { DEFAULT_ADDRESS, resolveSavedToken } from './saved-tokens.js';
import { applyRef, parseSecretRef, refSourceKey, type SecretRef } from './secret-ref.js';

/**
 * The pipeline SDK: reads secrets with a TTL cache, single-flight, bounded retries for
 * transient failures and an outage fallback that serves the last good value (from memory
 * only) for up to `maxStaleMs`.
 *
 *   const custos = new CustosClient({ address: 'http://custos:8420', token });
 *   const url = await custos.connectionUrl('prod/analytics/warehouse-db');
 */
export { AccessDeniedError, classifyError, CustosClientError, SecretNotFoundError, StaleLimitExceededError, TransientError } from './client-errors.js';

export interface CustosClientOptions {
  /** Server address; default $CUSTOS_ADDR, then http://127.0.0.1:8420. */
  address?: string;
  /** Token; default $CUSTOS_TOKEN, then the file `custos login` writes ($HOME/.custos/token). */
  token?: string;
  /** How long a fetched value is served without asking the server. Default 300 000 (5 min); 0 disables the cache. */
  ttlMs?: number;
  /** Outage fallback: how old (since its last successful fetch) a cached value may be and still be served when the server is unreachable or answers 5xx. Default 3 600 000 (1 h); 0 disables the fallback. */
  maxStaleMs?: number;
  /**
   * Retries for transient failures when no fallback value exists: attempts in total (default 4), first delay (default 100 ms), cap (default 2000 ms);
   * `sleep` waits out each backoff delay (default a timer; tests pass one that records the delays).
   */
  retry?: { attempts?: number; baseDelayMs?: number; maxDelayMs?: number; sleep?: (ms: number) => Promise<void> };
  /** Per-request timeout, default 10 000 ms. */
  timeoutMs?: number;
  /** Called each time a stale value is served during an outage. Default: process.emitWarning. Never receives the value. */
  onStale?: (event: StaleEvent) => void;
  /** Custom fetch (proxies, instrumentation). */
  fetch?: typeof fetch;
}

export interface StaleEvent {
  name: string;
  /** Milliseconds since the served value was last fetched successfully. */
  ageMs: number;
  /** The failure that made the client fall back (code only; no value). */
  code: string;
}

export interface GetSecretOptions {
  /** Staging label, default CURRENT. */
  label?: string;
  versionId?: string;
  /** Skip the cache (but still join a request already in flight for the same secret). */
  forceRefresh?: boolean;
}

export interface SecretResult {
  name: string;
  versionId: string;
  labels: string[];
  /** The value as text (binary values decoded as UTF-8; see `binary`). */
  value: string;
  /** Set for binary secrets. */
  binary?: Buffer;
  /** When this value was fetched from the server (epoch ms). */
  fetchedAt: number;
  /** True when served from the outage fallback. */
  stale: boolean;
}

export interface ClientStats {
  /** Served from the cache within TTL. */
  hits: number;
  /** Needed the server (expired, absent or forceRefresh). */
  misses: number;
  /** HTTP requests actually sent (retries included). */
  requests: number;
  /** Values served from the outage fallback. */
  staleServed: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));


interface Entry {
  result: SecretResult;
}

export class CustosClient {
  readonly api: ApiClient;
  private readonly ttlMs: number;
  private readonly maxStaleMs: number;
  private readonly attempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly onStale: (event: StaleEvent) => void;
  private readonly cache = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<SecretResult>>();
  private readonly counters: ClientStats = { hits: 0, misses: 0, requests: 0, staleServed: 0 };

  constructor(options: CustosClientOptions = {}) {
    const address = options.address ?? process.env.CUSTOS_ADDR ?? DEFAULT_ADDRESS;
    this.api = createApiClient({
      address,
      token: options.token ?? resolveSavedToken(address),
      timeoutMs: options.timeoutMs ?? 10_000,
      fetch: options.fetch,
    });
    this.ttlMs = options.ttlMs ?? 300_000;
    this.maxStaleMs = options.maxStaleMs ?? 3_600_000;
    this.attempts = Math.max(1, options.retry?.attempts ?? 4);
    this.baseDelayMs = options.retry?.baseDelayMs ?? 100;
    this.maxDelayMs = options.retry?.maxDelayMs ?? 2_000;
    this.sleep = options.retry?.sleep ?? sleep;
    this.onStale = options.onStale ?? ((e) => process.emitWarning(`custos: serving a cached value of ${e.name} (${Math.round(e.ageMs / 1000)} s old) because the server failed with ${e.code}`, { code: 'CUSTOS_STALE_VALUE' }));
  }

  /** The value of a secret (CURRENT unless a label or version is given), from the cache when fresh. */
  async getSecret(name: string, options: GetSecretOptions = {}): Promise<string> {
    return (await this.getSecretResult(name, options)).value;
  }

  /** The value parsed as JSON. */
  async getJson<T = Record<string, unknown>>(name: string, options: GetSecretOptions = {}): Promise<T> {
    const value = await this.getSecret(name, options);
    try {
      return JSON.parse(value) as T;
    } catch {
      throw new CustosClientError('not_json', `${name} is not a JSON value`, { secret: name });
    }
  }

  /** Value plus version id, labels, fetch time and whether it came from the outage fallback. */
  async getSecretResult(name: string, options: GetSecretOptions = {}): Promise<SecretResult> {
    const key = refSourceKey({ name, label: options.label, versionId: options.versionId });
    const entry = this.cache.get(key);
    if (!options.forceRefresh && entry && Date.now() - entry.result.fetchedAt < this.ttlMs) {
      this.counters.hits += 1;
      return entry.result;
    }
    this.counters.misses += 1;
    const running = this.inflight.get(key);
    if (running) return running;
    const pending = this.load(key, name, options).finally(() => this.inflight.delete(key));
    this.inflight.set(key, pending);
    return pending;
  }

  /**
   * Several secrets at once: values still fresh in the cache are served from it, the rest are
   * read in one request (POST /v1/batch/values, up to 100 per request). Each result is the
   * secret or its own error (not found, denied), in the order asked; nothing is thrown for one
   * secret's failure. When the whole request fails transiently, or the server predates batch
   * reads, each secret falls back to getSecretResult (retries and outage fallback included).
   */
  async getSecrets(refs: { name: string; label?: string; versionId?: string }[], options: { forceRefresh?: boolean } = {}): Promise<(SecretResult | CustosClientError)[]> {
    const results = new Array<Promise<SecretResult>>(refs.length);
    const toFetch = new Map<string, { ref: (typeof refs)[number]; settle?: { resolve: (r: SecretResult) => void; reject: (e: unknown) => void } }>();
    refs.forEach((ref, i) => {
      const key = refSourceKey(ref);
      const entry = this.cache.get(key);
      if (!options.forceRefresh && entry && Date.now() - entry.result.fetchedAt < this.ttlMs) {
        this.counters.hits += 1;
        results[i] = Promise.resolve(entry.result);
        return;
      }
      const running = this.inflight.get(key);
      if (running) {
        this.counters.misses += 1;
        results[i] = running;
        return;
      }
      let planned = toFetch.get(key);
      if (!planned) {
        this.counters.misses += 1;
        planned = { ref };
        const pending = new Promise<SecretResult>((resolve, reject) => (planned!.settle = { resolve, reject })).finally(() => this.inflight.delete(key));
        pending.catch(() => {}); // delivered through `results`
        this.inflight.set(key, pending);
        toFetch.set(key, planned);
      }
      results[i] = this.inflight.get(key)!;
    });
    if (toFetch.size > 0) await this.fetchBatch([...toFetch.entries()]);
    return Promise.all(results.map((p) => p.catch((error: unknown) => classifyError(error))));
  }

  private batchUnsupported = false;

  private async fetchBatch(planned: [string, { ref: { name: string; label?: string; versionId?: string }; settle?: { resolve: (r: SecretResult) => void; reject: (e: unknown) => void } }][]): Promise<void> {
    // One at a time needs no batch; a server without batch reads gets single reads.
    if (planned.length === 1 || this.batchUnsupported) {
      await Promise.all(planned.map(async ([key, p]) => {
        try {
          p.settle!.resolve(await this.load(key, p.ref.name, { label: p.ref.label, versionId: p.ref.versionId }));
        } catch (error) {
          p.settle!.reject(error);
        }
      }));
      return;
    }
    for (let start = 0; start < planned.length; start += BATCH_MAX) {
      const chunk = planned.slice(start, start + BATCH_MAX);
      // As in load(): when every secret has a fallback value, one attempt is enough.
      const allCanFallBack = chunk.every(([key]) => this.canFallBack(key));
      let response: BatchValuesResponse;
      try {
        response = await this.withRetry(() => this.api.batchGetValues(chunk.map(([, p]) => p.ref)), allCanFallBack ? 1 : this.attempts);
      } catch (raw) {
        const error = classifyError(raw);
        if (error.code === 'not_found' && error.options.status === 404) {
          // A server that predates batch reads: read these one by one, and the rest from now on.
          this.batchUnsupported = true;
          await this.fetchBatch(chunk);
          continue;
        }
        // The request failed as a whole (unreachable, sealed, a refused token): each secret
        // gets what a single read would have got — its fallback value or the error.
        for (const [key, p] of chunk) {
          try {
            p.settle!.resolve(this.recover(key, p.ref.name, new (error.constructor as typeof CustosClientError)(error.code, error.message, { ...error.options, secret: p.ref.name })));
          } catch (failure) {
            p.settle!.reject(failure);
          }
        }
        continue;
      }
      for (const v of response.values) {
        const [key, p] = chunk[v.index]!;
        const result = toResult(v);
        this.cache.set(key, { result });
        p.settle!.resolve(result);
      }
      for (const e of response.errors) {
        const [key, p] = chunk[e.index]!;
        try {
          p.settle!.resolve(this.recover(key, p.ref.name, classifyError(new CustosApiError(e.code, e.message, e.status, null), p.ref.name)));
        } catch (failure) {
          p.settle!.reject(failure);
        }
      }
    }
  }

  /** Resolves a `secret://` reference (string or parsed) to the text it names (value, #field or ?url=DRIVER). */
  async resolveRef(ref: string | SecretRef, options: { forceRefresh?: boolean } = {}): Promise<string> {
    const parsed = typeof ref === 'string' ? parseSecretRef(ref) : ref;
    const value = await this.getSecret(parsed.name, { label: parsed.label, versionId: parsed.versionId, forceRefresh: options.forceRefresh });
    return applyRef(value, parsed);
  }

  /**
   * Resolves many `secret://` references with one getSecrets call (one request for all the
   * secrets they name); each outcome stands alone, in the order given.
   */
  async resolveRefs(refs: string[], options: { forceRefresh?: boolean } = {}): Promise<PromiseSettledResult<string>[]> {
    const parsed = refs.map((ref) => {
      try {
        return parseSecretRef(ref);
      } catch (error) {
        return error as Error;
      }
    });
    const wanted = parsed.filter((p): p is SecretRef => !(p instanceof Error));
    const results = await this.getSecrets(wanted.map((p) => ({ name: p.name, label: p.label, versionId: p.versionId })), options);
    let next = 0;
    return parsed.map((p): PromiseSettledResult<string> => {
      if (p instanceof Error) return { status: 'rejected', reason: p };
      const result = results[next++]!;
      if (result instanceof CustosClientError) return { status: 'rejected', reason: result };
      try {
        return { status: 'fulfilled', value: applyRef(result.value, p) };
      } catch (error) {
        return { status: 'rejected', reason: error };
      }
    });
  }

  /** A connection URL built from a JSON connection secret, every part URL-encoded (see connection-url.ts for drivers). */
  async connectionUrl(name: string, options: GetSecretOptions & { driver?: string } = {}): Promise<string> {
    return buildConnectionUrl(await this.getJson(name, options), { driver: options.driver });
  }

  /** Drops cached values of one secret (every label/version), or of all secrets. */
  invalidate(name?: string): void {
    if (name === undefined) return this.cache.clear();
    const prefix = name + '\u0000';
    for (const key of this.cache.keys()) if (key.startsWith(prefix)) this.cache.delete(key);
  }

  /** Cache and fallback counters (hit rate = hits / (hits + misses)). */
  stats(): ClientStats {
    return { ...this.counters };
  }

  private async load(key: string, name: string, options: GetSecretOptions): Promise<SecretResult> {
    const canFallBack = this.canFallBack(key);
    try {
      // With a fallback value at hand one attempt is enough: the caller gets the cached value
      // at once instead of waiting out the backoff.
      const response = await this.fetchWithRetry(name, options, canFallBack ? 1 : this.attempts);
      const result = toResult(response);
      this.cache.set(key, { result });
      return result;
    } catch (raw) {
      return this.recover(key, name, classifyError(raw, name));
    }
  }

  /** Milliseconds since the cached value of `key` was fetched (Infinity when there is none). */
  private fallbackAge(key: string): number {
    const previous = this.cache.get(key);
    return previous ? Date.now() - previous.result.fetchedAt : Infinity;
  }

  /** Whether a cached value of `key` may still be served during an outage. */
  private canFallBack(key: string): boolean {
    return this.maxStaleMs > 0 && this.fallbackAge(key) <= this.maxStaleMs;
  }

  /** After a failed read: the fallback value if the failure is transient and one may be served; otherwise throws. */
  private recover(key: string, name: string, error: CustosClientError): SecretResult {
    const previous = this.cache.get(key);
    if (!error.transient) {
      // A deleted secret or a revoked token must not keep being served.
      this.cache.delete(key);
      throw error;
    }
    const ageMs = this.fallbackAge(key);
    if (previous && this.canFallBack(key)) {
      this.counters.staleServed += 1;
      this.onStale({ name, ageMs, code: error.code });
      return { ...previous.result, stale: true };
    }
    if (previous && this.maxStaleMs > 0) {
      throw new StaleLimitExceededError('stale_limit_exceeded', `Custos has failed (${error.code}) and the cached value of ${name} is older than maxStale (${Math.round(ageMs / 1000)} s > ${Math.round(this.maxStaleMs / 1000)} s)`, { secret: name, cause: error });
    }
    throw error;
  }

  private async fetchWithRetry(name: string, options: GetSecretOptions, attempts: number): Promise<SecretValueResponse> {
    return this.withRetry(() => this.api.getValue(name, { label: options.label, versionId: options.versionId }), attempts, name);
  }

  private async withRetry<T>(request: () => Promise<T>, attempts: number, name?: string): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        this.counters.requests += 1;
        return await request();
      } catch (raw) {
        const error = classifyError(raw, name);
        if (!error.transient || attempt >= attempts) throw error;
        // Exponential backoff with "equal jitter": half the step fixed, half random.
        const step = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
        await this.sleep(step / 2 + Math.random() * (step / 2));
      }
    }
  }
}

/** Secrets per batch request (the server's limit). */
const BATCH_MAX = 100;

function toResult(r: SecretValueResponse): SecretResult {
  const binary = r.value === undefined && r.value_base64 !== undefined ? Buffer.from(r.value_base64, 'base64') : undefined;
  return {
    name: r.name, versionId: r.version_id, labels: r.labels, value: r.value ?? binary?.toString('utf8') ?? '',
    ...(binary ? { binary } : {}), fetchedAt: Date.now(), stale: false,
  };
}

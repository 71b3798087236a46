import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The server's Prometheus instruments. Every label is drawn from a closed set so the number
 * of series stays bounded whatever clients send: route *patterns* (never a concrete URL, so
 * a secret name never becomes a label), a fixed method list, three outcomes, error codes
 * from the catalogue, and environments from a configured list (anything else is "other").
 */
export type Outcome = 'success' | 'denied' | 'failure';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** Operations that hand out a secret value: counted per environment. */
const READ_OPERATIONS = new Set(['secret.read', 'aws.GetSecretValue']);

export interface MetricsOptions {
  /** Environments (first path segment) that get their own label value; others count as "other". */
  environments: readonly string[];
  /** Returns true for an error code of the public catalogue (anything else counts as "other"). */
  isKnownCode: (code: string) => boolean;
  /** Collect process metrics (CPU, memory, event loop lag, GC). */
  processMetrics?: boolean;
}

/** Sampled at scrape time; each returns what the metric reports right now. */
export interface MetricSources {
  sealed?: () => boolean;
  auditPending?: () => number;
  /** Rotation runs by status as stored, and secrets whose rotation is overdue. */
  rotation?: () => Promise<{ runs: Record<string, number>; overdue: number }>;
  /** Alerts currently firing, by rule. */
  alertsFiring?: () => Promise<Record<string, number>>;
  /** Unrevoked leases by state (active, revoking). */
  leases?: () => Promise<Record<string, number>>;
}

export function createMetrics(options: MetricsOptions) {
  const registry = new Registry();
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry });
  // A secret's environment is its first path segment; one with a slash could never be one.
  const environments = options.environments.filter((env) => env !== '' && !env.includes('/'));
  const environmentOf = (secretName: string | null): string => {
    if (secretName === null) return 'other';
    for (const env of environments) if (secretName.charCodeAt(env.length) === 0x2f && secretName.startsWith(env)) return env;
    return 'other';
  };
  const sources: MetricSources = {};

  // The per-request families are plain numbers updated on the hot path and handed to
  // prom-client only at scrape time: a prom-client observe re-hashes its labels every call.
  const requests = new FastCounter(registry, 'custos_http_requests_total', 'HTTP requests by route pattern, method and outcome');
  const duration = new FastHistogram(registry, 'custos_http_request_duration_seconds', 'HTTP request latency by route pattern, method and outcome',
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10]);
  const reads = new FastCounter(registry, 'custos_secret_reads_total', 'Secret value reads by environment (first path segment) and outcome');
  const errors = new FastCounter(registry, 'custos_request_errors_total', 'Denied and failed requests by error code');
  const auditWrite = new Histogram({
    name: 'custos_audit_write_duration_seconds', help: 'Time to write one audit batch durably', registers: [registry],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1],
  });
  const auditBatchEvents = new Counter({ name: 'custos_audit_events_written_total', help: 'Audit events written', registers: [registry] });
  const auditHeadRaces = new Counter({
    name: 'custos_audit_head_races_total', registers: [registry], labelNames: ['outcome'] as const,
    help: 'Audit batches another node appended before (PostgreSQL, several nodes): rechained and sent again, or written under the chain lock after repeated losses',
  });
  // Aggregators say how worker processes' values combine (`--workers`): per-process counts add
  // up, the seal gauge reports 1 if any worker is sealed, and gauges read from the database are
  // the same in every worker, so one worker's value stands for all.
  new Gauge({ name: 'custos_audit_pending_events', help: 'Audit events recorded but not yet durable (the audit queue)', registers: [registry], aggregator: 'sum', collect() { this.set(sources.auditPending?.() ?? 0); } });
  new Gauge({ name: 'custos_sealed', help: '1 while the server is sealed, 0 when unsealed', registers: [registry], aggregator: 'max', collect() { this.set(sources.sealed?.() ? 1 : 0); } });
  const rotationRuns = new Gauge({ name: 'custos_rotation_runs', help: 'Rotation runs kept in the database by status', labelNames: ['status'] as const, registers: [registry], aggregator: 'first' });
  const rotationOverdue = new Gauge({ name: 'custos_rotation_overdue_secrets', help: 'Secrets whose scheduled rotation is overdue', registers: [registry], aggregator: 'first' });
  const alertsFiring = new Gauge({ name: 'custos_alerts_firing', help: 'Alerts currently firing (not resolved) by rule', labelNames: ['rule'] as const, registers: [registry], aggregator: 'first' });
  const leases = new Gauge({ name: 'custos_leases', help: 'Leases not yet revoked, by state (revoking: due or being retried)', labelNames: ['state'] as const, registers: [registry], aggregator: 'first' });

  // Series handles by route pattern, method and outcome (and by environment and outcome): a
  // request finds its series through maps keyed by strings that already exist, instead of
  // building and hashing a key string and a labels closure per request.
  type RequestSeries = { count: CounterSeries; latency: HistogramSeries };
  const requestSeries = new Map<string | undefined, Map<string, Map<Outcome, RequestSeries>>>();
  const readSeries = new Map<string, Map<Outcome, CounterSeries>>();
  const requestSeriesOf = (route: string | undefined, method: string, outcome: Outcome): RequestSeries => {
    let byMethod = requestSeries.get(route);
    if (!byMethod) requestSeries.set(route, (byMethod = new Map()));
    let byOutcome = byMethod.get(method);
    if (!byOutcome) byMethod.set(method, (byOutcome = new Map()));
    let series = byOutcome.get(outcome);
    if (!series) {
      const key = `${route}\u0000${method}\u0000${outcome}`;
      const labels = () => ({ route: route ?? 'unmatched', method: METHODS.has(method) ? method : 'other', outcome });
      byOutcome.set(outcome, (series = { count: requests.seriesOf(key, labels), latency: duration.seriesOf(key, labels) }));
    }
    return series;
  };
  const readSeriesOf = (environment: string, outcome: Outcome): CounterSeries => {
    let byOutcome = readSeries.get(environment);
    if (!byOutcome) readSeries.set(environment, (byOutcome = new Map()));
    let series = byOutcome.get(outcome);
    if (!series) byOutcome.set(outcome, (series = reads.seriesOf(`${environment}\u0000${outcome}`, () => ({ environment, outcome }))));
    return series;
  };

  async function refreshSampled(): Promise<void> {
    if (sources.rotation) {
      const { runs, overdue } = await sources.rotation();
      rotationRuns.reset();
      for (const [status, n] of Object.entries(runs)) rotationRuns.set({ status }, n);
      rotationOverdue.set(overdue);
    }
    if (sources.alertsFiring) {
      alertsFiring.reset();
      for (const [rule, n] of Object.entries(await sources.alertsFiring())) alertsFiring.set({ rule }, n);
    }
    if (sources.leases) {
      const counts = await sources.leases();
      for (const state of ['active', 'revoking']) leases.set({ state }, counts[state] ?? 0);
    }
  }

  return {
    registry,
    /** Connects the gauges sampled at scrape time (set by the composition root once its parts exist). */
    setSources(next: MetricSources): void {
      Object.assign(sources, next);
    },
    /** One finished HTTP request. `route` must be a route pattern, never a concrete URL. */
    observeRequest(route: string | undefined, method: string, outcome: Outcome, seconds: number, errorCode: string | null): void {
      const series = requestSeriesOf(route, method, outcome);
      series.count.value += 1;
      duration.observeIn(series.latency, seconds);
      if (errorCode !== null && outcome !== 'success') errors.inc(`${errorCode}\u0000${outcome}`, () => ({ code: options.isKnownCode(errorCode) ? errorCode : 'other', outcome }));
    },
    /** A read of a secret value (counted when `operation` is a value read); `secretName` only yields its environment. */
    observeRead(operation: string, secretName: string | null, outcome: Outcome): void {
      if (!READ_OPERATIONS.has(operation)) return;
      readSeriesOf(environmentOf(secretName), outcome).value += 1;
    },
    /** One audit batch written durably. */
    observeAuditWrite(seconds: number, events: number): void {
      auditWrite.observe(seconds);
      auditBatchEvents.inc(events);
    },
    /** An audit batch found another node's events at the head: `rechained` and sent again, or `locked` (written under the chain lock). */
    observeAuditHeadRace(outcome: 'rechained' | 'locked'): void {
      auditHeadRaces.inc({ outcome });
    },
    /** The exposition text (samples the gauges backed by the database first). */
    async render(): Promise<{ contentType: string; body: string }> {
      await refreshSampled();
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
    /** This process's samples as prom-client JSON, for a primary that adds up its workers' (`--workers`). */
    async collect(): Promise<MetricsSnapshot> {
      await refreshSampled();
      return registry.getMetricsAsJSON() as Promise<MetricsSnapshot>;
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
/** One process's metrics as prom-client's `getMetricsAsJSON` returns them (plain data: crosses process boundaries). */
export type MetricsSnapshot = unknown[];

type Labels = Record<string, string>;
type Exposed = { name: string; help: string; type: string; aggregator: string; values: { metricName?: string; labels: Labels; value: number }[] };

type CounterSeries = { labels: Labels; value: number };
type HistogramSeries = { labels: Labels; counts: number[]; sum: number; count: number };

/**
 * A counter family: a map lookup and an addition per event; labels built once per series.
 * Series are never removed (reset zeroes them), so a caller may keep one and add to it.
 */
class FastCounter {
  private series = new Map<string, CounterSeries>();
  constructor(registry: Registry, private name: string, private help: string) {
    registry.registerMetric(this as never);
  }
  seriesOf(key: string, labels: () => Labels): CounterSeries {
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { labels: labels(), value: 0 }));
    return s;
  }
  inc(key: string, labels: () => Labels): void {
    this.seriesOf(key, labels).value += 1;
  }
  async get(): Promise<Exposed> {
    return { name: this.name, help: this.help, type: 'counter', aggregator: 'sum', values: [...this.series.values()].map((s) => ({ labels: s.labels, value: s.value })) };
  }
  reset(): void {
    for (const s of this.series.values()) s.value = 0;
  }
}

/** A histogram family with fixed buckets: per observation, a short scan and three additions. */
class FastHistogram {
  private series = new Map<string, HistogramSeries>();
  constructor(registry: Registry, private name: string, private help: string, private buckets: number[]) {
    registry.registerMetric(this as never);
  }
  /** As FastCounter.seriesOf: kept for good once made. */
  seriesOf(key: string, labels: () => Labels): HistogramSeries {
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { labels: labels(), counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 }));
    return s;
  }
  observeIn(s: HistogramSeries, value: number): void {
    let i = 0;
    while (i < this.buckets.length && value > this.buckets[i]!) i++;
    if (i < this.buckets.length) s.counts[i]! += 1;
    s.sum += value;
    s.count += 1;
  }
  async get(): Promise<Exposed> {
    const values: Exposed['values'] = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += s.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le: String(le) }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le: '+Inf' }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count });
    }
    return { name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values };
  }
  reset(): void {
    for (const s of this.series.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}

/** Wraps an audit appender so each durable batch is timed (write latency) and counted. */
export function timedAppender<A extends { append(events: readonly unknown[], ...rest: never[]): Promise<unknown> }>(appender: A, metrics: Pick<Metrics, 'observeAuditWrite'>): A {
  const append = appender.append as (events: readonly unknown[], ...rest: unknown[]) => Promise<unknown>;
  return Object.assign(Object.create(appender) as A, {
    async append(events: readonly unknown[], ...rest: unknown[]) {
      const started = process.hrtime.bigint();
      const result = await append.call(appender, events, ...rest);
      metrics.observeAuditWrite(Number(process.hrtime.bigint() - started) / 1e9, events.length);
      return result;
    },
  });
}

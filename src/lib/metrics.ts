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
}

export function createMetrics(options: MetricsOptions) {
  const registry = new Registry();
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry });
  const environments = new Set(options.environments);
  const sources: MetricSources = {};

  const requests = new Counter({ name: 'custos_http_requests_total', help: 'HTTP requests by route pattern, method and outcome', labelNames: ['route', 'method', 'outcome'] as const, registers: [registry] });
  const duration = new Histogram({
    name: 'custos_http_request_duration_seconds', help: 'HTTP request latency by route pattern, method and outcome', labelNames: ['route', 'method', 'outcome'] as const, registers: [registry],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
  });
  const reads = new Counter({ name: 'custos_secret_reads_total', help: 'Secret value reads by environment (first path segment) and outcome', labelNames: ['environment', 'outcome'] as const, registers: [registry] });
  const errors = new Counter({ name: 'custos_request_errors_total', help: 'Denied and failed requests by error code', labelNames: ['code', 'outcome'] as const, registers: [registry] });
  const auditWrite = new Histogram({
    name: 'custos_audit_write_duration_seconds', help: 'Time to write one audit batch durably', registers: [registry],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1],
  });
  const auditBatchEvents = new Counter({ name: 'custos_audit_events_written_total', help: 'Audit events written', registers: [registry] });
  new Gauge({ name: 'custos_audit_pending_events', help: 'Audit events recorded but not yet durable (the audit queue)', registers: [registry], collect() { this.set(sources.auditPending?.() ?? 0); } });
  new Gauge({ name: 'custos_sealed', help: '1 while the server is sealed, 0 when unsealed', registers: [registry], collect() { this.set(sources.sealed?.() ? 1 : 0); } });
  const rotationRuns = new Gauge({ name: 'custos_rotation_runs', help: 'Rotation runs kept in the database by status', labelNames: ['status'] as const, registers: [registry] });
  const rotationOverdue = new Gauge({ name: 'custos_rotation_overdue_secrets', help: 'Secrets whose scheduled rotation is overdue', registers: [registry] });
  const alertsFiring = new Gauge({ name: 'custos_alerts_firing', help: 'Alerts currently firing (not resolved) by rule', labelNames: ['rule'] as const, registers: [registry] });

  // Hot path: one child per label combination, looked up by a string key, so an observation
  // does not re-hash label objects on every request.
  type Child = { count: { inc(): void }; latency: { observe(v: number): void } };
  const children = new Map<string, Child>();
  const readChildren = new Map<string, { inc(): void }>();
  const errorChildren = new Map<string, { inc(): void }>();

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
  }

  return {
    registry,
    /** Connects the gauges sampled at scrape time (set by the composition root once its parts exist). */
    setSources(next: MetricSources): void {
      Object.assign(sources, next);
    },
    /** One finished HTTP request. `route` must be a route pattern, never a concrete URL. */
    observeRequest(route: string | undefined, method: string, outcome: Outcome, seconds: number, errorCode: string | null): void {
      const key = `${route}\u0000${method}\u0000${outcome}`;
      let child = children.get(key);
      if (!child) {
        const labels = { route: route ?? 'unmatched', method: METHODS.has(method) ? method : 'other', outcome };
        child = { count: requests.labels(labels), latency: duration.labels(labels) };
        children.set(key, child);
      }
      child.count.inc();
      child.latency.observe(seconds);
      if (errorCode !== null && outcome !== 'success') {
        const errorKey = `${errorCode}\u0000${outcome}`;
        let counter = errorChildren.get(errorKey);
        if (!counter) {
          counter = errors.labels({ code: options.isKnownCode(errorCode) ? errorCode : 'other', outcome });
          errorChildren.set(errorKey, counter);
        }
        counter.inc();
      }
    },
    /** A read of a secret value (counted when `operation` is a value read); `secretName` only yields its environment. */
    observeRead(operation: string, secretName: string | null, outcome: Outcome): void {
      if (!READ_OPERATIONS.has(operation)) return;
      const slash = secretName?.indexOf('/') ?? -1;
      const first = secretName && slash > 0 ? secretName.slice(0, slash) : '';
      const environment = environments.has(first) ? first : 'other';
      const key = `${environment}\u0000${outcome}`;
      let counter = readChildren.get(key);
      if (!counter) {
        counter = reads.labels({ environment, outcome });
        readChildren.set(key, counter);
      }
      counter.inc();
    },
    /** One audit batch written durably. */
    observeAuditWrite(seconds: number, events: number): void {
      auditWrite.observe(seconds);
      auditBatchEvents.inc(events);
    },
    /** The exposition text (samples the gauges backed by the database first). */
    async render(): Promise<{ contentType: string; body: string }> {
      await refreshSampled();
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Wraps an audit appender so each durable batch is timed (write latency) and counted. */
export function timedAppender<A extends { append(events: readonly unknown[], key: Buffer): Promise<void> }>(appender: A, metrics: Pick<Metrics, 'observeAuditWrite'>): A {
  return Object.assign(Object.create(appender) as A, {
    async append(events: readonly unknown[], key: Buffer) {
      const started = process.hrtime.bigint();
      await appender.append(events, key);
      metrics.observeAuditWrite(Number(process.hrtime.bigint() - started) / 1e9, events.length);
    },
  });
}

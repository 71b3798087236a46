import { AppError } from '../errors/app-error.js';
import type { Metrics } from '../lib/metrics.js';
import type { Authorizer } from './authorizer.js';
import type { Identity } from '../auth/identity.types.js';

export interface MetricsServiceDeps {
  metrics: Pick<Metrics, 'render'>;
  authorizer: Pick<Authorizer, 'require'>;
  /** When true anyone who can reach the port may scrape (e.g. a private network); otherwise read on sys:metrics. */
  public: boolean;
}

/** The read side of the metrics: who may scrape, and the exposition text. */
export function createMetricsService(deps: MetricsServiceDeps) {
  return {
    /** True when /metrics needs no token. */
    isPublic: deps.public,
    /** The Prometheus exposition; needs `read` on `sys:metrics` unless metrics are public. */
    async scrape(caller: Identity | undefined): Promise<{ contentType: string; body: string }> {
      if (!deps.public) {
        if (!caller) throw new AppError('missing_token', 'a token with read on sys:metrics is required');
        await deps.authorizer.require(caller, 'read', 'sys:metrics');
      }
      return deps.metrics.render();
    },
  };
}

export type MetricsService = ReturnType<typeof createMetricsService>;

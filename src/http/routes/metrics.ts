import type { FastifyInstance } from 'fastify';
import type { MetricsService } from '../../services/metrics-service.js';

/**
 * GET /metrics in Prometheus text format. Public metrics answer while sealed (the seal gauge
 * is the point) and are not audited (scrapes would flood the log); token-protected scrapes
 * are authenticated and audited like any other request.
 */
export function metricsRoutes(metrics: MetricsService) {
  return (app: FastifyInstance): void => {
    const open = metrics.isPublic;
    const config = { operation: 'sys.metrics', anonymous: open, sealedOk: open, audited: !open };
    app.get('/metrics', { schema: { tags: ['sys'] }, config }, async (request, reply) => {
      const { contentType, body } = await metrics.scrape(request.identity);
      reply.header('content-type', contentType);
      return body;
    });
  };
}

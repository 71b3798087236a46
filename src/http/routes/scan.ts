import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ScanService } from '../../engines/fingerprints/scan-service.js';
import { identityOf } from '../request-context.js';

// Shapes only; the service checks each item's format (and refuses anything that is not a point
// or a fingerprint without echoing it).
const PointsBody = Type.Object({ points: Type.Array(Type.String({ maxLength: 66 }), { maxItems: 10_000 }) }, { additionalProperties: false });
const FingerprintsBody = Type.Object({ fingerprints: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 10_000 }) }, { additionalProperties: false });

/** Known-value matching for `custos scan` (see docs/scan.md). Adapters only. */
export function scanRoutes(scan: ScanService) {
  return (app: FastifyInstance): void => {
    app.post('/v1/scan/evaluate', { schema: { body: PointsBody, tags: ['scan'] }, config: { operation: 'scan.evaluate' } }, async (request) => {
      const { points } = request.body as { points: string[] };
      request.audit.detail = { points: points.length };
      return { points: await scan.evaluate(identityOf(request), points) };
    });

    app.post('/v1/scan/match', { schema: { body: FingerprintsBody, tags: ['scan'] }, config: { operation: 'scan.match' } }, async (request) => {
      const { fingerprints } = request.body as { fingerprints: string[] };
      const hits = await scan.match(identityOf(request), fingerprints, { requestId: request.id, source: request.ip });
      request.audit.detail = { fingerprints: fingerprints.length, hits: hits.length, ...(hits.length > 0 ? { alert: true } : {}) };
      return { matches: hits.map((h) => ({ fingerprint: h.fingerprint, secret: h.secret, version_id: h.versionId, label: h.label, field: h.field })) };
    });
  };
}

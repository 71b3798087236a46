import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ReportService } from '../../engines/reports/report-service.js';
import type { ReportKind } from '../../engines/reports/report.types.js';
import { AppError } from '../../errors/app-error.js';
import { identityOf } from '../request-context.js';

const KindParam = Type.Object({ kind: Type.Union([Type.Literal('inventory'), Type.Literal('access'), Type.Literal('rotation'), Type.Literal('unused')]) }, { additionalProperties: false });
const ReportQuery = Type.Object({
  since: Type.Optional(Type.String({ maxLength: 40 })),
  days: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
}, { additionalProperties: false });

function parseSince(since: string | undefined, now: number): number | undefined {
  if (since === undefined) return undefined;
  const relative = /^(\d{1,4})d$/.exec(since);
  if (relative) return now - Number(relative[1]) * 86_400_000;
  const time = Date.parse(since);
  if (Number.isNaN(time)) throw new AppError('validation_failed', 'since is a number of days like 90d or an ISO-8601 date');
  return time;
}

/** GET /v1/reports/:kind: the report as data; the CLI renders it as a table, JSON, CSV or HTML. */
export function reportRoutes(reports: ReportService) {
  return (app: FastifyInstance): void => {
    app.get('/v1/reports/evidence', { schema: { querystring: Type.Object({ period: Type.String({ maxLength: 16 }) }, { additionalProperties: false }), tags: ['reports'] }, config: { operation: 'report.evidence' } }, async (request) =>
      reports.evidence(identityOf(request), (request.query as { period: string }).period));
    app.get('/v1/reports/:kind', { schema: { params: KindParam, querystring: ReportQuery, tags: ['reports'] }, config: { operation: 'report.read' } }, async (request) => {
      const q = request.query as { since?: string; days?: number };
      return reports.report(identityOf(request), (request.params as { kind: ReportKind }).kind, { since: parseSince(q.since, Date.now()), unusedDays: q.days });
    });
  };
}

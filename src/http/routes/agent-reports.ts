/**
 * POST /v1/agent/recovered: a caching agent says it served stale values through an outage and
 * reaches the server again. The request's audit event carries the alert (engines/changes/agent-reports.ts).
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AgentReports } from '../../engines/changes/agent-reports.js';
import { identityOf } from '../request-context.js';

const RecoveredBody = Type.Object({
  outage_seconds: Type.Number({ minimum: 0 }),
  stale_answers: Type.Integer({ minimum: 0 }),
}, { additionalProperties: false });

export function agentReportRoutes(reports: AgentReports) {
  return (app: FastifyInstance): void => {
    app.post('/v1/agent/recovered', { schema: { body: RecoveredBody, tags: ['values'] }, config: { operation: 'agent.recovered' } }, async (request, reply) => {
      const body = request.body as { outage_seconds: number; stale_answers: number };
      const detail = reports.recovered(identityOf(request), { outageSeconds: body.outage_seconds, staleAnswers: body.stale_answers });
      request.audit.detail = { ...request.audit.detail, ...detail };
      return reply.code(202).send({ accepted: true });
    });
  };
}

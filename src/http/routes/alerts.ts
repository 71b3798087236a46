import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AlertDetail, AlertService } from '../../alerts/alert-service.js';
import { AppError } from '../../errors/app-error.js';
import { parseDurationSeconds } from '../../lib/duration.js';
import { identityOf } from '../request-context.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(Number(ms)).toISOString());

type AlertRecord = AlertDetail['alert'];
export const alertJson = (a: AlertRecord) => ({
  id: a.id, rule: a.rule, status: a.status, severity: a.severity, principal: a.principal, secret: a.secret_name, summary: a.summary,
  facts: JSON.parse(a.facts) as Record<string, unknown>, audit_seqs: JSON.parse(a.event_seqs) as number[], occurrences: a.occurrences,
  fired_at: iso(a.fired_at), last_seen_at: iso(a.last_seen_at), resolved_at: iso(a.resolved_at), acked_at: iso(a.acked_at), acked_by: a.acked_by,
});

const detailJson = (d: AlertDetail) => ({
  ...alertJson(d.alert), silenced_until: iso(d.silencedUntil),
  deliveries: d.deliveries.map((x) => ({ sink: x.sink, event: x.event, status: x.status, attempts: x.attempts, last_error: x.last_error, next_attempt_at: iso(x.next_attempt_at), updated_at: iso(x.updated_at) })),
});

const strict = { additionalProperties: false };
const IdParam = Type.Object({ id: Type.String({ pattern: '^alr_[a-z0-9]{1,40}$' }) }, strict);
const ListQuery = Type.Object({
  status: Type.Optional(Type.Union([Type.Literal('firing'), Type.Literal('resolved')])),
  rule: Type.Optional(Type.String({ maxLength: 40 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
}, strict);
const SilenceBody = Type.Object({ duration: Type.String({ maxLength: 16 }) }, strict);

/** Alerts API: list, show (with deliveries), acknowledge, silence. Adapters only. */
export function alertRoutes(alerts: AlertService) {
  return (app: FastifyInstance): void => {
    app.get('/v1/alerts', { schema: { querystring: ListQuery, tags: ['alerts'] }, config: { operation: 'alert.list' } }, async (request) => {
      const q = request.query as { status?: 'firing' | 'resolved'; rule?: string; limit?: number };
      return { alerts: (await alerts.list(identityOf(request), q)).map(alertJson) };
    });
    app.get('/v1/alerts/:id', { schema: { params: IdParam, tags: ['alerts'] }, config: { operation: 'alert.read' } }, async (request) =>
      detailJson(await alerts.show(identityOf(request), (request.params as { id: string }).id)));
    app.post('/v1/alerts/:id/ack', { schema: { params: IdParam, tags: ['alerts'] }, config: { operation: 'alert.ack' } }, async (request) =>
      detailJson(await alerts.acknowledge(identityOf(request), (request.params as { id: string }).id)));
    app.post('/v1/alerts/:id/silence', { schema: { params: IdParam, body: SilenceBody, tags: ['alerts'] }, config: { operation: 'alert.silence' } }, async (request) => {
      let seconds: number;
      try {
        seconds = parseDurationSeconds((request.body as { duration: string }).duration);
      } catch {
        throw new AppError('validation_failed', 'duration is like 30m, 4h, 7d');
      }
      return detailJson(await alerts.silence(identityOf(request), (request.params as { id: string }).id, seconds));
    });
  };
}

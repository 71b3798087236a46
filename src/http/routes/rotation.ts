import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { RotationEngine, RotationInfo, RotationStatus, RotationTarget } from '../../engines/rotation/rotation-engine.js';
import { auditTarget, identityOf } from '../request-context.js';
import { SecretNameParam } from '../schemas.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const runJson = (r: RotationInfo) => ({
  id: r.id, secret: r.secretName, token: r.token, rotator: r.rotator, trigger: r.trigger, requested_by: r.requestedBy, step: r.step,
  status: r.status, attempts: r.attempts, error: r.error, started_at: iso(r.startedAt), updated_at: iso(r.updatedAt),
  finished_at: iso(r.finishedAt), next_attempt_at: iso(r.nextAttemptAt), grace_until: iso(r.graceUntil),
});

const statusJson = (s: RotationStatus) => ({
  secret: s.secretName, region: s.region, settings: s.settings, last_rotated_at: iso(s.lastRotatedAt), next_due_at: iso(s.nextDueAt),
  overdue_since: iso(s.overdueSince), overdue: s.overdueSince !== null, latest: s.latest ? runJson(s.latest) : null,
});

// Settings are validated by the engine's schema (one source of truth); the route only bounds the shape.
const SettingsBody = Type.Object({ settings: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()]) }, { additionalProperties: false });
/** A secret outside the server's default region (AWS-style region name); absent: the default region. */
const region = Type.Optional(Type.String({ pattern: '^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$', maxLength: 32 }));
const RegionQuery = Type.Object({ region }, { additionalProperties: false });
const RotateQuery = Type.Object({ wait: Type.Optional(Type.Integer({ minimum: 0, maximum: 600 })), region }, { additionalProperties: false });
const HistoryQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })), region }, { additionalProperties: false });

/** The secret a rotation route names: the path, in the `region` query's region if given. */
function targetOf(request: { params: unknown; query: unknown }): { name: string; target: RotationTarget } {
  const name = (request.params as { '*': string })['*'];
  const region = (request.query as { region?: string }).region;
  return { name, target: region === undefined ? name : { name, region } };
}
const ListQuery = Type.Object({ overdue: Type.Optional(Type.Boolean()), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000 })) }, { additionalProperties: false });

/** Rotation API: settings, rotate-now, status, history, schedule listing. Adapters only. */
export function rotationRoutes(engine: RotationEngine) {
  return (app: FastifyInstance): void => {
    app.put('/v1/rotation/*', { schema: { params: SecretNameParam, querystring: RegionQuery, body: SettingsBody, tags: ['rotation'] }, config: { operation: 'rotation.configure' } }, async (request) => {
      const { name, target } = targetOf(request);
      auditTarget(request, name);
      const body = request.body as { settings: Record<string, unknown> | null };
      request.audit.detail = { rotator: typeof body.settings?.rotator === 'string' ? body.settings.rotator : null };
      const status = await engine.configure(identityOf(request), target, body.settings);
      return statusJson(status);
    });

    app.post('/v1/rotate/*', { schema: { params: SecretNameParam, querystring: RotateQuery, tags: ['rotation'] }, config: { operation: 'rotation.rotate' } }, async (request, reply) => {
      const { name, target } = targetOf(request);
      auditTarget(request, name);
      const wait = (request.query as { wait?: number }).wait ?? 0;
      const run = await engine.rotateNow(identityOf(request), target, { waitMs: wait * 1000 });
      auditTarget(request, name, run.token);
      request.audit.detail = { ...request.audit.detail, rotation: run.id }; // keeps what the engine noted (a break-glass reason)
      reply.code(run.status === 'running' || run.status === 'rolling_back' ? 202 : 200);
      return runJson(run);
    });

    app.get('/v1/rotation-status/*', { schema: { params: SecretNameParam, querystring: RegionQuery, tags: ['rotation'] }, config: { operation: 'rotation.status' } }, async (request) => {
      const { name, target } = targetOf(request);
      auditTarget(request, name);
      return statusJson(await engine.status(identityOf(request), target));
    });

    app.get('/v1/rotation-history/*', { schema: { params: SecretNameParam, querystring: HistoryQuery, tags: ['rotation'] }, config: { operation: 'rotation.history' } }, async (request) => {
      const { name, target } = targetOf(request);
      auditTarget(request, name);
      const runs = await engine.history(identityOf(request), target, (request.query as { limit?: number }).limit);
      return { secret: name, rotations: runs.map(runJson) };
    });

    app.get('/v1/rotations', { schema: { querystring: ListQuery, tags: ['rotation'] }, config: { operation: 'rotation.list' } }, async (request) => {
      const query = request.query as { overdue?: boolean; limit?: number };
      const rows = await engine.list(identityOf(request), { overdueOnly: query.overdue, limit: query.limit });
      return {
        secrets: rows.map((r) => ({
          secret: r.secretName, region: r.region, rotator: r.rotator, last_rotated_at: iso(r.lastRotatedAt), next_due_at: iso(r.nextDueAt), overdue_since: iso(r.overdueSince), overdue: r.overdueSince !== null,
          latest_status: r.latestStatus, failing: r.health.failing, error: r.health.error, failing_since: r.health.failing ? iso(r.health.since) : null,
        })),
      };
    });
  };
}

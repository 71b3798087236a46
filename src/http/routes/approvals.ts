/**
 * Change requests API (`/v1/requests…`) and the two hooks that put writes under approval:
 * the gate, which holds a native secret write a policy grants only with approval and answers
 * 202 with the new request, and the break-glass header, which hands the caller's emergency
 * reason to the authorizer. Adapters only: the rules live in engines/approvals.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApprovalsService } from '../../engines/approvals/approvals-service.js';
import type { ChangeOperation, ChangeRequestState, ChangeRequestView, HeldValue } from '../../engines/approvals/approvals.types.js';
import { AppError } from '../../errors/app-error.js';
import { identityOf } from '../request-context.js';

export const BREAK_GLASS_HEADER = 'x-custos-break-glass';
const MAX_REASON = 512;
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export const changeRequestJson = (r: ChangeRequestView) => ({
  id: r.id, state: r.state, operation: r.operation, resource: r.resource, summary: r.summary,
  requester: r.requester, approvers: r.approvers, min_approvals: r.minApprovals,
  approvals: r.approvals.map((a) => ({ accessor: a.accessor, name: a.name, approved_at: iso(a.approvedAt) })),
  policy: r.policy, created_at: iso(r.createdAt), expires_at: iso(r.expiresAt), closed_at: iso(r.closedAt), closed_by: r.closedBy,
  close_reason: r.closeReason, error_code: r.errorCode, changes: r.changes, result: r.result,
});

const strict = { additionalProperties: false };
const IdParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }, strict);
const States = ['pending', 'approved', 'applied', 'failed', 'denied', 'cancelled', 'expired'] as const;
const ListQuery = Type.Object({
  state: Type.Optional(Type.Union(States.map((s) => Type.Literal(s)))),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
}, strict);
const ReasonBody = Type.Object({ reason: Type.Optional(Type.String({ maxLength: MAX_REASON })) }, strict);

/** The caller's break-glass reason (native API and AWS API alike), checked; undefined without the header. */
export function breakGlassReasonOf(request: FastifyRequest): string | undefined {
  const header = request.headers[BREAK_GLASS_HEADER];
  if (header === undefined) return undefined;
  const reason = (Array.isArray(header) ? header.join(' ') : header).trim();
  if (reason === '' || reason.length > MAX_REASON) throw new AppError('validation_failed', `${BREAK_GLASS_HEADER} is a reason of 1-${MAX_REASON} characters`);
  return reason;
}

type Body = Record<string, unknown>;
const wildcard = (request: FastifyRequest) => (request.params as { '*': string })['*'];
const regionOf = (request: FastifyRequest) => (request.query as { region?: string } | undefined)?.region;

/** The value of a body with `value` or `value_base64`; undefined for neither, null for both (the route explains). */
function heldValueOf(body: Body): HeldValue | undefined | null {
  const text = body.value as string | undefined;
  const b64 = body.value_base64 as string | undefined;
  if (text !== undefined && b64 !== undefined) return null;
  if (text !== undefined) return { kind: 'string', base64: Buffer.from(text, 'utf8').toString('base64') };
  return b64 !== undefined ? { kind: 'binary', base64: b64 } : undefined;
}

/** The held operation of each gated route, read from the validated request; null: let the route answer. */
const OPERATIONS: Record<string, (request: FastifyRequest) => ChangeOperation | null> = {
  'secret.write': (request) => {
    const body = request.body as Body;
    const value = heldValueOf(body);
    if (!value) return null; // the route explains the mistake
    return {
      kind: 'secret.write', name: wildcard(request), value,
      labels: body.labels as string[] | undefined, versionId: body.idempotency_token as string | undefined,
      createIfMissing: body.create_if_missing as { description?: string; owner?: string; tags?: Record<string, string> } | undefined,
    };
  },
  'secret.delete': (request) => {
    const query = request.query as { recovery_days?: number; force?: boolean };
    return { kind: 'secret.delete', name: wildcard(request), recoveryDays: query.recovery_days, force: query.force };
  },
  'secret.label': (request) => {
    const body = request.body as { label: string; move_to_version_id?: string; remove_from_version_id?: string };
    return { kind: 'secret.label', name: wildcard(request), label: body.label, moveToVersionId: body.move_to_version_id, removeFromVersionId: body.remove_from_version_id };
  },
  'secret.create': (request) => {
    const body = request.body as { name: string; description?: string; owner?: string; tags?: Record<string, string>; labels?: string[]; idempotency_token?: string };
    const value = heldValueOf(body as Body);
    if (value === null) return null;
    return {
      kind: 'secret.create', name: body.name, description: body.description, owner: body.owner, tags: body.tags, value,
      labels: value ? body.labels : undefined, versionId: value ? body.idempotency_token : undefined,
    };
  },
  'secret.update': (request) => {
    const body = request.body as { description?: string | null; owner?: string | null };
    if (body.description === undefined && body.owner === undefined) return null;
    return { kind: 'secret.update', name: wildcard(request), metadata: { description: body.description, owner: body.owner } };
  },
  'secret.tag': (request) => ({ kind: 'secret.tag', name: wildcard(request), tags: (request.body as { tags: Record<string, string> }).tags }),
  'secret.untag': (request) => ({ kind: 'secret.untag', name: wildcard(request), keys: (request.query as { keys: string }).keys.split(',') }),
  // The rotation routes take `?region=` (a secret outside the server's region): the request must name it too.
  'rotation.configure': (request) => ({ kind: 'rotation.configure', name: wildcard(request), region: regionOf(request), settings: (request.body as { settings: Record<string, unknown> | null }).settings }),
  'rotation.rotate': (request) => ({ kind: 'rotation.rotate', name: wildcard(request), region: regionOf(request) }),
  'secret.restore': (request) => ({ kind: 'secret.restore', name: wildcard(request) }),
};

export function approvalRoutes(approvals: ApprovalsService) {
  return (app: FastifyInstance): void => {
    /** Reason header, then the gate; true when the request was answered here (held). */
    async function hold(request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
      const reason = breakGlassReasonOf(request);
      if (reason !== undefined) request.identity = { ...request.identity!, breakGlassReason: reason };
      const build = OPERATIONS[request.routeOptions.config.operation ?? ''];
      if (!build || !request.url.startsWith('/v1/')) return false;
      const op = build(request);
      if (!op) return false;
      const status = reply.statusCode;
      reply.code(202); // before the gate: the request's audit event commits with the held write
      const held = await approvals.gate(request.identity!, op);
      if (!held) {
        reply.code(status);
        return false;
      }
      reply.header('location', `/v1/requests/${held.id}`);
      await reply.send({ change_request: changeRequestJson(held) });
      return true;
    }

    // After authentication and validation, before the route. Reads never need it (break-glass
    // needs a write's auditor), so they pass through synchronously: the read path pays one check.
    app.addHook('preHandler', (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => {
      if (request.method === 'GET' || request.method === 'HEAD' || !request.identity) return done();
      hold(request, reply).then((answered) => {
        if (!answered) done();
      }, done);
    });

    const tags = ['requests'];
    app.get('/v1/requests', { schema: { querystring: ListQuery, tags }, config: { operation: 'request.list' } }, async (request) => {
      const query = request.query as { state?: ChangeRequestState; limit?: number };
      return { requests: (await approvals.list(identityOf(request), query)).map(changeRequestJson) };
    });
    app.get('/v1/requests/:id', { schema: { params: IdParam, tags }, config: { operation: 'request.read' } }, async (request) =>
      ({ change_request: changeRequestJson(await approvals.show(identityOf(request), (request.params as { id: string }).id)) }));
    app.post('/v1/requests/:id/approve', { schema: { params: IdParam, tags }, config: { operation: 'request.approve' } }, async (request) =>
      ({ change_request: changeRequestJson(await approvals.approve(identityOf(request), (request.params as { id: string }).id)) }));
    app.post('/v1/requests/:id/deny', { schema: { params: IdParam, body: ReasonBody, tags }, config: { operation: 'request.deny' } }, async (request) =>
      ({ change_request: changeRequestJson(await approvals.deny(identityOf(request), (request.params as { id: string }).id, (request.body as { reason?: string }).reason)) }));
    app.post('/v1/requests/:id/cancel', { schema: { params: IdParam, body: ReasonBody, tags }, config: { operation: 'request.cancel' } }, async (request) =>
      ({ change_request: changeRequestJson(await approvals.cancel(identityOf(request), (request.params as { id: string }).id, (request.body as { reason?: string }).reason)) }));
  };
}

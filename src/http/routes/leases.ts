import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { LeaseManager } from '../../leases/lease-manager.js';
import type { Lease } from '../../leases/lease.types.js';
import { identityOf } from '../request-context.js';

/**
 * Lease routes: renew, revoke, revoke-prefix and list. Ids travel in bodies (they contain `/`);
 * audit events carry the lease id. The issuing token may renew and revoke its own leases;
 * everything else is on `sys:leases`.
 */
const strict = { additionalProperties: false } as const;
const LeaseId = Type.String({ minLength: 1, maxLength: 512 });
const RenewBody = Type.Object({ lease_id: LeaseId, increment: Type.Optional(Type.Integer({ minimum: 1 })) }, strict);
const RevokeBody = Type.Object({ lease_id: LeaseId }, strict);
const PrefixBody = Type.Object({ prefix: Type.String({ minLength: 1, maxLength: 512 }) }, strict);
const ListQuery = Type.Object({
  prefix: Type.Optional(Type.String({ maxLength: 512 })), after: Type.Optional(LeaseId), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })), include_revoked: Type.Optional(Type.Boolean()),
}, strict);

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
export const leaseJson = (l: Lease) => ({
  lease_id: l.id, engine: l.engine, role: l.role, env: l.env, state: l.state, issued_at: iso(l.issuedAt), expires_at: iso(l.expiresAt),
  max_expires_at: iso(l.maxExpiresAt), renewable: l.renewable, revoke_attempts: l.revokeAttempts, next_attempt_at: iso(l.nextAttemptAt), last_error: l.lastError, revoked_at: iso(l.revokedAt),
});

const mark = (request: FastifyRequest, id: string) => {
  request.audit.secretName = 'sys:leases';
  request.audit.detail = { ...request.audit.detail, lease_id: id };
};

export function leaseRoutes(leases: LeaseManager, now: () => number) {
  return (app: FastifyInstance): void => {
    const tags = ['leases'];
    app.post('/v1/leases/renew', { schema: { body: RenewBody, tags }, config: { operation: 'lease.renew' } }, async (request) => {
      const b = request.body as { lease_id: string; increment?: number };
      mark(request, b.lease_id);
      const lease = await leases.renew(identityOf(request), b.lease_id, b.increment);
      return { ...leaseJson(lease), lease_duration: Math.max(0, Math.round((lease.expiresAt - now()) / 1000)) };
    });
    app.post('/v1/leases/revoke', { schema: { body: RevokeBody, tags }, config: { operation: 'lease.revoke' } }, async (request) => {
      const b = request.body as { lease_id: string };
      mark(request, b.lease_id);
      return leaseJson(await leases.revoke(identityOf(request), b.lease_id));
    });
    app.post('/v1/leases/revoke-prefix', { schema: { body: PrefixBody, tags }, config: { operation: 'lease.revoke_prefix' } }, async (request) => {
      const b = request.body as { prefix: string };
      request.audit.secretName = 'sys:leases';
      request.audit.detail = { prefix: b.prefix };
      const marked = await leases.revokePrefix(identityOf(request), b.prefix);
      request.audit.detail = { prefix: b.prefix, marked };
      return { prefix: b.prefix, marked };
    });
    app.get('/v1/leases', { schema: { querystring: ListQuery, tags }, config: { operation: 'lease.list' } }, async (request) => {
      request.audit.secretName = 'sys:leases';
      const q = request.query as { prefix?: string; after?: string; limit?: number; include_revoked?: boolean };
      const page = await leases.list(identityOf(request), { prefix: q.prefix, after: q.after, limit: q.limit, includeRevoked: q.include_revoked });
      return { leases: page.leases.map(leaseJson), next_after: page.next };
    });
    app.get('/v1/leases/lookup', { schema: { querystring: Type.Object({ lease_id: LeaseId }, strict), tags }, config: { operation: 'lease.read' } }, async (request) => {
      const { lease_id: id } = request.query as { lease_id: string };
      mark(request, id);
      return leaseJson(await leases.read(identityOf(request), id));
    });
  };
}

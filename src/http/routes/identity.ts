import type { FastifyInstance } from 'fastify';
import { parseDurationSeconds } from '../../lib/duration.js';
import { AppError } from '../../errors/app-error.js';
import type { IdentityService, TokenInfo } from '../../auth/tokens/identity-service.js';
import type { PolicyService } from '../../services/policy-service.js';
import { identityOf } from '../request-context.js';
import { AccessorBody, CreateTokenBody, PolicyNameParam, WritePolicyBody } from '../schemas.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function tokenJson(info: TokenInfo) {
  return {
    accessor: info.accessor, display_name: info.displayName, policies: info.policies, env: info.env, root: info.isRoot,
    parent_accessor: info.parentAccessor, created_at: iso(info.createdAt), expires_at: iso(info.expiresAt),
    max_expires_at: iso(info.maxExpiresAt), ttl_seconds: info.ttlSeconds, revoked: info.revoked,
    ...(info.authMount ? { auth_mount: info.authMount, auth_role: info.authRole } : {}),
    ...(info.boundCidrs ? { bound_cidrs: info.boundCidrs } : {}),
  };
}

function seconds(value: string | number | undefined): number | undefined {
  if (value === undefined) return undefined;
  try {
    return parseDurationSeconds(value);
  } catch (error) {
    throw new AppError('validation_failed', (error as Error).message);
  }
}

/** Tokens travel only in bodies and headers, never in URLs. */
export function identityRoutes(identity: IdentityService, policies: PolicyService) {
  return (app: FastifyInstance): void => {
    app.post('/v1/tokens', { schema: { body: CreateTokenBody, tags: ['tokens'] }, config: { operation: 'token.create', wrappable: true } }, async (request, reply) => {
      const body = request.body as { policies: string[]; ttl?: string | number; max_ttl?: string | number; env?: string; display_name?: string; allow_missing_policies?: boolean };
      reply.code(201); // before the call: the write's audit event commits with it
      const created = await identity.create(identityOf(request), {
        policies: body.policies, ttlSeconds: seconds(body.ttl), maxTtlSeconds: seconds(body.max_ttl), env: body.env, displayName: body.display_name,
        allowMissingPolicies: body.allow_missing_policies,
      });
      return { token: created.token, ...tokenJson(created.info) };
    });

    app.get('/v1/tokens/self', { schema: { tags: ['tokens'] }, config: { operation: 'token.lookup_self' } }, async (request) =>
      tokenJson(await identity.lookupSelf(identityOf(request))));

    app.post('/v1/tokens/lookup', { schema: { body: AccessorBody, tags: ['tokens'] }, config: { operation: 'token.lookup' } }, async (request) => {
      const { accessor } = request.body as { accessor?: string };
      return tokenJson(await identity.lookup(identityOf(request), accessor ?? identityOf(request).accessor));
    });

    app.post('/v1/tokens/renew', { schema: { body: AccessorBody, tags: ['tokens'] }, config: { operation: 'token.renew' } }, async (request) => {
      const body = (request.body ?? {}) as { accessor?: string; increment?: string | number };
      return tokenJson(await identity.renew(identityOf(request), body.accessor, seconds(body.increment)));
    });

    app.post('/v1/tokens/revoke', { schema: { body: AccessorBody, tags: ['tokens'] }, config: { operation: 'token.revoke' } }, async (request) => {
      const body = (request.body ?? {}) as { accessor?: string };
      const revoked = await identity.revoke(identityOf(request), body.accessor);
      return { revoked };
    });

    app.get('/v1/policies', { schema: { tags: ['policies'] }, config: { operation: 'policy.list' } }, async (request) =>
      ({ policies: await policies.list(identityOf(request)) }));

    app.get('/v1/policies/:name', { schema: { params: PolicyNameParam, tags: ['policies'] }, config: { operation: 'policy.read' } }, async (request) => {
      const policy = await policies.read(identityOf(request), (request.params as { name: string }).name);
      return { name: policy.name, document: policy.document, rules: policy.rules, created_at: iso(policy.createdAt), updated_at: iso(policy.updatedAt) };
    });

    app.put('/v1/policies/:name', { schema: { params: PolicyNameParam, body: WritePolicyBody, tags: ['policies'] }, config: { operation: 'policy.write' } }, async (request) => {
      const name = (request.params as { name: string }).name;
      request.audit.detail = { policy: name };
      const policy = await policies.write(identityOf(request), name, (request.body as { document: string }).document);
      return { name: policy.name, rules: policy.rules, updated_at: iso(policy.updatedAt) };
    });

    app.delete('/v1/policies/:name', { schema: { params: PolicyNameParam, tags: ['policies'] }, config: { operation: 'policy.delete' } }, async (request) => {
      const name = (request.params as { name: string }).name;
      request.audit.detail = { policy: name };
      await policies.remove(identityOf(request), name);
      return { deleted: name };
    });
  };
}

import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { AppRoleService, SecretIdInfo } from '../../auth/approle/approle-service.js';
import { AppError } from '../../errors/app-error.js';
import { parseDurationSeconds } from '../../lib/duration.js';
import { identityOf } from '../request-context.js';

const strict = { additionalProperties: false } as const;
const RoleParam = Type.Object({ mount: Type.String({ minLength: 1, maxLength: 64 }), name: Type.String({ minLength: 1, maxLength: 128 }) }, strict);
const Duration = Type.Union([Type.Integer({ minimum: 1 }), Type.String({ pattern: '^\\d+[smhdw]?$' })]);
const CreateSecretIdBody = Type.Object({
  ttl: Type.Optional(Duration),
  num_uses: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  cidrs: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 64 })),
}, strict);
const RevokeSecretIdBody = Type.Object({ secret_id_accessor: Type.String({ minLength: 1, maxLength: 64 }) }, strict);

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const secretIdJson = (s: SecretIdInfo) => ({
  secret_id_accessor: s.accessor, created_by: s.createdBy, created_at: iso(s.createdAt), expires_at: iso(s.expiresAt),
  uses_remaining: s.usesRemaining, cidrs: s.cidrs, revoked: s.revoked,
});

/** AppRole's role_id and secret ids. The secret id leaves the server once, in the creation response (wrap it). */
export function appRoleRoutes(approle: AppRoleService) {
  return (app: FastifyInstance): void => {
    app.get('/v1/auth/:mount/role/:name/role-id', { schema: { params: RoleParam, tags: ['auth'] }, config: { operation: 'approle.role_id.read' } }, async (request) => {
      const { mount, name } = request.params as { mount: string; name: string };
      return { role_id: await approle.roleId(identityOf(request), mount, name) };
    });

    app.post('/v1/auth/:mount/role/:name/secret-id', { schema: { params: RoleParam, body: CreateSecretIdBody, tags: ['auth'] }, config: { operation: 'approle.secret_id.create', wrappable: true } }, async (request, reply) => {
      const { mount, name } = request.params as { mount: string; name: string };
      const body = request.body as { ttl?: string | number; num_uses?: number; cidrs?: string[] };
      let ttlSeconds: number | undefined;
      try {
        ttlSeconds = body.ttl === undefined ? undefined : parseDurationSeconds(body.ttl);
      } catch (error) {
        throw new AppError('validation_failed', (error as Error).message);
      }
      reply.code(201);
      const created = await approle.createSecretId(identityOf(request), mount, name, { ttlSeconds, numUses: body.num_uses, cidrs: body.cidrs });
      return { secret_id: created.secretId, ...secretIdJson(created.info) };
    });

    app.get('/v1/auth/:mount/role/:name/secret-id', { schema: { params: RoleParam, tags: ['auth'] }, config: { operation: 'approle.secret_id.list' } }, async (request) => {
      const { mount, name } = request.params as { mount: string; name: string };
      return { secret_ids: (await approle.listSecretIds(identityOf(request), mount, name)).map(secretIdJson) };
    });

    app.post('/v1/auth/:mount/role/:name/secret-id/revoke', { schema: { params: RoleParam, body: RevokeSecretIdBody, tags: ['auth'] }, config: { operation: 'approle.secret_id.revoke' } }, async (request) => {
      const { mount, name } = request.params as { mount: string; name: string };
      const { secret_id_accessor: accessor } = request.body as { secret_id_accessor: string };
      await approle.revokeSecretId(identityOf(request), mount, name, accessor);
      return { revoked: accessor };
    });
  };
}

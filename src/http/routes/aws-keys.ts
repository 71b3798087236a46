import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { AwsCredentialsService, AwsKeyInfo } from '../../auth/aws-keys/aws-credentials-service.js';
import { parseDurationSeconds } from '../../lib/duration.js';
import { AppError } from '../../errors/app-error.js';
import { identityOf } from '../request-context.js';

const strict = { additionalProperties: false } as const;
const CreateAwsKeyBody = Type.Object({
  policies: Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { minItems: 1, maxItems: 64 }),
  env: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  display_name: Type.Optional(Type.String({ maxLength: 128 })),
  /** Seconds, or a duration such as 30d; capped by the creator's own expiry. */
  ttl: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.String({ pattern: '^\\d+[smhdw]?$' })])),
  allow_missing_policies: Type.Optional(Type.Boolean()),
}, strict);
const RevokeAwsKeyBody = Type.Object({ access_key_id: Type.String({ minLength: 1, maxLength: 128 }) }, strict);

const iso = (ms: number) => new Date(ms).toISOString();

function durationSeconds(value: string | number | undefined): number | undefined {
  if (value === undefined) return undefined;
  try {
    return parseDurationSeconds(value);
  } catch (error) {
    throw new AppError('validation_failed', (error as Error).message);
  }
}
const keyJson = (k: AwsKeyInfo) => ({
  access_key_id: k.accessKeyId, display_name: k.displayName, policies: k.policies, env: k.env, root: k.isRoot,
  created_by: k.createdBy, created_by_name: k.createdByName, created_at: iso(k.createdAt), expires_at: k.expiresAt === null ? null : iso(k.expiresAt), revoked: k.revoked,
});

/** Native management of SigV4 access keys for the AWS-compatible API. The secret key is shown once, on creation. */
export function awsKeyRoutes(credentials: AwsCredentialsService) {
  return (app: FastifyInstance): void => {
    app.post('/v1/aws/keys', { schema: { body: CreateAwsKeyBody, tags: ['aws'] }, config: { operation: 'aws.key.create' } }, async (request, reply) => {
      const body = request.body as { policies: string[]; env?: string; display_name?: string; ttl?: string | number; allow_missing_policies?: boolean };
      reply.code(201); // before the call: the write's audit event commits with it
      const created = await credentials.create(identityOf(request), { policies: body.policies, env: body.env, displayName: body.display_name, ttlSeconds: durationSeconds(body.ttl), allowMissingPolicies: body.allow_missing_policies });
      return { ...keyJson(created.info), secret_access_key: created.secretAccessKey };
    });

    app.get('/v1/aws/keys', { schema: { tags: ['aws'] }, config: { operation: 'aws.key.list' } }, async (request) =>
      ({ keys: (await credentials.list(identityOf(request))).map(keyJson) }));

    app.post('/v1/aws/keys/revoke', { schema: { body: RevokeAwsKeyBody, tags: ['aws'] }, config: { operation: 'aws.key.revoke' } }, async (request) => {
      const { access_key_id: id } = request.body as { access_key_id: string };
      request.audit.detail = { access_key_id: id };
      await credentials.revoke(identityOf(request), id);
      return { revoked: id };
    });
  };
}

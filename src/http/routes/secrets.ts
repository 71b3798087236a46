import type { FastifyInstance } from 'fastify';
import { generatePassword } from '../../crypto/password.js';
import { AppError } from '../../errors/app-error.js';
import type { SecretsService, SecretMetadata, VersionInfo } from '../../engines/secrets/secrets-service.js';
import type { SecretValue } from '../../engines/secrets/secret-rules.js';
import { auditTarget, identityOf, type AuditItem } from '../request-context.js';
import {
  BatchReadBody, CreateSecretBody, DeleteSecretQuery, GetValueQuery, ListSecretsQuery, ListVersionsQuery, MoveLabelBody, PasswordBody, PutValueBody,
  SecretNameParam, SecretValueResponse, TagBody, UntagQuery, UpdateSecretBody,
} from '../schemas.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function metadataJson(m: SecretMetadata) {
  return {
    name: m.name, arn: m.arn, region: m.region, description: m.description, owner: m.owner, tags: m.tags,
    created_at: iso(m.createdAt), updated_at: iso(m.updatedAt), last_accessed_at: iso(m.lastAccessedAt),
    last_rotated_at: iso(m.lastRotatedAt), deleted_at: iso(m.deletedAt), deletion_date: iso(m.deleteAfter),
    rotation: m.rotation, primary_region: m.primaryRegion,
  };
}

const versionJson = (v: VersionInfo) => ({ version_id: v.versionId, labels: v.labels, created_at: iso(v.createdAt), last_accessed_at: iso(v.lastAccessedAt) });

function valueJson(result: Awaited<ReturnType<SecretsService['getValue']>>) {
  return {
    name: result.name, arn: result.arn, version_id: result.versionId, labels: result.labels, created_at: iso(result.createdAt),
    ...(result.value.kind === 'string' ? { value: result.value.text } : { value_base64: result.value.bytes.toString('base64') }),
  };
}

function valueFrom(body: { value?: string; value_base64?: string }): SecretValue | undefined {
  if (body.value !== undefined && body.value_base64 !== undefined) throw new AppError('validation_failed', 'give value or value_base64, not both');
  if (body.value !== undefined) return { kind: 'string', text: body.value };
  if (body.value_base64 !== undefined) return { kind: 'binary', bytes: Buffer.from(body.value_base64, 'base64') };
  return undefined;
}

/** Native secrets API. A secret name may contain `/`, so it is the wildcard tail of each path. */
export function secretRoutes(secrets: SecretsService) {
  return (app: FastifyInstance): void => {
    app.get('/v1/secrets', { schema: { querystring: ListSecretsQuery, tags: ['secrets'] }, config: { operation: 'secret.list' } }, async (request) => {
      const query = request.query as { prefix?: string; include_deleted?: boolean; limit?: number; cursor?: string };
      const page = await secrets.list(identityOf(request), { prefix: query.prefix, includeDeleted: query.include_deleted, limit: query.limit, cursor: query.cursor });
      return { secrets: page.secrets.map(metadataJson), next_cursor: page.nextCursor };
    });

    app.post('/v1/secrets', { schema: { body: CreateSecretBody, tags: ['secrets'] }, config: { operation: 'secret.create' } }, async (request, reply) => {
      const body = request.body as CreateSecretBody;
      auditTarget(request, body.name);
      reply.code(201); // before the call: the write's audit event commits with it
      const result = await secrets.create(identityOf(request), {
        name: body.name, description: body.description, owner: body.owner, tags: body.tags, value: valueFrom(body),
        labels: body.labels, versionId: body.idempotency_token,
      });
      auditTarget(request, body.name, result.versionId);
      return { ...metadataJson(result.metadata), version_id: result.versionId };
    });

    app.get('/v1/secrets/*', { schema: { params: SecretNameParam, tags: ['secrets'] }, config: { operation: 'secret.describe' } }, async (request) => {
      const name = (request.params as { '*': string })['*'];
      auditTarget(request, name);
      const described = await secrets.describe(identityOf(request), { name });
      return { ...metadataJson(described), versions: described.versions.map(versionJson) };
    });

    app.patch('/v1/secrets/*', { schema: { params: SecretNameParam, body: UpdateSecretBody, tags: ['secrets'] }, config: { operation: 'secret.update' } }, async (request) => {
      const name = (request.params as { '*': string })['*'];
      auditTarget(request, name);
      const body = request.body as { description?: string | null; owner?: string | null };
      return metadataJson(await secrets.updateMetadata(identityOf(request), { name }, body));
    });

    app.delete('/v1/secrets/*', { schema: { params: SecretNameParam, querystring: DeleteSecretQuery, tags: ['secrets'] }, config: { operation: 'secret.delete' } }, async (request) => {
      const name = (request.params as { '*': string })['*'];
      auditTarget(request, name);
      const query = request.query as { recovery_days?: number; force?: boolean };
      request.audit.detail = { force: query.force ?? false };
      const result = await secrets.delete(identityOf(request), { name }, { recoveryDays: query.recovery_days, force: query.force });
      return { name: result.name, arn: result.arn, deletion_date: iso(result.deletionDate) };
    });

    app.get('/v1/values/*', { schema: { params: SecretNameParam, querystring: GetValueQuery, response: { 200: SecretValueResponse }, tags: ['values'] }, config: { operation: 'secret.read', wrappable: true } }, async (request) => {
      const name = (request.params as { '*': string })['*'];
      auditTarget(request, name);
      const query = request.query as { label?: string; version_id?: string };
      const result = await secrets.getValue(identityOf(request), { name }, { label: query.label, versionId: query.version_id });
      auditTarget(request, name, result.versionId);
      return valueJson(result);
    });

    // Several reads in one request: each item is authorized, read and audited exactly as
    // GET /v1/values/<name>, and fails on its own (not found, denied) without failing the rest.
    app.post('/v1/batch/values', { schema: { body: BatchReadBody, tags: ['values'] }, config: { operation: 'secret.read_batch' } }, async (request) => {
      const { secrets: items } = request.body as { secrets: { name: string; label?: string; version_id?: string }[] };
      const identity = identityOf(request);
      const values: Record<string, unknown>[] = [];
      const errors: { index: number; name: string; code: string; status: number; message: string }[] = [];
      const audited: AuditItem[] = [];
      request.audit.items = audited;
      for (let index = 0; index < items.length; index++) {
        const { name, label, version_id: versionId } = items[index]!;
        try {
          const result = await secrets.getValue(identity, { name }, { label, versionId });
          values.push({ index, ...valueJson(result) });
          audited.push({ operation: 'secret.read', secretName: name, versionId: result.versionId, errorCode: null, status: 200 });
        } catch (error) {
          // Only per-secret refusals are reported per item; anything else fails the request.
          if (!(error instanceof AppError) || error.status >= 500) throw error;
          errors.push({ index, name, code: error.code, status: error.status, message: error.message });
          audited.push({ operation: 'secret.read', secretName: name, versionId: null, errorCode: error.code, status: error.status });
        }
      }
      request.audit.detail = { returned: values.length, failed: errors.length };
      return { values, errors };
    });

    app.post('/v1/values/*', { schema: { params: SecretNameParam, body: PutValueBody, tags: ['values'] }, config: { operation: 'secret.write' } }, async (request, reply) => {
      const name = (request.params as { '*': string })['*'];
      auditTarget(request, name);
      const body = request.body as PutValueBody;
      const value = valueFrom(body);
      if (!value) throw new AppError('validation_failed', 'value or value_base64 is required');
      reply.code(201); // before the call: the write's audit event commits with it
      const input = { value, labels: body.labels, versionId: body.idempotency_token };
      const result = body.create_if_missing
        ? await secrets.putValueOrCreate(identityOf(request), { name }, input, body.create_if_missing)
        : { ...(await secrets.putValue(identityOf(request), { name }, input)), secretCreated: false };
      auditTarget(request, name, result.versionId);
      reply.code(result.created ? 201 : 200);
      return { name: result.name, arn: result.arn, version_id: result.versionId, labels: result.labels, created: result.created, secret_created: result.secretCreated };
    });

    app.get('/v1/versions/*', { schema: { params: SecretNameParam, querystring: ListVersionsQuery, tags: ['values'] }, config: { operation: 'secret.versions' } }, async (request) => {
      const name = (request.params as { '*': string })['*'];
      auditTarget(request, name);
      const query = request.query as { limit?: number; cursor?: string };
      const result = await secrets.listVersionsPage(identityOf(request), { name }, { limit: query.limit, cursor: query.cursor });
      return { name: result.metadata.name, arn: result.metadata.arn, versions: result.versions.map(versionJson), next_cursor: result.nextCursor };
    });

    app.post('/v1/labels/*', { schema: { params: SecretNameParam, body: MoveLabelBody, tags: ['values'] }, config: { operation: 'secret.label' } }, async (request) => {
      const name = (request.params as { '*': string })['*'];
      const body = request.body as { label: string; move_to_version_id?: string; remove_from_version_id?: string };
      auditTarget(request, name, body.move_to_version_id ?? body.remove_from_version_id ?? null);
      request.audit.detail = { label: body.label, from: body.remove_from_version_id ?? null, to: body.move_to_version_id ?? null };
      return secrets.moveLabel(identityOf(request), { name }, { label: body.label, moveToVersionId: body.move_to_version_id, removeFromVersionId: body.remove_from_version_id });
    });

    app.post('/v1/restore/*', { schema: { params: SecretNameParam, tags: ['secrets'] }, config: { operation: 'secret.restore' } }, async (request) => {
      const name = (request.params as { '*': string })['*'];
      auditTarget(request, name);
      return secrets.restore(identityOf(request), { name });
    });

    app.post('/v1/tags/*', { schema: { params: SecretNameParam, body: TagBody, tags: ['secrets'] }, config: { operation: 'secret.tag' } }, async (request) => {
      const name = (request.params as { '*': string })['*'];
      auditTarget(request, name);
      await secrets.tag(identityOf(request), { name }, (request.body as { tags: Record<string, string> }).tags);
      return { name };
    });

    app.delete('/v1/tags/*', { schema: { params: SecretNameParam, querystring: UntagQuery, tags: ['secrets'] }, config: { operation: 'secret.untag' } }, async (request) => {
      const name = (request.params as { '*': string })['*'];
      auditTarget(request, name);
      await secrets.untag(identityOf(request), { name }, (request.query as { keys: string }).keys.split(','));
      return { name };
    });

    app.post('/v1/password', { schema: { body: PasswordBody, tags: ['secrets'] }, config: { operation: 'password.generate' } }, async (request) => {
      const b = (request.body ?? {}) as Record<string, never>;
      return {
        password: generatePassword({
          length: b.length, excludeCharacters: b.exclude_characters, excludeNumbers: b.exclude_numbers, excludePunctuation: b.exclude_punctuation,
          excludeUppercase: b.exclude_uppercase, excludeLowercase: b.exclude_lowercase, includeSpace: b.include_space,
          requireEachIncludedType: b.require_each_included_type,
        }),
      };
    });
  };
}

import { generatePassword } from '../../crypto/password.js';
import { AppError } from '../../errors/app-error.js';
import type { Identity } from '../../services/identity.types.js';
import type { ReplicationService } from '../../services/replication-service.js';
import type { ReplicaStatus, SecretFilter, SecretMetadata, SecretRef, SecretsService, VersionInfo } from '../../engines/secrets/secrets-service.js';
import { SORT_BY, pageOffset, pageToken, type SortBy } from '../../engines/secrets/secret-search.js';
import type { SecretValue } from '../../engines/secrets/secret-rules.js';
import type { RotationEngine } from '../../services/rotation/rotation-engine.js';
import { nextDueAt, type RotationSettings } from '../../services/rotation/rotation-settings.js';
import { epochSeconds, labelToAws, labelToNative, optionalEpoch } from './aws-protocol.js';
import { rotationRulesOf, scheduleFromRules } from './aws-schedule.js';

/** What one AWS call carries into an operation: who, which region, and where to note audit targets. */
export interface AwsCall {
  identity: Identity;
  region: string;
  /** Records the secret (and version) the call touched for its single audit event. */
  target(secretName: string | null, versionId?: string | null): void;
  detail(detail: Record<string, string | number | boolean | null>): void;
  /** A call that reads several secrets records each as its own audit event too (see AuditItem). */
  item(secretName: string, versionId: string | null, errorCode: string | null, status: number): void;
}

export interface AwsServices {
  secrets: SecretsService;
  replication: ReplicationService;
  rotation: Pick<RotationEngine, 'status' | 'configure' | 'rotateNow'>;
}

type Input = Record<string, unknown>;
type Operation = (call: AwsCall, input: Input) => Promise<Record<string, unknown>>;

// ---------------------------------------------------------------------------
// Typed reads of request fields (wrong types are InvalidParameterException, as AWS answers)
// ---------------------------------------------------------------------------

function bad(message: string): never {
  throw new AppError('validation_failed', message);
}

function str(input: Input, field: string, required: true): string;
function str(input: Input, field: string, required?: false): string | undefined;
function str(input: Input, field: string, required = false): string | undefined {
  const value = input[field];
  if (value === undefined || value === null) return required ? bad(`${field} is required`) : undefined;
  if (typeof value !== 'string') bad(`${field} must be a string`);
  return value;
}

function bool(input: Input, field: string): boolean | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') bad(`${field} must be a boolean`);
  return value;
}

function int(input: Input, field: string): number | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) bad(`${field} must be an integer`);
  return value;
}

function strList(input: Input, field: string): string[] | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) bad(`${field} must be a list of strings`);
  return value as string[];
}

function objList(input: Input, field: string): Input[] | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'object' || v === null || Array.isArray(v))) bad(`${field} must be a list of objects`);
  return value as Input[];
}

function valueOf(input: Input): SecretValue | undefined {
  const text = str(input, 'SecretString');
  const binary = str(input, 'SecretBinary');
  if (text !== undefined && binary !== undefined) bad('You can\'t specify both SecretString and SecretBinary');
  if (text !== undefined) return { kind: 'string', text };
  if (binary !== undefined) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(binary)) bad('SecretBinary must be base64');
    return { kind: 'binary', bytes: Buffer.from(binary, 'base64') };
  }
  return undefined;
}

function tagsOf(input: Input): Record<string, string> | undefined {
  const list = objList(input, 'Tags');
  if (!list) return undefined;
  const tags: Record<string, string> = {};
  for (const tag of list) tags[str(tag, 'Key', true)] = str(tag, 'Value') ?? '';
  return tags;
}

function replicaRegionsOf(input: Input, field: string): { region: string; kmsKeyId?: string }[] | undefined {
  return objList(input, field)?.map((r) => ({ region: str(r, 'Region', true), kmsKeyId: str(r, 'KmsKeyId') }));
}

function filtersOf(input: Input): SecretFilter[] | undefined {
  return objList(input, 'Filters')?.map((f) => ({ key: str(f, 'Key', true) as SecretFilter['key'], values: strList(f, 'Values') ?? [] }));
}

/**
 * The service words its errors for the native API (label CURRENT, remove_from_version_id); an
 * AWS client is told in AWS's terms (AWSCURRENT, RemoveFromVersionId), built from the error's
 * details. The error's code, and so its AWS type and status, is unchanged.
 */
function inAwsTerms(error: unknown): never {
  if (!(error instanceof AppError) || !error.details) throw error;
  const { label, version_id: versionId, attached_to: attachedTo } = error.details as Record<string, string | undefined>;
  const stage = label === undefined ? undefined : labelToAws(label);
  let message: string | undefined;
  if (error.code === 'version_not_found') {
    message = versionId !== undefined && stage !== undefined ? `Secrets Manager can't find the specified secret value for VersionId: ${versionId} and staging label: ${stage}`
      : versionId !== undefined ? `Secrets Manager can't find the specified secret value for VersionId: ${versionId}`
      : stage !== undefined ? `Secrets Manager can't find the specified secret value for staging label: ${stage}` : undefined;
  } else if (error.code === 'label_conflict' && stage !== undefined) {
    message = attachedTo !== undefined ? `The staging label ${stage} is currently attached to version ${attachedTo}, so you must explicitly reference that version in RemoveFromVersionId.`
      : versionId !== undefined ? `The staging label ${stage} is not attached to version ${versionId} (RemoveFromVersionId).`
      : `The staging label ${stage} can't be removed from its version; move it to another version with MoveToVersionId.`;
  }
  throw message === undefined ? error : new AppError(error.code, message, { details: error.details });
}

// ---------------------------------------------------------------------------
// Response shapes
// ---------------------------------------------------------------------------

function valueFields(value: SecretValue): Record<string, string> {
  return value.kind === 'string' ? { SecretString: value.text } : { SecretBinary: value.bytes.toString('base64') };
}

function replicationJson(statuses: ReplicaStatus[]) {
  return statuses.map((s) => ({
    Region: s.region, ...(s.kmsKeyId ? { KmsKeyId: s.kmsKeyId } : {}), Status: s.status, StatusMessage: s.statusMessage,
    ...(s.lastAccessedAt !== null ? { LastAccessedDate: epochSeconds(s.lastAccessedAt) } : {}),
  }));
}

/** Rotation as AWS reports it, from the rotation engine's settings (`secrets.rotation`). */
function rotationFields(m: SecretMetadata) {
  const settings = m.rotation as RotationSettings | null;
  const rules = settings ? rotationRulesOf(settings) : null;
  if (!settings || !rules) return {};
  const next = nextDueAt(settings, m.lastRotatedAt ?? m.createdAt);
  return { RotationEnabled: true, RotationRules: rules, ...(next !== null ? { NextRotationDate: epochSeconds(next) } : {}) };
}

function metadataJson(m: SecretMetadata, stagesByVersion: Record<string, string[]>, replication: ReplicaStatus[], field: 'VersionIdsToStages' | 'SecretVersionsToStages') {
  const tags = Object.entries(m.tags).map(([Key, Value]) => ({ Key, Value }));
  const stages = Object.fromEntries(Object.entries(stagesByVersion).filter(([, l]) => l.length > 0).map(([v, l]) => [v, l.map(labelToAws)]));
  const replicated = m.primaryRegion !== null || replication.length > 0;
  return {
    ARN: m.arn, Name: m.name,
    ...(m.description !== null ? { Description: m.description } : {}),
    ...(m.kmsKeyId !== null ? { KmsKeyId: m.kmsKeyId } : {}),
    ...rotationFields(m),
    ...(m.lastRotatedAt !== null ? { LastRotatedDate: epochSeconds(m.lastRotatedAt) } : {}),
    LastChangedDate: epochSeconds(m.updatedAt),
    ...(m.lastAccessedAt !== null ? { LastAccessedDate: epochSeconds(m.lastAccessedAt) } : {}),
    ...(m.deletedAt !== null ? { DeletedDate: epochSeconds(m.deletedAt) } : {}),
    Tags: tags,
    [field]: stages,
    CreatedDate: epochSeconds(m.createdAt),
    ...(replicated ? { PrimaryRegion: m.primaryRegion ?? m.region } : {}),
    ...(replication.length > 0 ? { ReplicationStatus: replicationJson(replication) } : {}),
  };
}

function stagesOf(versions: VersionInfo[]): Record<string, string[]> {
  return Object.fromEntries(versions.map((v) => [v.versionId, v.labels]));
}

// ---------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------

/** Every Secrets Manager operation Custos answers, each a thin translation onto a service call. */
export function awsOperations({ secrets, replication, rotation }: AwsServices): Record<string, Operation> {
  const resolve = async (call: AwsCall, input: Input): Promise<SecretRef> => {
    const ref = await secrets.resolveSecretId(str(input, 'SecretId', true), call.region);
    call.target(ref.name);
    return ref;
  };

  const readValue = async (call: AwsCall, ref: SecretRef, versionId?: string, stage?: string) => {
    let result: Awaited<ReturnType<SecretsService['getValue']>>;
    try {
      result = await secrets.getValue(call.identity, ref, { versionId, label: stage === undefined ? undefined : labelToNative(stage) });
    } catch (error) {
      inAwsTerms(error);
    }
    return {
      ARN: result.arn, Name: result.name, VersionId: result.versionId, ...valueFields(result.value),
      VersionStages: result.labels.map(labelToAws), CreatedDate: epochSeconds(result.createdAt),
    };
  };

  /** Get/DeleteResourcePolicy: the secret exists and the caller may see it; no policy is attached. */
  const noResourcePolicy: Operation = async (call, input) => {
    const ref = await resolve(call, input);
    const d = await secrets.describe(call.identity, ref);
    return { ARN: d.arn, Name: d.name };
  };

  const unsupported = (what: string): Operation => async (call, input) => {
    if (typeof input.SecretId === 'string') call.target(input.SecretId);
    throw new AppError('unsupported_operation', what);
  };

  return {
    async CreateSecret(call, input) {
      const name = str(input, 'Name', true);
      call.target(name);
      const value = valueOf(input);
      const replicas = replicaRegionsOf(input, 'AddReplicaRegions');
      const created = await secrets.create(call.identity, {
        name, region: call.region, description: str(input, 'Description'), kmsKeyId: str(input, 'KmsKeyId'), tags: tagsOf(input), value,
        versionId: value ? str(input, 'ClientRequestToken') : undefined,
      });
      call.target(name, created.versionId);
      let statuses: ReplicaStatus[] = [];
      if (replicas && replicas.length > 0) {
        statuses = (await replication.replicate(call.identity, { name, region: call.region }, replicas, bool(input, 'ForceOverwriteReplicaSecret') ?? false)).statuses;
      }
      return {
        ARN: created.metadata.arn, Name: created.metadata.name, ...(created.versionId ? { VersionId: created.versionId } : {}),
        ...(statuses.length > 0 ? { ReplicationStatus: replicationJson(statuses) } : {}),
      };
    },

    async GetSecretValue(call, input) {
      const ref = await resolve(call, input);
      const result = await readValue(call, ref, str(input, 'VersionId'), str(input, 'VersionStage'));
      call.target(ref.name, result.VersionId);
      return result;
    },

    async BatchGetSecretValue(call, input) {
      const ids = strList(input, 'SecretIdList');
      const filters = filtersOf(input);
      if ((ids === undefined) === (filters === undefined)) bad('Either SecretIdList or Filters must be provided, not both');
      const values: Record<string, unknown>[] = [];
      const errors: Record<string, unknown>[] = [];
      let nextToken: string | null = null;
      const fetchOne = async (secretId: string) => {
        try {
          const value = await readValue(call, await secrets.resolveSecretId(secretId, call.region));
          values.push(value);
          call.item(String(value.Name), String(value.VersionId), null, 200);
        } catch (error) {
          if (!(error instanceof AppError) || error.code === 'internal_error' || error.code === 'sealed') throw error;
          call.item(secretId.slice(0, 512), null, error.code, error.status);
          const type = error.code === 'secret_not_found' || error.code === 'version_not_found' ? 'ResourceNotFoundException'
            : error.code === 'permission_denied' || error.code === 'environment_denied' ? 'AccessDeniedException'
            : error.code === 'secret_scheduled_for_deletion' ? 'InvalidRequestException' : 'InvalidParameterException';
          errors.push({ SecretId: secretId, ErrorCode: type, Message: error.message });
        }
      };
      if (ids) {
        if (ids.length === 0 || ids.length > 20) bad('SecretIdList holds 1 to 20 ids');
        if (int(input, 'MaxResults') !== undefined) bad('MaxResults can only be used with Filters');
        for (const id of ids) await fetchOne(id);
      } else {
        const maxResults = int(input, 'MaxResults') ?? 20;
        if (maxResults < 1 || maxResults > 20) bad('MaxResults is 1 to 20');
        const page = await secrets.search(call.identity, { region: call.region, filters, maxResults, nextToken: str(input, 'NextToken') });
        for (const secret of page.secrets) await fetchOne(secret.arn);
        nextToken = page.nextToken;
      }
      call.detail({ returned: values.length, failed: errors.length, secrets: values.map((v) => String(v.Name)).join(',').slice(0, 1000) });
      return { SecretValues: values, Errors: errors, ...(nextToken ? { NextToken: nextToken } : {}) };
    },

    async PutSecretValue(call, input) {
      const ref = await resolve(call, input);
      const value = valueOf(input);
      if (!value) bad('You must provide either SecretString or SecretBinary');
      const stages = strList(input, 'VersionStages');
      const result = await secrets.putValue(call.identity, ref, { value, labels: stages?.map(labelToNative), versionId: str(input, 'ClientRequestToken') });
      call.target(ref.name, result.versionId);
      call.detail({ labels: result.labels.join(','), created: result.created });
      return { ARN: result.arn, Name: result.name, VersionId: result.versionId, VersionStages: result.labels.map(labelToAws) };
    },

    async UpdateSecret(call, input) {
      const ref = await resolve(call, input);
      const description = str(input, 'Description');
      const kmsKeyId = str(input, 'KmsKeyId');
      const value = valueOf(input);
      let meta: { arn: string; name: string } | null = null;
      if (description !== undefined || kmsKeyId !== undefined) meta = await secrets.updateMetadata(call.identity, ref, { description, kmsKeyId });
      if (value) {
        const written = await secrets.putValue(call.identity, ref, { value, versionId: str(input, 'ClientRequestToken') });
        call.target(ref.name, written.versionId);
        return { ARN: written.arn, Name: written.name, VersionId: written.versionId };
      }
      if (meta) return { ARN: meta.arn, Name: meta.name };
      const described = await secrets.describe(call.identity, ref);
      return { ARN: described.arn, Name: described.name };
    },

    async UpdateSecretVersionStage(call, input) {
      const ref = await resolve(call, input);
      const stage = str(input, 'VersionStage', true);
      const moveTo = str(input, 'MoveToVersionId');
      const removeFrom = str(input, 'RemoveFromVersionId');
      call.target(ref.name, moveTo ?? removeFrom ?? null);
      call.detail({ label: stage, from: removeFrom ?? null, to: moveTo ?? null });
      if (moveTo === undefined && removeFrom === undefined) bad('You must specify MoveToVersionId, RemoveFromVersionId, or both.');
      const result = await secrets.moveLabel(call.identity, ref, { label: labelToNative(stage), moveToVersionId: moveTo, removeFromVersionId: removeFrom }).catch(inAwsTerms);
      return { ARN: result.arn, Name: result.name };
    },

    async DescribeSecret(call, input) {
      const ref = await resolve(call, input);
      const d = await secrets.describe(call.identity, ref);
      return metadataJson(d, stagesOf(d.versions), d.replication, 'VersionIdsToStages');
    },

    async ListSecrets(call, input) {
      const sortOrder = str(input, 'SortOrder');
      if (sortOrder !== undefined && sortOrder !== 'asc' && sortOrder !== 'desc') bad('SortOrder is asc or desc');
      const sortBy = str(input, 'SortBy');
      if (sortBy !== undefined && !SORT_BY.includes(sortBy as SortBy)) bad(`SortBy is one of ${SORT_BY.join(', ')}`);
      const page = await secrets.search(call.identity, {
        region: call.region, filters: filtersOf(input), sortOrder, sortBy: sortBy as SortBy | undefined, includePlannedDeletion: bool(input, 'IncludePlannedDeletion'),
        maxResults: int(input, 'MaxResults'), nextToken: str(input, 'NextToken'),
      });
      call.detail({ returned: page.secrets.length });
      return {
        SecretList: page.secrets.map((s) => metadataJson(s, s.labelsByVersion, s.replication, 'SecretVersionsToStages')),
        ...(page.nextToken ? { NextToken: page.nextToken } : {}),
      };
    },

    async ListSecretVersionIds(call, input) {
      const ref = await resolve(call, input);
      const maxResults = int(input, 'MaxResults') ?? 100;
      if (maxResults < 1 || maxResults > 100) bad('MaxResults is 1 to 100');
      const { metadata, versions } = await secrets.listVersions(call.identity, ref);
      const shown = bool(input, 'IncludeDeprecated') ? versions : versions.filter((v) => v.labels.length > 0);
      const offset = pageOffset(str(input, 'NextToken'));
      const page = shown.slice(offset, offset + maxResults);
      return {
        ARN: metadata.arn, Name: metadata.name,
        Versions: page.map((v) => ({
          VersionId: v.versionId, VersionStages: v.labels.map(labelToAws), CreatedDate: epochSeconds(v.createdAt),
          ...(v.lastAccessedAt !== null ? { LastAccessedDate: epochSeconds(v.lastAccessedAt) } : {}),
          ...(metadata.kmsKeyId ? { KmsKeyIds: [metadata.kmsKeyId] } : {}),
        })),
        ...(offset + maxResults < shown.length ? { NextToken: pageToken(offset + maxResults) } : {}),
      };
    },

    async DeleteSecret(call, input) {
      const ref = await resolve(call, input);
      const force = bool(input, 'ForceDeleteWithoutRecovery');
      const days = int(input, 'RecoveryWindowInDays');
      call.detail({ force: force ?? false });
      const result = await secrets.delete(call.identity, ref, { recoveryDays: days, force: force || undefined });
      return { ARN: result.arn, Name: result.name, DeletionDate: epochSeconds(result.deletionDate) };
    },

    async RestoreSecret(call, input) {
      const ref = await resolve(call, input);
      const result = await secrets.restore(call.identity, ref);
      return { ARN: result.arn, Name: result.name };
    },

    async TagResource(call, input) {
      const ref = await resolve(call, input);
      const tags = tagsOf(input);
      if (!tags) bad('Tags is required');
      await secrets.tag(call.identity, ref, tags);
      return {};
    },

    async UntagResource(call, input) {
      const ref = await resolve(call, input);
      const keys = strList(input, 'TagKeys');
      if (!keys) bad('TagKeys is required');
      await secrets.untag(call.identity, ref, keys);
      return {};
    },

    async GetRandomPassword(_call, input) {
      return {
        RandomPassword: generatePassword({
          length: int(input, 'PasswordLength'), excludeCharacters: str(input, 'ExcludeCharacters'), excludeNumbers: bool(input, 'ExcludeNumbers'),
          excludePunctuation: bool(input, 'ExcludePunctuation'), excludeUppercase: bool(input, 'ExcludeUppercase'),
          excludeLowercase: bool(input, 'ExcludeLowercase'), includeSpace: bool(input, 'IncludeSpace'),
          requireEachIncludedType: bool(input, 'RequireEachIncludedType'),
        }),
      };
    },

    async ReplicateSecretToRegions(call, input) {
      const ref = await resolve(call, input);
      const regions = replicaRegionsOf(input, 'AddReplicaRegions');
      if (!regions) bad('AddReplicaRegions is required');
      const result = await replication.replicate(call.identity, ref, regions, bool(input, 'ForceOverwriteReplicaSecret') ?? false);
      call.detail({ regions: regions.map((r) => r.region).join(',') });
      return { ARN: secrets.arnOf(result.arnRow), ReplicationStatus: replicationJson(result.statuses) };
    },

    async RemoveRegionsFromReplication(call, input) {
      const ref = await resolve(call, input);
      const regions = strList(input, 'RemoveReplicaRegions');
      if (!regions || regions.length === 0) bad('RemoveReplicaRegions is required');
      const result = await replication.removeRegions(call.identity, ref, regions);
      call.detail({ regions: regions.join(',') });
      return { ARN: secrets.arnOf(result.arnRow), ReplicationStatus: replicationJson(result.statuses) };
    },

    async StopReplicationToReplica(call, input) {
      const ref = await resolve(call, input);
      return { ARN: secrets.arnOf(await replication.promote(call.identity, ref)) };
    },

    // No resource policy is ever attached to a Custos secret: access is governed by Custos
    // policies. Reading one answers "none"; deleting one leaves none; writing one is refused.
    GetResourcePolicy: noResourcePolicy,
    DeleteResourcePolicy: noResourcePolicy,

    PutResourcePolicy: unsupported('resource policies are not supported: Custos governs access with its own policies (custos policy write)'),
    ValidateResourcePolicy: unsupported('resource policies are not supported: Custos governs access with its own policies (custos policy write)'),
    /**
     * Custos runs no Lambdas: the rotator is whatever `custos rotation set` configured
     * (RotationLambdaARN is not accepted). RotationRules set the schedule; RotateImmediately
     * (default true) starts a run whose token is the new PENDING version id.
     */
    async RotateSecret(call, input) {
      const ref = await resolve(call, input);
      if (ref.region !== undefined && ref.region !== secrets.defaultRegion) bad(`rotation runs in the server's region ${secrets.defaultRegion} only`);
      if (input.RotationLambdaARN !== undefined) throw new AppError('unsupported_operation', 'Custos does not run Lambda functions; configure a rotator with `custos rotation set NAME --rotator ...` and call RotateSecret without RotationLambdaARN');
      const status = await rotation.status(call.identity, ref.name);
      if (!status.settings) throw new AppError('rotation_not_configured', `secret "${ref.name}" has no rotator; configure one with \`custos rotation set ${ref.name} --rotator ...\``);
      const rules = input.RotationRules as Input | undefined;
      if (rules !== undefined && (typeof rules !== 'object' || rules === null || Array.isArray(rules))) bad('RotationRules must be an object');
      if (rules) {
        const { every_seconds: _every, cron: _cron, window: _window, aws_schedule_expression: _expression, ...rest } = status.settings;
        const schedule = scheduleFromRules({ AutomaticallyAfterDays: int(rules, 'AutomaticallyAfterDays'), ScheduleExpression: str(rules, 'ScheduleExpression'), Duration: str(rules, 'Duration') });
        await rotation.configure(call.identity, ref.name, { ...rest, ...schedule });
      }
      const described = await secrets.describe(call.identity, ref);
      if (bool(input, 'RotateImmediately') === false) return { ARN: described.arn, Name: described.name };
      const run = await rotation.rotateNow(call.identity, ref.name);
      call.target(ref.name, run.token);
      return { ARN: described.arn, Name: described.name, VersionId: run.token };
    },

    /** Turns automatic rotation off (the rotator stays configured); a run in flight finishes or rolls back. */
    async CancelRotateSecret(call, input) {
      const ref = await resolve(call, input);
      if (ref.region !== undefined && ref.region !== secrets.defaultRegion) bad(`rotation runs in the server's region ${secrets.defaultRegion} only`);
      const status = await rotation.status(call.identity, ref.name);
      if (!status.settings) throw new AppError('rotation_not_configured', `secret "${ref.name}" has no rotator, so there is no rotation to cancel`);
      if (status.settings.every_seconds !== undefined || status.settings.cron !== undefined) {
        const { every_seconds: _every, cron: _cron, window: _window, aws_schedule_expression: _expression, ...rest } = status.settings;
        await rotation.configure(call.identity, ref.name, rest);
      }
      const described = await secrets.describe(call.identity, ref);
      const running = status.latest && status.latest.status === 'running' ? status.latest.token : undefined;
      return { ARN: described.arn, Name: described.name, ...(running ? { VersionId: running } : {}) };
    },
  };
}

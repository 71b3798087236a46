import { AppError } from '../../../errors/app-error.js';
import type { SecretValue } from '../../../engines/secrets/secret-rules.js';
import type { ReplicaStatus, SecretRef } from '../../../engines/secrets/secrets-service.js';
import { inAwsTerms, reworded } from '../aws-errors.js';
import { bad, bool, replicaRegionsOf, str, strList, tagsOf, valueOf } from '../aws-input.js';
import type { AwsCall, OperationContext, Operations } from '../aws-operations.js';
import { labelToAws, labelToNative } from '../aws-protocol.js';
import { replicationJson } from '../aws-shapes.js';

/** A value as a held change request carries it (base64, sealed with the request). */
const heldValue = (value: SecretValue): { kind: 'string' | 'binary'; base64: string } =>
  value.kind === 'string' ? { kind: 'string', base64: Buffer.from(value.text, 'utf8').toString('base64') } : { kind: 'binary', base64: value.bytes.toString('base64') };

/**
 * Writing secrets and versions: CreateSecret (with replicas), PutSecretValue, UpdateSecret and
 * UpdateSecretVersionStage. A ClientRequestToken becomes the new version's id.
 */
export function writeOperations({ secrets, replication, resolve, holdIfNeeded }: OperationContext): Operations {
  /** AWS's words for a ClientRequestToken reused with another value; they name the secret's ARN when the caller may see it. */
  const tokenInUse = async (call: AwsCall, ref: SecretRef, token: string | undefined): Promise<string> => {
    const arn = await secrets.describe(call.identity, ref).then((d) => d.arn, () => ref.name);
    return `You can't use ClientRequestToken ${token ?? ''} because that value is already in use for a version of secret ${arn}.`;
  };
  return {
    async CreateSecret(call, input) {
      const name = str(input, 'Name', true);
      call.target(name);
      const value = valueOf(input);
      const replicas = replicaRegionsOf(input, 'AddReplicaRegions');
      const token = value ? str(input, 'ClientRequestToken') : undefined;
      const description = str(input, 'Description');
      const kmsKeyId = str(input, 'KmsKeyId');
      const tags = tagsOf(input);
      const overwriteReplicas = bool(input, 'ForceOverwriteReplicaSecret') ?? false;
      await holdIfNeeded(call, {
        kind: 'secret.create', name, region: call.region, description, kmsKeyId, tags, value: value ? heldValue(value) : undefined, versionId: token,
        ...(replicas?.length ? { replicas, overwriteReplicas } : {}),
      });
      const created = await secrets.create(call.identity, {
        name, region: call.region, description, kmsKeyId, tags, value, versionId: token,
      }).catch(async (error: unknown) => reworded(error, {
        secret_exists: `The operation failed because the secret ${name} already exists.`,
        secret_scheduled_for_deletion: "You can't create this secret because a secret with this name is already scheduled for deletion.",
        idempotency_conflict: await tokenInUse(call, { name, region: call.region }, token),
      }));
      call.target(name, created.versionId);
      let statuses: ReplicaStatus[] = [];
      if (replicas && replicas.length > 0) {
        statuses = (await replication.replicate(call.identity, { name, region: call.region }, replicas, overwriteReplicas)).statuses;
      }
      return {
        ARN: created.metadata.arn, Name: created.metadata.name, ...(created.versionId ? { VersionId: created.versionId } : {}),
        ...(statuses.length > 0 ? { ReplicationStatus: replicationJson(statuses) } : {}),
      };
    },

    async PutSecretValue(call, input) {
      const ref = await resolve(call, input);
      const value = valueOf(input);
      if (!value) throw new AppError('invalid_request', 'You must provide either SecretString or SecretBinary.');
      const stages = strList(input, 'VersionStages');
      const token = str(input, 'ClientRequestToken');
      await holdIfNeeded(call, { kind: 'secret.write', name: ref.name, region: ref.region, labels: stages?.map(labelToNative), versionId: token, value: heldValue(value) });
      const result = await secrets.putValue(call.identity, ref, { value, labels: stages?.map(labelToNative), versionId: token })
        .catch(async (error: unknown) => reworded(error, { idempotency_conflict: await tokenInUse(call, ref, token) }));
      call.target(ref.name, result.versionId);
      call.detail({ labels: result.labels.join(','), created: result.created });
      return { ARN: result.arn, Name: result.name, VersionId: result.versionId, VersionStages: result.labels.map(labelToAws) };
    },

    async UpdateSecret(call, input) {
      const ref = await resolve(call, input);
      const description = str(input, 'Description');
      const kmsKeyId = str(input, 'KmsKeyId');
      const value = valueOf(input);
      const token = value ? str(input, 'ClientRequestToken') : undefined;
      const withMetadata = description !== undefined || kmsKeyId !== undefined;
      // A value-only update is held as a version write; with metadata as one update (the value written first).
      if (value && !withMetadata) await holdIfNeeded(call, { kind: 'secret.write', name: ref.name, region: ref.region, versionId: token, value: heldValue(value) });
      if (withMetadata) {
        await holdIfNeeded(call, { kind: 'secret.update', name: ref.name, region: ref.region, metadata: { description, kmsKeyId }, value: value ? heldValue(value) : undefined, versionId: token });
      }
      let written: { arn: string; name: string; versionId: string } | null = null;
      if (value) {
        written = await secrets.putValue(call.identity, ref, { value, versionId: token })
          .catch(async (error: unknown) => reworded(error, { idempotency_conflict: await tokenInUse(call, ref, token) }));
        call.target(ref.name, written.versionId);
      }
      const meta = withMetadata ? await secrets.updateMetadata(call.identity, ref, { description, kmsKeyId }) : null;
      if (written) return { ARN: written.arn, Name: written.name, VersionId: written.versionId };
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
      await holdIfNeeded(call, { kind: 'secret.label', name: ref.name, region: ref.region, label: labelToNative(stage), moveToVersionId: moveTo, removeFromVersionId: removeFrom });
      const result = await secrets.moveLabel(call.identity, ref, { label: labelToNative(stage), moveToVersionId: moveTo, removeFromVersionId: removeFrom }).catch(inAwsTerms);
      return { ARN: result.arn, Name: result.name };
    },
  };
}

import type { ReplicaStatus, SecretMetadata, VersionInfo } from '../../engines/secrets/secrets-service.js';
import type { SecretValue } from '../../engines/secrets/secret-rules.js';
import { nextDueAt, type RotationSettings } from '../../engines/rotation/rotation-settings.js';
import { epochSeconds, labelToAws } from './aws-protocol.js';
import { rotationRulesOf } from './aws-schedule.js';

/** Response shapes shared by several operations: values, metadata, replication and rotation fields. */

export function valueFields(value: SecretValue): Record<string, string> {
  return value.kind === 'string' ? { SecretString: value.text } : { SecretBinary: value.bytes.toString('base64') };
}

export function replicationJson(statuses: ReplicaStatus[]) {
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

export function metadataJson(m: SecretMetadata, stagesByVersion: Record<string, string[]>, replication: ReplicaStatus[], field: 'VersionIdsToStages' | 'SecretVersionsToStages') {
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

export function stagesOf(versions: VersionInfo[]): Record<string, string[]> {
  return Object.fromEntries(versions.map((v) => [v.versionId, v.labels]));
}

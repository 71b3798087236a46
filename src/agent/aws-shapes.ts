/**
 * The AWS Secrets Manager answers the agent gives (GetSecretValue, BatchGetSecretValue,
 * DescribeSecret), built from the native API's answers it caches, and AWS-shaped errors.
 * Staging labels: CURRENT/PENDING/PREVIOUS are AWSCURRENT/AWSPENDING/AWSPREVIOUS, as on the server.
 */
import { CustosClientError, SecretNotFoundError, AccessDeniedError, TransientError } from '../sdk/client-errors.js';
import type { SecretMetadataResponse, SecretValueResponse } from '../sdk/api-client.js';

const TO_NATIVE: Record<string, string> = { AWSCURRENT: 'CURRENT', AWSPENDING: 'PENDING', AWSPREVIOUS: 'PREVIOUS' };
const TO_AWS: Record<string, string> = { CURRENT: 'AWSCURRENT', PENDING: 'AWSPENDING', PREVIOUS: 'AWSPREVIOUS' };
export const labelToNative = (label: string) => TO_NATIVE[label] ?? label;
export const labelToAws = (label: string) => TO_AWS[label] ?? label;
const seconds = (iso: string | null | undefined) => (iso ? Date.parse(iso) / 1000 : undefined);

/**
 * A SecretId as a name. A full ARN (`arn:…:secret:<name>-XXXXXX`) loses its six-character
 * suffix; names are what the agent caches and what the native API reads.
 */
export function nameOfSecretId(secretId: string): string {
  if (!secretId.startsWith('arn:')) return secretId;
  const at = secretId.indexOf(':secret:');
  if (at === -1) return secretId;
  const rest = secretId.slice(at + ':secret:'.length);
  return /-[A-Za-z0-9]{6}$/.test(rest) ? rest.slice(0, -7) : rest;
}

export function awsValue(v: SecretValueResponse): Record<string, unknown> {
  return {
    ARN: v.arn, Name: v.name, VersionId: v.version_id, VersionStages: v.labels.map(labelToAws), CreatedDate: seconds(v.created_at),
    ...(v.value !== undefined ? { SecretString: v.value } : { SecretBinary: v.value_base64 }),
  };
}

export function awsDescription(m: SecretMetadataResponse): Record<string, unknown> {
  const versions = Object.fromEntries((m.versions ?? []).map((v) => [v.version_id, v.labels.map(labelToAws)]));
  return {
    ARN: m.arn, Name: m.name, ...(m.description ? { Description: m.description } : {}),
    Tags: Object.entries(m.tags ?? {}).map(([Key, Value]) => ({ Key, Value })),
    CreatedDate: seconds(m.created_at), LastChangedDate: seconds(m.updated_at),
    ...(m.last_accessed_at ? { LastAccessedDate: seconds(m.last_accessed_at) } : {}),
    ...(m.deleted_at ? { DeletedDate: seconds(m.deleted_at) } : {}),
    ...(m.last_rotated_at ? { LastRotatedDate: seconds(m.last_rotated_at) } : {}),
    RotationEnabled: m.rotation !== null && m.rotation !== undefined,
    VersionIdsToStages: versions,
    ...(m.primary_region ? { PrimaryRegion: m.primary_region } : {}),
  };
}

/** An SDK failure as AWS reports it: status, `__type` and message. */
export function awsError(error: CustosClientError): { status: number; type: string; message: string } {
  if (error.code === 'secret_scheduled_for_deletion') return { status: 400, type: 'InvalidRequestException', message: error.message };
  if (error instanceof SecretNotFoundError) return { status: 400, type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." };
  if (error instanceof AccessDeniedError) return { status: 400, type: 'AccessDeniedException', message: error.message };
  if (error instanceof TransientError) return { status: 503, type: 'ServiceUnavailableException', message: error.message };
  if (error.code === 'validation_failed' || error.code === 'invalid_name') return { status: 400, type: 'ValidationException', message: error.message };
  return { status: 500, type: 'InternalServiceError', message: error.message };
}

import type { AppError } from '../../errors/app-error.js';

/**
 * The AWS JSON 1.1 wire protocol as Secrets Manager speaks it: error `__type`s and HTTP
 * statuses, staging-label names, epoch-second timestamps, and typed reads of request fields.
 */
export const AWS_JSON_CONTENT_TYPE = 'application/x-amz-json-1.1';
export const TARGET_PREFIX = 'secretsmanager.';

/** Custos error code -> the AWS error type and status an AWS client expects for it. */
const AWS_ERRORS: Record<string, { type: string; status: number }> = {
  secret_not_found: { type: 'ResourceNotFoundException', status: 400 },
  version_not_found: { type: 'ResourceNotFoundException', status: 400 },
  access_key_not_found: { type: 'ResourceNotFoundException', status: 400 },
  secret_exists: { type: 'ResourceExistsException', status: 400 },
  idempotency_conflict: { type: 'ResourceExistsException', status: 400 },
  secret_scheduled_for_deletion: { type: 'InvalidRequestException', status: 400 },
  secret_not_deleted: { type: 'InvalidRequestException', status: 400 },
  invalid_request: { type: 'InvalidRequestException', status: 400 },
  unsupported_operation: { type: 'InvalidRequestException', status: 400 },
  rotation_in_progress: { type: 'InvalidRequestException', status: 400 },
  rotation_not_configured: { type: 'InvalidRequestException', status: 400 },
  not_implemented: { type: 'InvalidRequestException', status: 400 },
  validation_failed: { type: 'InvalidParameterException', status: 400 },
  invalid_next_token: { type: 'InvalidNextTokenException', status: 400 },
  invalid_name: { type: 'InvalidParameterException', status: 400 },
  invalid_label: { type: 'InvalidParameterException', status: 400 },
  label_conflict: { type: 'InvalidParameterException', status: 400 },
  value_too_large: { type: 'InvalidParameterException', status: 400 },
  invalid_value: { type: 'InvalidParameterException', status: 400 },
  invalid_json: { type: 'SerializationException', status: 400 },
  payload_too_large: { type: 'InvalidParameterException', status: 400 },
  permission_denied: { type: 'AccessDeniedException', status: 400 },
  environment_denied: { type: 'AccessDeniedException', status: 400 },
  missing_signature: { type: 'MissingAuthenticationTokenException', status: 403 },
  incomplete_signature: { type: 'IncompleteSignature', status: 400 },
  unknown_access_key: { type: 'UnrecognizedClientException', status: 400 },
  access_key_expired: { type: 'ExpiredTokenException', status: 400 },
  invalid_signature: { type: 'InvalidSignatureException', status: 400 },
  signature_expired: { type: 'InvalidSignatureException', status: 400 },
  not_found: { type: 'UnknownOperationException', status: 400 },
  sealed: { type: 'ServiceUnavailableException', status: 503 },
  audit_unavailable: { type: 'InternalServiceError', status: 500 },
  storage_unavailable: { type: 'InternalServiceError', status: 500 },
};

export function awsErrorOf(error: AppError): { type: string; status: number } {
  return AWS_ERRORS[error.code] ?? { type: 'InternalServiceError', status: 500 };
}

const TO_NATIVE: Record<string, string> = { AWSCURRENT: 'CURRENT', AWSPENDING: 'PENDING', AWSPREVIOUS: 'PREVIOUS' };
const TO_AWS: Record<string, string> = { CURRENT: 'AWSCURRENT', PENDING: 'AWSPENDING', PREVIOUS: 'AWSPREVIOUS' };

/** AWSCURRENT/AWSPENDING/AWSPREVIOUS are Custos's CURRENT/PENDING/PREVIOUS; other labels pass through. */
export const labelToNative = (label: string): string => TO_NATIVE[label] ?? label;
export const labelToAws = (label: string): string => TO_AWS[label] ?? label;

/** AWS JSON timestamps are epoch seconds. */
export const epochSeconds = (ms: number): number => ms / 1000;
export const optionalEpoch = (ms: number | null | undefined): number | undefined => (ms === null || ms === undefined ? undefined : ms / 1000);

import { AppError, type ErrorCode } from '../../errors/app-error.js';
import { labelToAws } from './aws-protocol.js';

/**
 * How a Custos error reaches an AWS client: its `__type`, HTTP status and message.
 *
 * One table for every Custos error code (`Record<ErrorCode, …>`): adding a code to
 * errors/app-error.ts without deciding its AWS type here is a compile error. Every operation,
 * the route's error handler and BatchGetSecretValue's per-secret `Errors` read it.
 */
export interface AwsErrorShape {
  type: string;
  status: number;
}

const notFound = { type: 'ResourceNotFoundException', status: 400 };
const invalidParameter = { type: 'InvalidParameterException', status: 400 };
const invalidRequest = { type: 'InvalidRequestException', status: 400 };
const accessDenied = { type: 'AccessDeniedException', status: 400 };
const internal = { type: 'InternalServiceError', status: 500 };

export const AWS_ERRORS: Record<ErrorCode, AwsErrorShape> = {
  // Request shape and parameters
  invalid_request: invalidRequest,
  invalid_json: { type: 'SerializationException', status: 400 },
  validation_failed: invalidParameter,
  invalid_next_token: { type: 'InvalidNextTokenException', status: 400 },
  invalid_name: invalidParameter,
  invalid_label: invalidParameter,
  invalid_policy: internal,
  invalid_config: internal,
  value_too_large: invalidParameter,
  payload_too_large: invalidParameter,
  header_too_large: internal,
  // Identity (AWS requests authenticate with SigV4, so the token codes cannot arise on them)
  missing_token: internal,
  invalid_token: internal,
  token_expired: internal,
  token_revoked: internal,
  permission_denied: accessDenied,
  environment_denied: accessDenied,
  // Lookups
  not_found: { type: 'UnknownOperationException', status: 400 },
  secret_not_found: notFound,
  version_not_found: notFound,
  policy_not_found: internal,
  token_not_found: internal,
  access_key_not_found: notFound,
  // State conflicts
  secret_exists: { type: 'ResourceExistsException', status: 400 },
  idempotency_conflict: { type: 'ResourceExistsException', status: 400 },
  secret_scheduled_for_deletion: invalidRequest,
  secret_not_deleted: invalidRequest,
  label_conflict: invalidParameter,
  already_initialized: internal,
  not_initialized: internal,
  rotation_in_progress: invalidRequest,
  rotation_not_configured: invalidRequest,
  unsupported_operation: invalidRequest,
  not_implemented: invalidRequest,
  invalid_unseal_key: internal,
  // SigV4
  missing_signature: { type: 'MissingAuthenticationTokenException', status: 403 },
  incomplete_signature: { type: 'IncompleteSignature', status: 400 },
  unknown_access_key: { type: 'UnrecognizedClientException', status: 400 },
  invalid_signature: { type: 'InvalidSignatureException', status: 400 },
  signature_expired: { type: 'InvalidSignatureException', status: 400 },
  // Server state
  sealed: { type: 'ServiceUnavailableException', status: 503 },
  audit_unavailable: internal,
  storage_unavailable: internal,
  shutting_down: internal,
  internal_error: internal,
  // Offline CLI only
  snapshot_invalid: internal,
  snapshot_schema_mismatch: internal,
  storage_not_empty: internal,
};

export function awsErrorOf(error: AppError): AwsErrorShape {
  return AWS_ERRORS[error.code];
}

/**
 * The service words its errors for the native API (label CURRENT, remove_from_version_id); an
 * AWS client is told in AWS's terms (AWSCURRENT, RemoveFromVersionId), built from the error's
 * details. The error's code, and so its AWS type and status, is unchanged.
 */
export function inAwsTerms(error: unknown): never {
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

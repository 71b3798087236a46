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
// Resource policies: a malformed one (a public one is PublicPolicyException, see awsErrorOf).
const malformedPolicy = { type: 'MalformedPolicyDocumentException', status: 400 };
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
  invalid_policy: malformedPolicy,
  invalid_config: internal,
  value_too_large: invalidParameter,
  invalid_value: invalidParameter,
  payload_too_large: invalidParameter,
  header_too_large: internal,
  // Identity (AWS requests authenticate with SigV4, so the token codes cannot arise on them)
  missing_token: internal,
  invalid_token: internal,
  token_expired: internal,
  token_revoked: internal,
  permission_denied: accessDenied,
  environment_denied: accessDenied,
  source_not_allowed: accessDenied,
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
  replication_conflict: invalidRequest,
  resource_policy_changed: invalidRequest,
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
  access_key_expired: { type: 'ExpiredTokenException', status: 400 },
  // Server state
  sealed: { type: 'ServiceUnavailableException', status: 503 },
  audit_unavailable: internal,
  // Transient: SDKs retry a 503 by themselves
  storage_unavailable: { type: 'ServiceUnavailableException', status: 503 },
  storage_busy: { type: 'ServiceUnavailableException', status: 503 },
  storage_timeout: { type: 'ServiceUnavailableException', status: 503 },
  shutting_down: internal,
  internal_error: internal,
  // The audit chain is broken: nothing audited runs until an operator acknowledges it.
  audit_tampered: { type: 'ServiceUnavailableException', status: 503 },
  audit_not_broken: internal,
  // Transit has no Secrets Manager operation
  transit_key_not_found: internal,
  transit_key_exists: internal,
  transit_unsupported_operation: internal,
  transit_invalid_ciphertext: internal,
  transit_decryption_failed: internal,
  transit_version_not_allowed: internal,
  transit_context_required: internal,
  transit_key_rotation_required: internal,
  transit_batch_too_large: internal,
  transit_not_exportable: internal,
  transit_deletion_not_allowed: internal,
  // Logins, groups and response wrapping have no Secrets Manager operation
  auth_mount_not_found: internal, auth_mount_exists: internal, auth_method_unsupported: internal,
  auth_method_mismatch: internal, role_not_found: internal, invalid_credentials: internal,
  secret_id_expired: internal, secret_id_exhausted: internal, secret_id_revoked: internal,
  secret_id_not_found: internal, jwt_malformed: internal, jwt_algorithm_not_allowed: internal,
  jwt_unknown_key: internal, jwt_signature_invalid: internal, jwt_expired: internal,
  jwt_not_yet_valid: internal, jwt_issued_in_future: internal, jwt_issuer_mismatch: internal,
  jwt_audience_mismatch: internal, jwt_claim_mismatch: internal, jwks_unavailable: internal,
  account_locked: internal, group_not_found: internal, group_member_not_found: internal,
  wrapping_not_supported: internal, invalid_wrapping_token: internal, wrapping_token_expired: internal,
  wrapping_token_used: internal,
  // The scanner's fingerprint matching has no Secrets Manager operation
  scan_input_invalid: internal, scan_rate_limited: internal,
  // OIDC logins have no Secrets Manager operation
  oidc_state_invalid: internal, oidc_redirect_not_allowed: internal, oidc_exchange_failed: internal, oidc_nonce_mismatch: internal,
  // Alerts have no Secrets Manager operation
  alert_not_found: internal,
  // Change requests: a write that needs approval is refused as AccessDenied; the message names the request
  approval_required: accessDenied, approval_pending: accessDenied, break_glass_not_allowed: accessDenied,
  change_request_not_found: internal, change_request_closed: internal, change_request_expired: internal,
  self_approval_denied: internal, not_an_approver: internal,
  // Browser sessions have no Secrets Manager operation
  csrf_failed: internal,
  // Leases and dynamic database credentials have no Secrets Manager operation
  lease_not_found: internal, lease_expired: internal, lease_not_renewable: internal,
  lease_max_ttl_reached: internal, lease_revoked: internal, database_connection_not_found: internal,
  database_connection_exists: internal, database_role_not_found: internal, database_role_not_allowed: internal,
  database_connection_failed: internal, database_statement_failed: internal, invalid_template: internal,
  // The change feed and agent reports have no Secrets Manager operation
  too_many_subscribers: internal, agent_report_rate_limited: internal,
  // Offline CLI only
  snapshot_invalid: internal,
  snapshot_schema_mismatch: internal,
  storage_not_empty: internal,
};

/**
 * Messages AWS words the same whatever the operation. Secrets Manager's API reference names the
 * error types but not their messages; these are what AWS answers (as AWS emulators record them).
 */
const AWS_MESSAGES: Partial<Record<ErrorCode, string>> = {
  secret_not_found: "Secrets Manager can't find the specified secret.",
  secret_scheduled_for_deletion: "You can't perform this operation on the secret because it was marked for deletion.",
};

export const REPLICA_MESSAGE = "Operation not permitted on a replica secret. Call must be made in primary secret's region.";

/**
 * The AWS type, status and message for a Custos error. Beyond the table: a write refused because
 * the secret is a replica (details.primary_region), a resource policy that is malformed or public
 * (invalid_policy), and a type an operation chose itself (details.aws_type, e.g. ValidationException).
 */
export function awsErrorOf(error: AppError): AwsErrorShape & { message: string } {
  const details = error.details ?? {};
  if (typeof details.aws_type === 'string') return { type: details.aws_type, status: AWS_ERRORS[error.code].status, message: error.message };
  if (details.primary_region !== undefined) return { type: 'InvalidParameterException', status: 400, message: REPLICA_MESSAGE };
  if (error.code === 'invalid_policy') {
    return details.reason === 'public' ? { type: 'PublicPolicyException', status: 400, message: error.message } : { type: 'MalformedPolicyDocumentException', status: 400, message: error.message };
  }
  return { ...AWS_ERRORS[error.code], message: AWS_MESSAGES[error.code] ?? error.message };
}

/** An error with an AWS type of its own (ValidationException and the like) for input AWS refuses before any lookup. */
export function awsTypedError(type: string, message: string): AppError {
  return new AppError('validation_failed', message, { details: { aws_type: type } });
}

/** Re-words an error for one operation: `messages` maps a Custos code to AWS's wording there. */
export function reworded(error: unknown, messages: Partial<Record<ErrorCode, string>>): never {
  if (error instanceof AppError && messages[error.code] !== undefined) {
    // Final wording: awsErrorOf keeps this message and the table's type.
    throw new AppError(error.code, messages[error.code]!, { details: { ...error.details, aws_type: AWS_ERRORS[error.code].type } });
  }
  throw error;
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

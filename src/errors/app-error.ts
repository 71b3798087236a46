/**
 * One error type for the whole server. `code` is the stable, public, snake_case
 * identifier clients branch on; `message` is safe to show; `cause` is internal
 * (logged with the request id, never sent to the client).
 */
export const ERROR_STATUS = {
  // 400
  invalid_request: 400,
  invalid_json: 400,
  validation_failed: 400,
  invalid_next_token: 400,
  invalid_name: 400,
  invalid_label: 400,
  invalid_policy: 400,
  invalid_config: 400,
  value_too_large: 413,
  // secret values: a string value that is not well-formed Unicode (bytes belong in value_base64)
  invalid_value: 400,
  payload_too_large: 413,
  header_too_large: 431,
  // 401 / 403
  missing_token: 401,
  invalid_token: 401,
  token_expired: 401,
  token_revoked: 401,
  permission_denied: 403,
  environment_denied: 403,
  // 404
  not_found: 404,
  secret_not_found: 404,
  version_not_found: 404,
  policy_not_found: 404,
  token_not_found: 404,
  // 409
  secret_exists: 409,
  secret_scheduled_for_deletion: 409,
  secret_not_deleted: 409,
  replication_conflict: 409,
  resource_policy_changed: 409,
  idempotency_conflict: 409,
  label_conflict: 409,
  already_initialized: 409,
  not_initialized: 409,
  rotation_in_progress: 409,
  rotation_not_configured: 409,
  // 422
  invalid_unseal_key: 422,
  // 5xx
  sealed: 503,
  audit_unavailable: 503,
  shutting_down: 503,
  // PostgreSQL: unreachable (restarting), every connection busy past the wait bound, a statement past statement_timeout
  storage_unavailable: 503,
  storage_busy: 503,
  storage_timeout: 503,
  not_implemented: 501,
  internal_error: 500,
  // AWS-compatible API (SigV4 authentication, unsupported operations)
  missing_signature: 401,
  incomplete_signature: 400,
  unknown_access_key: 401,
  invalid_signature: 401,
  signature_expired: 401,
  access_key_not_found: 404,
  // AWS access keys: past their own or their creator's expiry
  access_key_expired: 401,
  unsupported_operation: 400,
  // auth methods (src/auth/): mounts, roles, logins; token CIDR binding; testing clock
  auth_mount_not_found: 404,
  auth_mount_exists: 409,
  auth_method_unsupported: 400,
  auth_method_mismatch: 400,
  role_not_found: 404,
  source_not_allowed: 403,
  invalid_credentials: 401,
  secret_id_expired: 401,
  secret_id_exhausted: 401,
  secret_id_revoked: 401,
  secret_id_not_found: 404,
  jwt_malformed: 401,
  jwt_algorithm_not_allowed: 401,
  jwt_unknown_key: 401,
  jwt_signature_invalid: 401,
  jwt_expired: 401,
  jwt_not_yet_valid: 401,
  jwt_issued_in_future: 401,
  jwt_issuer_mismatch: 401,
  jwt_audience_mismatch: 401,
  jwt_claim_mismatch: 403,
  jwks_unavailable: 503,
  account_locked: 429,
  // OIDC authorization-code login (auth/oidc)
  oidc_state_invalid: 400,
  oidc_redirect_not_allowed: 400,
  oidc_exchange_failed: 401,
  oidc_nonce_mismatch: 401,
  // browser sessions (http/ui-session): a cookie-authenticated write without its CSRF token
  csrf_failed: 403,
  // groups (auth/groups)
  group_not_found: 404,
  group_member_not_found: 404,
  // response wrapping (auth/wrapping)
  wrapping_not_supported: 400,
  invalid_wrapping_token: 401,
  wrapping_token_expired: 401,
  wrapping_token_used: 410,
  // snapshots and storage migration (offline CLI)
  snapshot_invalid: 422,
  snapshot_schema_mismatch: 409,
  storage_not_empty: 409,
  // transit engine (encryption as a service)
  transit_key_not_found: 404,
  transit_key_exists: 409,
  transit_unsupported_operation: 400,
  transit_invalid_ciphertext: 400,
  transit_decryption_failed: 400,
  transit_version_not_allowed: 400,
  transit_context_required: 400,
  transit_key_rotation_required: 409,
  transit_batch_too_large: 413,
  transit_not_exportable: 403,
  transit_deletion_not_allowed: 409,
  // audit chain tamper evidence (audit log: broken chain, acknowledgement)
  audit_tampered: 503,
  audit_not_broken: 409,
  // scan fingerprint matching (engines/fingerprints)
  scan_input_invalid: 400,
  scan_rate_limited: 429,
  // alert engine (alerts, acknowledgements, silences)
  alert_not_found: 404,
  // change requests (engines/approvals): writes that need approval, break-glass
  approval_required: 403,
  approval_pending: 403,
  break_glass_not_allowed: 403,
  change_request_not_found: 404,
  change_request_closed: 409,
  change_request_expired: 409,
  self_approval_denied: 403,
  not_an_approver: 403,
  // leases and the database engine (dynamic credentials)
  lease_not_found: 404,
  lease_expired: 409,
  lease_not_renewable: 409,
  lease_max_ttl_reached: 409,
  lease_revoked: 409,
  database_connection_not_found: 404,
  database_connection_exists: 409,
  database_role_not_found: 404,
  database_role_not_allowed: 403,
  database_connection_failed: 502,
  database_statement_failed: 502,
  invalid_template: 400,
  // the change feed and custos agent
  too_many_subscribers: 503,
  agent_report_rate_limited: 429,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class AppError extends Error {
  readonly code: ErrorCode;
  /** Extra public detail (field names, limits): never secret material. */
  readonly details?: Record<string, unknown>;
  /** Detail for the request's audit event only, never sent to the client (e.g. which rule denied). */
  readonly auditDetail?: Record<string, string>;
  /** A transient failure: when a retry may succeed (sent as Retry-After). */
  readonly retryAfterSeconds?: number;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown>; auditDetail?: Record<string, string>; retryAfterSeconds?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.details = options.details;
    this.auditDetail = options.auditDetail;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_STATUS, code);
}

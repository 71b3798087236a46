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
  storage_unavailable: 503,
  not_implemented: 501,
  internal_error: 500,
  // AWS-compatible API (SigV4 authentication, unsupported operations)
  missing_signature: 401,
  incomplete_signature: 400,
  unknown_access_key: 401,
  invalid_signature: 401,
  signature_expired: 401,
  access_key_not_found: 404,
  unsupported_operation: 400,
  // snapshots and storage migration (offline CLI)
  snapshot_invalid: 422,
  snapshot_schema_mismatch: 409,
  storage_not_empty: 409,
  // alert engine (alerts, acknowledgements, silences)
  alert_not_found: 404,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class AppError extends Error {
  readonly code: ErrorCode;
  /** Extra public detail (field names, limits): never secret material. */
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.details = options.details;
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

import { CustosApiError } from './api-client.js';

/**
 * The SDK's failures: one base class with a stable `code`, and subclasses by what a caller
 * should do about them (fix configuration, or wait and retry). `classifyError` maps any API
 * failure onto them.
 */
/** Base class: every SDK failure has a stable `code`. */
export class CustosClientError extends Error {
  override name = 'CustosClientError';
  constructor(
    readonly code: string,
    message: string,
    readonly options: { status?: number; requestId?: string | null; secret?: string; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }
  /** Whether retrying later can help. */
  get transient(): boolean {
    return false;
  }
}

/** Configuration error: the secret, version or label does not exist. Not retried. */
export class SecretNotFoundError extends CustosClientError {
  override name = 'SecretNotFoundError';
}

/** Configuration error: the token is missing, invalid, expired, or its policies/environment do not allow this. Not retried. */
export class AccessDeniedError extends CustosClientError {
  override name = 'AccessDeniedError';
}

/** The server is sealed, unreachable or failing (5xx, 429). Retried with backoff; may be served from the fallback. */
export class TransientError extends CustosClientError {
  override name = 'TransientError';
  override get transient(): boolean {
    return true;
  }
}

/** The outage lasted longer than `maxStaleMs` (or there was never a good value): nothing may be served. */
export class StaleLimitExceededError extends TransientError {
  override name = 'StaleLimitExceededError';
}

const NOT_FOUND = new Set(['secret_not_found', 'version_not_found', 'not_found', 'secret_scheduled_for_deletion']);
const DENIED = new Set(['permission_denied', 'environment_denied', 'missing_token', 'invalid_token', 'token_expired', 'token_revoked']);

/** Maps an API failure to the SDK's error classes. */
export function classifyError(error: unknown, secret?: string): CustosClientError {
  if (error instanceof CustosClientError) return error;
  if (error instanceof CustosApiError) {
    const opts = { status: error.status, requestId: error.requestId, secret, cause: error };
    if (NOT_FOUND.has(error.code)) return new SecretNotFoundError(error.code, error.message, opts);
    if (DENIED.has(error.code)) return new AccessDeniedError(error.code, error.message, opts);
    if (error.code === 'unreachable' || error.code === 'sealed' || error.status >= 500 || error.status === 429) return new TransientError(error.code, error.message, opts);
    return new CustosClientError(error.code, error.message, opts);
  }
  return new CustosClientError('client_error', (error as Error)?.message ?? String(error), { secret, cause: error });
}

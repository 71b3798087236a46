import type { FastifyRequest } from 'fastify';
import type { Identity } from '../auth/identity.types.js';

/** What a route tells the audit hook about the request it handled. Never a value. */
export interface AuditContext {
  operation: string;
  secretName: string | null;
  versionId: string | null;
  accessor: string | null;
  errorCode: string | null;
  detail?: Record<string, string | number | boolean | null>;
  /** The reply's status so far (for an event committed before the response is sent). */
  status: () => number;
  /** The event was already committed inside the request's write transaction. */
  recordedInTransaction?: boolean;
  /** Set when the response is being sent: later transactions (background work) append nothing. */
  closed?: boolean;
  /**
   * A request that read several secrets (batch read): one more event per secret, so the audit
   * log answers "who read X" for batch reads exactly as for single ones.
   */
  items?: AuditItem[];
}

/** One secret touched by a multi-secret request: becomes its own event under the request's id. */
export interface AuditItem {
  operation: string;
  secretName: string;
  versionId: string | null;
  /** Null when this item succeeded. */
  errorCode: string | null;
  status: number;
}

/** An error response in a route's own format: status, headers (content type included) and body. */
export interface RenderedError {
  status: number;
  headers: Record<string, string>;
  body: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    startedAt: bigint;
    audit: AuditContext;
    /**
     * The route's config and URL pattern, read once in onRequest: `request.routeOptions` builds a
     * new object of a dozen fields on every access, and the later hooks need only these two.
     */
    routeConfig: import('fastify').FastifyContextConfig | null;
    routeUrl: string | undefined;
    identity?: Identity;
    /** Gives a mutating request's identity the auditor that commits its event with its write. */
    withTransactionAudit(identity: Identity): Identity;
  }
  interface FastifyContextConfig {
    /** Operation name recorded in audit events. */
    operation?: string;
    /** Routes that still answer while sealed (health, init, unseal, status). */
    sealedOk?: boolean;
    /** Routes that need no token. */
    anonymous?: boolean;
    /** Health and the OpenAPI document are not audited (load balancers poll them constantly). */
    audited?: boolean;
    /** Prefix of the wildcard name in audit events when it is not a secret (transit keys: `transit:`). */
    auditResourcePrefix?: string;
    /**
     * Routes an operator needs while the audit chain is tampered (verify, acknowledge-break,
     * reading events, status): answered, with their events held until the acknowledgement.
     */
    tamperedOk?: boolean;
    /**
     * Renders an error raised after the handler (the audit append) in the route's own error
     * format; a compatible API whose clients expect another shape sets it. Default: the native body.
     */
    renderError?: (error: import('../errors/app-error.js').AppError, requestId: string) => RenderedError;
    /** The response carries a credential and may be answered wrapped (X-Custos-Wrap-TTL). */
    wrappable?: boolean;
  }
}

export function identityOf(request: FastifyRequest): Identity {
  if (!request.identity) throw new Error('route used identity without authentication');
  return request.identity;
}

/** Records the secret (and version) a request touched, for its audit event. */
export function auditTarget(request: FastifyRequest, secretName: string | null, versionId: string | null = null): void {
  request.audit.secretName = secretName;
  request.audit.versionId = versionId;
}

import { isUtf8 } from 'node:buffer';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import { Ajv } from 'ajv';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.js';
import { AppError, ERROR_STATUS, isAppError, isErrorCode } from '../errors/app-error.js';
import { newRequestId } from '../lib/ids.js';
import { cleanCallerTag } from '../lib/caller-tag.js';
import type { TransactionAuditor } from '../lib/audit-scope.js';
import type { Identity } from '../auth/identity.types.js';
import type { AuditEvent } from '../audit/audit-chain.js';
import type { IdentityService } from '../auth/tokens/identity-service.js';
import type { OperatorService } from '../services/operator-service.js';
import type { AuditItem } from './request-context.js';
import type { Metrics } from '../lib/metrics.js';
import { validationMessage } from './validation-message.js';
import type { WrappingService } from '../auth/wrapping/wrapping-service.js';
import { prepareWrap, WRAP_HEADER, wrapOnRoute } from './wrapping-hooks.js';

export interface HttpDeps {
  logger: Logger;
  bodyLimit: number;
  version: string;
  isSealed: () => boolean;
  auditLog: Pick<AuditLog, 'record' | 'appendWithin' | 'committed' | 'isTampered'>;
  /** Authenticates every request's token. */
  identity: IdentityService;
  /** Says whether the store was initialized (a sealed, uninitialized server answers `not_initialized`). */
  operator: Pick<OperatorService, 'status'>;
  /** Set with several nodes: recorded as `node` in every audit event's detail. */
  nodeId?: string;
  /** Response wrapping (X-Custos-Wrap-TTL on routes whose answer carries a credential). */
  wrapping?: WrappingService;
  /** Request metrics, observed in onResponse (GET /metrics is a plugin like any route group). */
  metrics?: Metrics;
  /** Every route group (native API, compatible APIs, engines, UI), registered by the composition root. */
  plugins: ((app: FastifyInstance) => void)[];
  /** The token of a browser session's cookie when no header carries one (CSRF-checked: http/ui-session.ts). */
  sessionToken?: (request: FastifyRequest) => string | undefined;
  /**
   * With `--workers`: null, or a promise for the changes this process announced reaching every
   * other worker. Each response waits for it, so the next request finds them on any worker.
   */
  beforeReply?: () => Promise<void> | null;
  /** With `--workers`: this worker's index, sent as `x-custos-worker` (which process answered). */
  workerIndex?: number;
}

export interface ErrorBody {
  error: { code: string; message: string; request_id: string; details?: Record<string, unknown> };
}

// Bodies are validated strictly (wrong types are errors); query strings are text, so they
// are coerced (`?limit=5`). Neither strips unknown fields: they are rejected.
const bodyAjv = new Ajv({ allErrors: false, coerceTypes: false, removeAdditional: false, useDefaults: false, strict: false });
const queryAjv = new Ajv({ allErrors: false, coerceTypes: 'array', removeAdditional: false, useDefaults: true, strict: false });

function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  // The auth scheme is case-insensitive (RFC 9110); some clients send `bearer`.
  if (header !== undefined && /^bearer /i.test(header)) return header.slice(7).trim();
  const custom = request.headers['x-custos-token'];
  return typeof custom === 'string' ? custom.trim() : undefined;
}

/** Maps any error to the public envelope; internal causes are logged with the request id only. */
export function toAppError(error: unknown): AppError {
  if (isAppError(error)) return error;
  const e = error as FastifyError & { validation?: unknown };
  if (e.validation) return new AppError('validation_failed', validationMessage(e.validation, e.message));
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('payload_too_large', 'the request body is too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError('invalid_request', 'unsupported content type; send application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError('invalid_json', 'the request body is empty');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new AppError('invalid_json', 'the request body is not valid JSON');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new AppError('invalid_request', 'the content length does not match the body');
  }
  if (e instanceof SyntaxError || e.code === 'FST_ERR_CTP_INVALID_JSON') return new AppError('invalid_json', 'the request body is not valid JSON');
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) return new AppError('invalid_request', 'the request is malformed');
  return new AppError('internal_error', 'an internal error occurred', { cause: error });
}

/** Records a failed request's code, and any detail meant only for the audit log, on its audit event. */
export function auditError(request: FastifyRequest, error: AppError): void {
  if (!request.audit) return;
  request.audit.errorCode = error.code;
  if (error.auditDetail) request.audit.detail = { ...request.audit.detail, ...error.auditDetail };
}

/** Retry-After for a transient failure (the database busy or restarting), nothing otherwise. */
export function retryAfterHeader(error: AppError): Record<string, string> {
  return error.retryAfterSeconds === undefined ? {} : { 'retry-after': String(error.retryAfterSeconds) };
}

export function errorBody(error: AppError, requestId: string): ErrorBody {
  return { error: { code: error.code, message: error.message, request_id: requestId, ...(error.details ? { details: error.details } : {}) } };
}

// Denials are told apart by code too: compatible APIs answer some of them with other statuses (AWS: 400 AccessDeniedException).
const deniedCode = (code: string | null) => code !== null && isErrorCode(code) && (ERROR_STATUS[code] === 401 || ERROR_STATUS[code] === 403);
const outcomeOf = (status: number, code: string | null = null) => (status < 400 ? 'success' : status === 401 || status === 403 || deniedCode(code) ? 'denied' : 'failure');

/** Header a client sets to name the workload it acts for (recorded as `detail.on_behalf_of`). */
export const ON_BEHALF_OF_HEADER = 'x-custos-on-behalf-of';

// Per-event record options, shared (the read path allocates nothing for them).
const HOLD_IF_TAMPERED = Object.freeze({ tamperedOk: true });
const REFUSE_IF_TAMPERED = Object.freeze({});

export async function createHttpServer(deps: HttpDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // No per-request log lines: the audit log records every request, and synchronous
    // logging on the hot path would cost more throughput than anything else.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => newRequestId(),
    // One shared logger: a per-request child logger costs more than it gives, since request
    // ids are added explicitly on the few lines we log.
    childLoggerFactory: (logger) => logger,
    requestIdHeader: false,
    bodyLimit: deps.bodyLimit,
    routerOptions: { maxParamLength: 2048 },
    // While draining we answer 503 ourselves (onRequest below): Fastify's own 503 has no
    // error code or request id and is not audited.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    http: { maxHeaderSize: 16 * 1024 },
    // A URL the router cannot decode (`/%zz`) never reaches a route or the error handler:
    // answer it in the documented envelope, with its request id, instead of Fastify's default.
    frameworkErrors: (error, request, reply) => {
      const appError = error.code === 'FST_ERR_BAD_URL' ? new AppError('invalid_request', 'the URL is malformed (invalid percent-encoding)') : toAppError(error);
      void (reply as FastifyReply).code(appError.status).header('x-request-id', request.id).send(errorBody(appError, request.id));
    },
    clientErrorHandler: (error, socket) => {
      // Raised by Node's parser before Fastify sees a request: oversize headers, garbage.
      if (!socket.writable) return socket.destroy();
      const tooLarge = (error as NodeJS.ErrnoException).code === 'HPE_HEADER_OVERFLOW';
      const requestId = newRequestId();
      const body = JSON.stringify({ error: { code: tooLarge ? 'header_too_large' : 'invalid_request', message: tooLarge ? 'request headers are too large' : 'malformed HTTP request', request_id: requestId } });
      socket.end(`HTTP/1.1 ${tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nx-request-id: ${requestId}\r\nConnection: close\r\n\r\n${body}`);
    },
  });

  // JSON bodies are read as bytes and checked to be UTF-8 before decoding: decoding would turn
  // invalid bytes into U+FFFD silently, and a string value would be stored altered.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    if (!isUtf8(body as Buffer)) return done(new AppError('invalid_value', 'the request body is not valid UTF-8'), undefined);
    parseJson(request, (body as Buffer).toString('utf8'), done);
  });

  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : queryAjv).compile(schema));

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Custos API', version: deps.version, description: 'Self-hosted secrets manager for data pipelines.' },
      components: { securitySchemes: { token: { type: 'http', scheme: 'bearer' } } },
      security: [{ token: [] }],
    },
  });

  app.decorateRequest('startedAt', 0n);
  app.decorateRequest('audit', null as never);
  app.decorateRequest('identity', undefined);
  app.decorateRequest('routeConfig', null);
  app.decorateRequest('routeUrl', undefined);

  const workerHeader = deps.workerIndex === undefined ? undefined : String(deps.workerIndex);
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });

  app.addHook('onRequest', async (request, reply) => {
    request.startedAt = process.hrtime.bigint();
    // Read once: Fastify builds a new routeOptions object on every access.
    const route = request.routeOptions;
    const config = route.config;
    request.routeConfig = config;
    request.routeUrl = route.url;
    request.audit = { operation: config.operation ?? 'http.unknown', secretName: null, versionId: null, accessor: null, errorCode: null, status: () => reply.statusCode };
    reply.header('x-request-id', request.id);
    if (workerHeader !== undefined) reply.header('x-custos-worker', workerHeader);
    // Secret routes name the secret in their wildcard: record it before authentication, so a
    // refused attempt (bad token, sealed, draining) still says which secret it was aimed at.
    const target = (request.params as Record<string, unknown> | undefined)?.['*'];
    if (typeof target === 'string' && target !== '') request.audit.secretName = (config.auditResourcePrefix ?? '') + target;
    // The workload a client (the agent) acts for: an annotation of the event, never a principal
    // and never read by authorization (lib/caller-tag.ts).
    const onBehalfOf = request.headers[ON_BEHALF_OF_HEADER];
    if (onBehalfOf !== undefined) {
      const tag = cleanCallerTag(onBehalfOf);
      if (tag !== null) request.audit.detail = { on_behalf_of: tag };
    }
    if (closing) throw new AppError('shutting_down', 'Custos is shutting down; retry shortly');
    if (!config.sealedOk && deps.isSealed()) {
      // A server nobody initialized yet is sealed too, but the step the user needs is init.
      const initialized = await deps.operator.status().then((s) => s.initialized, () => true);
      throw initialized ? new AppError('sealed', 'Custos is sealed') : new AppError('not_initialized', 'Custos is not initialized; run `custos operator init`');
    }
    // Fail closed before doing any work: the event could not be chained anyway.
    if (!config.tamperedOk && config.audited !== false && deps.auditLog.isTampered()) throw new AppError('audit_tampered', 'the audit log was tampered with; an operator must run `custos audit acknowledge-break`');
    if (!config.anonymous && route.url !== undefined) {
      const identity = await deps.identity.authenticate(bearerToken(request) ?? deps.sessionToken?.(request), (accessor) => {
        request.audit.accessor = accessor;
      }, request.ip);
      request.identity = request.withTransactionAudit(identity);
    }
    const wrapHeader = request.headers[WRAP_HEADER];
    if (wrapHeader !== undefined) prepareWrap(request, wrapHeader);
  });

  app.setErrorHandler((error, request, reply) => {
    const appError = toAppError(error);
    if (appError.code === 'internal_error') request.log.error({ err: appError.cause ?? error, reqId: request.id }, 'request failed');
    auditError(request, appError);
    reply.code(appError.status).headers(retryAfterHeader(appError)).send(errorBody(appError, request.id));
  });

  app.setNotFoundHandler((request, reply) => {
    if (request.audit) request.audit.errorCode = 'not_found';
    reply.code(404).send(errorBody(new AppError('not_found', `no route ${request.method} ${request.url.split('?')[0]}`), request.id));
  });

  // A POST whose body fields are all optional (password, token lookup/renew/revoke, init)
  // may come without a body; it means "all defaults", as the routes expect.
  // Added per route (onRoute) so requests without a body schema, like every read, skip it.
  app.addHook('onRoute', (route) => {
    const schema = route.schema?.body as { type?: string; required?: string[] } | undefined;
    if (schema?.type !== 'object' || schema.required?.length) return;
    const defaultBody = (request: FastifyRequest, _reply: FastifyReply, done: () => void) => {
      if (request.body === undefined) request.body = {};
      done();
    };
    route.preValidation = [...(Array.isArray(route.preValidation) ? route.preValidation : route.preValidation ? [route.preValidation] : []), defaultBody];
  });

  if (deps.wrapping) app.addHook('onRoute', wrapOnRoute(deps.wrapping));

  const eventOf = (request: FastifyRequest, status: number): AuditEvent => ({
    time: Date.now(), requestId: request.id, accessor: request.audit.accessor, source: request.ip, operation: request.audit.operation,
    secretName: request.audit.secretName, versionId: request.audit.versionId, outcome: outcomeOf(status, request.audit.errorCode),
    errorCode: request.audit.errorCode, status, latencyUs: Number(process.hrtime.bigint() - request.startedAt) / 1000,
    detail: deps.nodeId ? { ...request.audit.detail, node: deps.nodeId } : request.audit.detail,
  });

  const itemEventOf = (request: FastifyRequest, item: AuditItem): AuditEvent => ({
    ...eventOf(request, item.status), operation: item.operation, secretName: item.secretName, versionId: item.versionId,
    outcome: outcomeOf(item.status, item.errorCode), errorCode: item.errorCode, detail: itemDetail(request.audit.detail?.on_behalf_of),
  });
  const itemDetail = (onBehalfOf: unknown) => {
    const detail: Record<string, string | boolean> = { batch: true };
    if (deps.nodeId) detail.node = deps.nodeId;
    if (typeof onBehalfOf === 'string') detail.on_behalf_of = onBehalfOf;
    return detail;
  };

  // Fail closed for writes: a mutating request's identity carries an auditor, services pass
  // it to storage's transaction(), and the first transaction committed for the request
  // carries its event (see lib/audit-scope.ts), so no change is ever committed without its
  // event. Requests that commit nothing are recorded in onSend below.
  app.decorateRequest('withTransactionAudit', function withTransactionAudit(this: FastifyRequest, identity: Identity): Identity {
    const request = this;
    if (request.method === 'GET' || request.method === 'HEAD') return identity;
    let head: Awaited<ReturnType<AuditLog['appendWithin']>> | undefined;
    const auditor: TransactionAuditor = {
      async beforeCommit(tx) {
        if (request.audit.recordedInTransaction || request.audit.closed || deps.isSealed()) return;
        head = await deps.auditLog.appendWithin(tx as never, eventOf(request, request.audit.status()));
        request.audit.recordedInTransaction = true;
      },
      committed() {
        if (head) deps.auditLog.committed(head);
        head = undefined;
      },
      annotate(fields) {
        if (fields.operation !== undefined) request.audit.operation = fields.operation;
        if (fields.versionId !== undefined) request.audit.versionId = fields.versionId;
        if (fields.detail) request.audit.detail = { ...request.audit.detail, ...fields.detail };
      },
    };
    return { ...identity, audit: auditor };
  });

  if (deps.beforeReply) {
    const settled = deps.beforeReply;
    // Registered first, so it runs before the audit hook below: what the request changed reaches the other workers first.
    app.addHook('onSend', async (_request, _reply, payload) => {
      const pending = settled();
      if (pending) await pending;
      return payload;
    });
  }

  // Fail closed: the response leaves only after its audit event is durable.
  app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload) => {
    const config = request.routeConfig ?? request.routeOptions.config;
    if (config.audited === false || !request.audit) return payload;
    request.audit.closed = true;
    const status = reply.statusCode;
    // Committed with the write; only a failure after that commit still needs its own event.
    if (request.audit.recordedInTransaction && status < 400) return payload;
    try {
      const items = request.audit.items;
      const options = config.tamperedOk === true ? HOLD_IF_TAMPERED : REFUSE_IF_TAMPERED;
      if (items?.length) await Promise.all([deps.auditLog.record(eventOf(request, status), options), ...items.map((item) => deps.auditLog.record(itemEventOf(request, item), options))]);
      else await deps.auditLog.record(eventOf(request, status), options);
      return payload;
    } catch (error) {
      // Refused because the database is busy or gone, and its event failed for the same
      // reason: the refusal (no data in it) already says what to do, with its Retry-After.
      if (status === 503 && request.audit.errorCode?.startsWith('storage_')) return payload;
      const failure = toAppError(error);
      // A database busy or restarting is logged once where it is noticed, not once per request.
      if (failure.retryAfterSeconds === undefined) request.log.error({ err: failure.cause ?? error, reqId: request.id }, 'audit write failed; response withheld');
      const rendered = config.renderError?.(failure, request.id);
      if (rendered) {
        reply.code(rendered.status).headers(rendered.headers);
        return rendered.body;
      }
      reply.code(failure.status).headers(retryAfterHeader(failure)).header('content-type', 'application/json; charset=utf-8');
      return JSON.stringify(errorBody(failure, request.id));
    }
  });

  if (deps.metrics) {
    const instruments = deps.metrics;
    // Named so that profiles (bench/profile.ts) attribute its time to metrics; a callback, not
    // an async function, so each response does not allocate and settle a promise for it.
    const observeRequestMetrics = (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
      if (request.audit) {
        const outcome = outcomeOf(reply.statusCode, request.audit.errorCode);
        // routeUrl was set with audit, in onRequest.
        instruments.observeRequest(request.routeUrl, request.method, outcome, Number(process.hrtime.bigint() - request.startedAt) / 1e9, request.audit.errorCode);
        instruments.observeRead(request.audit.operation, request.audit.secretName, outcome);
        for (const item of request.audit.items ?? []) instruments.observeRead(item.operation, item.secretName, outcomeOf(item.status, item.errorCode));
      }
      done();
    };
    app.addHook('onResponse', observeRequestMetrics);
  }

  app.get('/v1/openapi.json', { schema: { hide: true }, config: { sealedOk: true, anonymous: true, audited: false } }, async () => app.swagger());
  for (const plugin of deps.plugins) plugin(app);
  return app;
}

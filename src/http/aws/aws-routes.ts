import { isUtf8 } from 'node:buffer';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../../errors/app-error.js';
import type { AwsCredentialsService } from '../../auth/aws-keys/aws-credentials-service.js';
import { auditError, retryAfterHeader, toAppError } from '../server.js';
import { auditTarget, type RenderedError } from '../request-context.js';
import { awsOperations, type AwsCall, type AwsServices } from './aws-operations.js';
import type { Identity } from '../../auth/identity.types.js';
import { readRawBody } from './aws-body.js';
import { AWS_JSON_CONTENT_TYPE, TARGET_PREFIX } from './aws-protocol.js';
import { awsErrorOf } from './aws-errors.js';
import { BREAK_GLASS_HEADER, breakGlassReasonOf } from '../routes/approvals.js';

export interface AwsRoutesDeps extends AwsServices {
  credentials: AwsCredentialsService;
}

/**
 * Operations that change nothing: like native GETs, they are audited when answered and need no
 * auditor riding along in a transaction (creating one per request is measurable on reads).
 */
const READ_ONLY_OPERATIONS = new Set([
  'GetSecretValue', 'BatchGetSecretValue', 'DescribeSecret', 'ListSecrets', 'ListSecretVersionIds', 'GetRandomPassword', 'GetResourcePolicy', 'ValidateResourcePolicy',
]);

/**
 * Sets an AWS response's status and headers and returns its body for the handler to return.
 * Fastify sends what a handler returns; a handler that returned `reply` itself (after
 * `reply.send`) would hand back a thenable, which Fastify settles by attaching end-of-stream
 * listeners to every response (about 3 µs per request in the CPU profile).
 */
function awsResponse(reply: import('fastify').FastifyReply, requestId: string, status: number, body: unknown): string {
  reply.code(status).header('content-type', AWS_JSON_CONTENT_TYPE).header('x-amzn-requestid', requestId);
  return JSON.stringify(body);
}

/**
 * An error as an AWS client expects it: `__type` and `message` in the body, the type in
 * `x-amzn-errortype`. Used by the error handler and, through the route's `renderError`, for a
 * failure after the handler (an audit event that could not be written).
 */
function awsErrorResponse(appError: AppError, requestId: string): RenderedError {
  const { type, status, message: awsMessage } = awsErrorOf(appError);
  const message = appError.code === 'internal_error' ? `An internal error occurred (request ${requestId})` : awsMessage;
  // A write held for approval: the request id also in a header and a body field, for scripts.
  const held = appError.code === 'approval_pending' ? (appError.details?.change_request as string | undefined) : undefined;
  return {
    status,
    headers: { 'content-type': AWS_JSON_CONTENT_TYPE, 'x-amzn-requestid': requestId, 'x-amzn-errortype': type, ...retryAfterHeader(appError), ...(held ? { [CHANGE_REQUEST_HEADER]: held } : {}) },
    body: JSON.stringify({ __type: type, message, Message: message, ...(held ? { ChangeRequestId: held } : {}) }),
  };
}

/**
 * The break-glass header of a write, honoured only when SigV4 signed it: a reason that skips
 * approval must come from the key's holder, not from anything between it and the server.
 */
function signedBreakGlassReason(request: FastifyRequest): string | undefined {
  const reason = breakGlassReasonOf(request);
  if (reason === undefined) return undefined;
  const authorization = request.headers.authorization;
  const query = new URLSearchParams((request.raw.url ?? '').split('?')[1] ?? '');
  const signed = (typeof authorization === 'string' ? /SignedHeaders=([^,\s]+)/.exec(authorization)?.[1] : undefined) ?? query.get('X-Amz-SignedHeaders') ?? '';
  if (!signed.split(';').includes(BREAK_GLASS_HEADER)) throw new AppError('validation_failed', `${BREAK_GLASS_HEADER} must be one of the headers SigV4 signs`);
  return reason;
}

/** Names the change request a held AWS write became (the error says so too). */
export const CHANGE_REQUEST_HEADER = 'x-custos-change-request';

/** An operation's view of its Fastify request: one object per call, its methods on the prototype. */
class RequestCall implements AwsCall {
  constructor(readonly identity: Identity, readonly region: string, private readonly request: FastifyRequest) {}

  target(secretName: string | null, versionId: string | null = null): void {
    auditTarget(this.request, secretName, versionId);
  }

  detail(detail: Record<string, string | number | boolean | null>): void {
    this.request.audit.detail = { ...this.request.audit.detail, ...detail };
  }

  item(secretName: string, versionId: string | null, errorCode: string | null, status: number): void {
    (this.request.audit.items ??= []).push({ operation: 'aws.GetSecretValue', secretName, versionId, errorCode, status });
  }
}

/**
 * The AWS Secrets Manager JSON 1.1 protocol on the server's own port: `POST /` with
 * `X-Amz-Target: secretsmanager.<Operation>`, SigV4-authenticated, answered in AWS's shapes.
 * Registered in its own encapsulated context so its error bodies are AWS's, not the native API's.
 */
export function awsRoutes(deps: AwsRoutesDeps) {
  const operations = awsOperations(deps);
  return (app: FastifyInstance): void => {
    void app.register(async (aws) => {
      // Kept raw: SigV4 signs the exact bytes; parsed only after the signature checks out.
      // The limit is the server's: this context sets none of its own (and request.routeOptions
      // would build a new object on every request to say so). Fastify fills in its default.
      const bodyLimit = aws.initialConfig.bodyLimit!;
      aws.addContentTypeParser(AWS_JSON_CONTENT_TYPE, (_request, payload, done) => readRawBody(payload, bodyLimit, done));

      aws.setErrorHandler((error, request, reply) => {
        const appError = toAppError(error);
        if (appError.code === 'internal_error') request.log.error({ err: appError.cause ?? error, reqId: request.id }, 'request failed');
        auditError(request, appError);
        const rendered = awsErrorResponse(appError, request.id);
        reply.code(rendered.status).headers(rendered.headers);
        return rendered.body;
      });

      aws.post('/', { schema: { hide: true }, config: { operation: 'aws.unknown', anonymous: true, renderError: awsErrorResponse } }, async (request: FastifyRequest, reply) => {
        const target = request.headers['x-amz-target'];
        const name = typeof target === 'string' && target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : '';
        const operation = Object.hasOwn(operations, name) ? operations[name] : undefined;
        request.audit.operation = operation ? `aws.${name}` : 'aws.unknown';
        if (request.body !== undefined && !Buffer.isBuffer(request.body)) throw new AppError('invalid_request', `send Content-Type: ${AWS_JSON_CONTENT_TYPE}`);
        const body = request.body ?? Buffer.alloc(0);
        const rawUrl = request.raw.url ?? '/';
        const q = rawUrl.indexOf('?');
        const { identity, region } = await deps.credentials.authenticate({
          method: request.method, path: q < 0 ? rawUrl : rawUrl.slice(0, q), query: q < 0 ? '' : rawUrl.slice(q + 1), headers: request.headers, body,
        });
        const breakGlassReason = READ_ONLY_OPERATIONS.has(name) ? undefined : signedBreakGlassReason(request);
        request.identity = READ_ONLY_OPERATIONS.has(name) ? identity : request.withTransactionAudit(breakGlassReason === undefined ? identity : { ...identity, breakGlassReason });
        request.audit.accessor = identity.accessor;
        if (!operation) throw new AppError('not_found', `Operation ${String(target ?? '').slice(0, 80)} is not supported.`);
        // Decoding would turn bytes that are not UTF-8 into U+FFFD, inside a SecretString too.
        if (!isUtf8(body)) throw new AppError('invalid_value', 'the request body is not valid UTF-8');
        let input: unknown;
        try {
          input = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
        } catch {
          throw new AppError('invalid_json', 'the request body is not valid JSON');
        }
        if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new AppError('invalid_json', 'the request body must be a JSON object');
        const output = await operation(new RequestCall(request.identity, region, request), input as Record<string, unknown>);
        return awsResponse(reply, request.id, 200, output);
      });
    });
  };
}

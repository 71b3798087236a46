import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { AppError } from '../errors/app-error.js';
import { parseDurationSeconds } from '../lib/duration.js';
import { MAX_WRAP_TTL_SECONDS, newWrapAccessor, type WrappingService } from '../auth/wrapping/wrapping-service.js';

export const WRAP_HEADER = 'x-custos-wrap-ttl';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set when the client asked for the response wrapped (and the route allows it). */
    wrap?: { ttlSeconds: number; accessor: string };
  }
}

/**
 * Called on every request that carries the wrap header: refuses it where the response holds no
 * credential, and names the wrapping accessor in the request's audit event before any write.
 */
export function prepareWrap(request: FastifyRequest, header: string | string[]): void {
  if (!request.routeOptions.config.wrappable) throw new AppError('wrapping_not_supported', 'this response carries no credential and cannot be wrapped');
  let ttlSeconds: number;
  try {
    ttlSeconds = parseDurationSeconds(Array.isArray(header) ? header[0] ?? '' : header);
  } catch (error) {
    throw new AppError('validation_failed', `${WRAP_HEADER}: ${(error as Error).message}`);
  }
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_WRAP_TTL_SECONDS) throw new AppError('validation_failed', `${WRAP_HEADER} must be from 1s to 24h`);
  request.wrap = { ttlSeconds, accessor: newWrapAccessor() };
  request.audit.detail = { ...request.audit.detail, wrapped: true, wrap_accessor: request.wrap.accessor, wrap_ttl: ttlSeconds };
}

/** Added only to wrappable routes (so other routes pay nothing): swaps a successful answer for its wrapping token. */
export function wrapOnRoute(wrapping: WrappingService) {
  const hook = async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    if (!request.wrap || reply.statusCode >= 300) return payload;
    const info = await wrapping.wrap(payload, {
      accessor: request.wrap.accessor, ttlSeconds: request.wrap.ttlSeconds, creationPath: `${request.method} ${request.routeOptions.url ?? ''}`,
      createdBy: request.identity?.accessor ?? null,
    });
    // The route's response schema describes the unwrapped shape: serialize the wrapper as is.
    reply.serializer(JSON.stringify);
    return { wrap_info: info };
  };
  return (route: RouteOptions) => {
    if (!route.config?.wrappable) return;
    const existing = route.preSerialization;
    route.preSerialization = [...(Array.isArray(existing) ? existing : existing ? [existing] : []), hook];
  };
}

/** POST /v1/sys/wrapping/unwrap: anonymous, the wrapping token in the body is the authority. */
export function wrappingRoutes(wrapping: WrappingService, auditorOf: (request: FastifyRequest) => Parameters<WrappingService['unwrap']>[1]) {
  return (app: FastifyInstance): void => {
    const Body = { type: 'object', required: ['token'], additionalProperties: false, properties: { token: { type: 'string', minLength: 1, maxLength: 128 } } };
    app.post('/v1/sys/wrapping/unwrap', { schema: { body: Body, tags: ['wrapping'] }, config: { operation: 'wrapping.unwrap', anonymous: true } }, async (request) =>
      wrapping.unwrap((request.body as { token: string }).token, auditorOf(request)));
  };
}

import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { AppError } from '../../errors/app-error.js';
import type { Clock } from '../../lib/clock.js';
import { parseDurationSeconds } from '../../lib/duration.js';
import { identityOf } from '../request-context.js';

/** Registered only with `testing_clock: true`: a root token moves the server's time forward. */
export function testingClockRoutes(clock: Clock) {
  return (app: FastifyInstance): void => {
    const Body = Type.Object({ advance: Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: '^\\d+[smhdw]?$' })]) }, { additionalProperties: false });
    app.post('/v1/sys/testing/clock', { schema: { body: Body, hide: true }, config: { operation: 'sys.testing.clock' } }, async (request) => {
      if (!identityOf(request).isRoot) throw new AppError('permission_denied', 'permission denied: only a root token may move the testing clock');
      const seconds = parseDurationSeconds((request.body as { advance: string | number }).advance);
      request.audit.detail = { advance_seconds: seconds };
      return { now: new Date(clock.advance(seconds * 1000)).toISOString() };
    });
  };
}

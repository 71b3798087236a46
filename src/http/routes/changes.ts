/**
 * GET /v1/changes: the change feed as server-sent events. Each event names a secret and a
 * version id, never a value, and only secrets the caller may list or read. `Last-Event-ID`
 * resumes after a reconnect; an id this node no longer knows gets a `reset` event (the
 * client revalidates everything it holds). The caller's token is re-checked whenever tokens,
 * policies or groups change and on every heartbeat, and the stream ends when it no longer
 * authenticates, so a revoked token stops learning names at once.
 */
import { PassThrough } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Identity } from '../../auth/identity.types.js';
import type { IdentityService } from '../../auth/tokens/identity-service.js';
import { SUBSCRIBER_RETRY_AFTER_SECONDS, type ChangeEvent, type ChangeFeed } from '../../engines/changes/change-feed.js';
import { isAppError } from '../../errors/app-error.js';
import { identityOf } from '../request-context.js';

const HEARTBEAT_MS = 15_000;

/** The credential the request was authenticated with (as the server's hook finds it), re-checked later. */
function tokenOf(request: FastifyRequest, sessionToken?: (request: FastifyRequest) => string | undefined): string | undefined {
  const header = request.headers.authorization;
  if (header !== undefined && /^bearer /i.test(header)) return header.slice(7).trim();
  const custom = request.headers['x-custos-token'];
  return typeof custom === 'string' ? custom.trim() : sessionToken?.(request);
}

function frame(event: ChangeEvent): string {
  const data = event.type === 'reset' ? { reason: event.reason } : { name: event.name, kind: event.kind, version_id: event.versionId };
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(data)}\n\n`;
}

export function changeRoutes(feed: ChangeFeed, identity: IdentityService, sessionToken?: (request: FastifyRequest) => string | undefined) {
  return (app: FastifyInstance): void => {
    const open = new Set<PassThrough>();
    // Streams never go idle, so the server's close would wait for them: end them first.
    app.addHook('preClose', async () => {
      for (const stream of open) stream.end();
    });

    app.get('/v1/changes', { schema: { tags: ['values'] }, config: { operation: 'changes.subscribe' } }, async (request, reply) => {
      let current: Identity = identityOf(request);
      const token = tokenOf(request, sessionToken);
      const lastEventId = request.headers['last-event-id'];
      const stream = new PassThrough();
      let ended = false;
      const write = (text: string) => {
        if (!ended) stream.write(text);
      };
      const end = (code?: string) => {
        if (ended) return;
        if (code) write(`event: error\ndata: ${JSON.stringify({ code })}\n\n`);
        ended = true;
        stream.end();
      };
      let checking = false;
      const recheck = () => {
        if (ended) return;
        if (checking) return;
        checking = true;
        identity.authenticate(token, undefined, request.ip).then(
          (fresh) => void (current = fresh),
          (error: unknown) => end(isAppError(error) ? error.code : 'invalid_token'),
        ).finally(() => (checking = false));
      };
      const subscription = await feed.open(() => current, typeof lastEventId === 'string' ? lastEventId : undefined, (event) => write(frame(event)), recheck).catch((error: unknown) => {
        // Full: the client retries after this long and resumes by Last-Event-ID, missing nothing.
        if (isAppError(error) && error.code === 'too_many_subscribers') reply.header('retry-after', String(SUBSCRIBER_RETRY_AFTER_SECONDS));
        throw error;
      });
      const heartbeat = setInterval(() => {
        write(': ping\n\n');
        recheck();
      }, HEARTBEAT_MS);
      heartbeat.unref();
      const cleanup = () => {
        ended = true;
        clearInterval(heartbeat);
        subscription.close();
        open.delete(stream);
      };
      stream.on('close', cleanup);
      stream.on('end', cleanup);
      request.raw.on('close', () => end());
      open.add(stream);
      // Reconnect quickly: a client that waits misses nothing (it resumes), but learns later.
      write('retry: 1000\n\n');
      for (const event of subscription.backlog) write(frame(event));
      write(`id: ${subscription.headId}\nevent: ready\ndata: {}\n\n`);
      subscription.start();
      reply.header('content-type', 'text/event-stream; charset=utf-8').header('cache-control', 'no-store').header('x-accel-buffering', 'no');
      return reply.send(stream);
    });
  };
}

/**
 * Client for the server's change feed (GET /v1/changes, server-sent events): names and
 * version ids of secret changes the token may list, never values. `followChanges` keeps one
 * subscription up for a long-running process (the agent): it reconnects with backoff and
 * resumes from the last event id, and tells the caller to revalidate everything when the
 * server answers `reset` (it no longer knows that id, or may have missed changes).
 * Node-only (node:http/https streaming); depends on nothing of the server.
 */
import http from 'node:http';
import https from 'node:https';
import { CustosApiError } from './api-client.js';

export interface ChangeFeedEvent {
  id: string | null;
  type: 'secret' | 'reset' | 'ready' | 'error';
  name?: string;
  kind?: 'written' | 'label_moved' | 'rotated' | 'deleted' | 'restored' | 'metadata';
  versionId?: string | null;
  reason?: string;
  code?: string;
}

export interface OpenChangeFeedOptions {
  address: string;
  token: string;
  lastEventId?: string;
  onEvent: (event: ChangeFeedEvent) => void;
  signal?: AbortSignal;
  /**
   * The server sends a heartbeat every 15 s: a connection silent for this long (default 45 s)
   * is dead (a partition leaves no reset behind) and the subscription fails.
   */
  idleTimeoutMs?: number;
}

/** Parses one SSE block (`field: value` lines) into an event; comments and unknown types give null. */
function parseBlock(block: string): ChangeFeedEvent | null {
  let id: string | null = null;
  let type = 'message';
  let data = '';
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') id = value;
    else if (field === 'event') type = value;
    else if (field === 'data') data += (data ? '\n' : '') + value;
  }
  if (type !== 'secret' && type !== 'reset' && type !== 'ready' && type !== 'error') return null;
  let body: Record<string, unknown> = {};
  try {
    body = data ? (JSON.parse(data) as Record<string, unknown>) : {};
  } catch {
    return null;
  }
  return {
    id, type,
    ...(typeof body.name === 'string' ? { name: body.name } : {}),
    ...(typeof body.kind === 'string' ? { kind: body.kind as ChangeFeedEvent['kind'] } : {}),
    ...(body.version_id !== undefined ? { versionId: (body.version_id as string | null) ?? null } : {}),
    ...(typeof body.reason === 'string' ? { reason: body.reason } : {}),
    ...(typeof body.code === 'string' ? { code: body.code } : {}),
  };
}

/**
 * One subscription: resolves when the server ends the stream, rejects when it cannot be
 * opened (CustosApiError with the server's code, or `unreachable`) or breaks.
 */
export function openChangeFeed(options: OpenChangeFeedOptions): Promise<void> {
  const url = new URL(options.address.replace(/\/+$/, '') + '/v1/changes');
  const transport = url.protocol === 'https:' ? https : http;
  const headers: Record<string, string> = { authorization: `Bearer ${options.token}`, accept: 'text/event-stream' };
  if (options.lastEventId) headers['last-event-id'] = options.lastEventId;
  return new Promise((resolve, reject) => {
    const request = transport.request(url, { method: 'GET', headers, signal: options.signal }, (response) => {
      response.setEncoding('utf8');
      if (response.statusCode !== 200) {
        let text = '';
        response.on('data', (c: string) => (text += c));
        response.on('end', () => {
          let code = 'http_error';
          let message = `HTTP ${response.statusCode}`;
          try {
            const error = (JSON.parse(text) as { error?: { code: string; message: string } }).error;
            if (error) ({ code, message } = error);
          } catch {
            // not our envelope
          }
          reject(new CustosApiError(code, message, response.statusCode ?? 0, null));
        });
        return;
      }
      let buffer = '';
      response.on('data', (chunk: string) => {
        buffer += chunk.replace(/\r\n?/g, '\n');
        let end: number;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const event = parseBlock(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (event) options.onEvent(event);
        }
      });
      response.on('end', () => resolve());
      response.on('error', (cause) => reject(Object.assign(new CustosApiError('unreachable', `the change feed broke: ${cause.message}`, 0, null), { cause })));
      response.on('aborted', () => reject(new CustosApiError('unreachable', 'the change feed connection was cut', 0, null)));
    });
    request.setTimeout(options.idleTimeoutMs ?? 45_000, () => request.destroy(new Error('the change feed was silent for too long')));
    request.on('error', (cause) => reject(Object.assign(new CustosApiError('unreachable', `cannot reach Custos at ${url.origin}: ${cause.message}`, 0, null), { cause })));
    request.end();
  });
}

export interface FollowChangesOptions {
  address: string;
  /** Read on every (re)connect, so a renewed or new token is used. */
  token: () => string | undefined;
  onEvent: (event: ChangeFeedEvent) => void;
  /** Resume after this event id (from an earlier subscription). */
  lastEventId?: string;
  /** Connected (after `ready`) or lost; `error` says why it was lost. */
  onState?: (connected: boolean, error?: unknown) => void;
  /** First reconnect delay (default 250 ms), doubling up to `maxDelayMs` (default 5 s). */
  delayMs?: number;
  maxDelayMs?: number;
}

/**
 * Follows the feed until `stop()`. After a reconnect it resumes from the last event id it
 * saw; events carry names only, so the caller's reaction to a `reset` is to revalidate all.
 */
export function followChanges(options: FollowChangesOptions): { stop(): void; lastEventId(): string | undefined; connected(): boolean } {
  const controller = new AbortController();
  let lastEventId: string | undefined = options.lastEventId;
  let connected = false;
  let stopped = false;
  const base = options.delayMs ?? 250;
  let delay = base;
  let timer: NodeJS.Timeout | undefined;

  // Reported on transitions only: a server that stays down is one "lost", not one per retry.
  const setConnected = (value: boolean, error?: unknown) => {
    if (connected === value) return;
    connected = value;
    options.onState?.(value, error);
  };

  async function loop(): Promise<void> {
    while (!stopped) {
      const token = options.token();
      let failure: unknown;
      if (token) {
        try {
          await openChangeFeed({
            address: options.address, token, lastEventId, signal: controller.signal,
            onEvent: (event) => {
              if (event.id) lastEventId = event.id;
              if (event.type === 'ready') {
                delay = base;
                setConnected(true);
              }
              options.onEvent(event);
            },
          });
          failure = new CustosApiError('unreachable', 'the change feed ended', 0, null);
        } catch (error) {
          failure = error;
        }
      } else {
        failure = new CustosApiError('missing_token', 'no token to subscribe with yet', 401, null);
      }
      if (stopped) break;
      setConnected(false, failure);
      await new Promise<void>((resolve) => {
        timer = setTimeout(resolve, delay);
        timer.unref();
      });
      delay = Math.min(delay * 2, options.maxDelayMs ?? 5000);
    }
  }
  void loop();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      controller.abort();
    },
    lastEventId: () => lastEventId,
    connected: () => connected,
  };
}

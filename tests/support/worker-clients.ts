import http from 'node:http';
import type { RunningServer } from './custos-server.js';

/**
 * Requests to a chosen worker of `custos server --workers N`. The cluster hands each new
 * connection to the next worker, and a keep-alive connection stays with its worker, so a
 * client holding one connection talks to one worker; `x-custos-worker` says which.
 */
export interface WorkerClient {
  readonly worker: string;
  request(method: string, path: string, options?: { token?: string; body?: unknown }): Promise<WorkerResponse>;
  close(): void;
}

export interface WorkerResponse {
  status: number;
  body: any;
  worker: string | undefined;
}

function send(agent: http.Agent | false, server: Pick<RunningServer, 'port'>, method: string, path: string, options: { token?: string; body?: unknown } = {}): Promise<WorkerResponse> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (payload !== undefined) headers['content-type'] = 'application/json';
  if (agent === false) headers.connection = 'close';
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, method, path, headers, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let body: any = text;
        try {
          body = text ? JSON.parse(text) : null;
        } catch {
          // not JSON (metrics text)
        }
        resolve({ status: res.statusCode ?? 0, body, worker: res.headers['x-custos-worker'] as string | undefined });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** A request on a connection of its own (whichever worker the cluster picks). */
export const freshRequest = (server: Pick<RunningServer, 'port'>, method: string, path: string, options?: { token?: string; body?: unknown }) =>
  send(false, server, method, path, options);

/** One client pinned to each of `count` workers (opens connections until every worker answered one). */
export async function pinWorkers(server: Pick<RunningServer, 'port'>, count: number, attempts = 64): Promise<Map<string, WorkerClient>> {
  const clients = new Map<string, WorkerClient>();
  for (let i = 0; i < attempts && clients.size < count; i++) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const probe = await send(agent, server, 'GET', '/v1/health');
    const worker = probe.worker;
    if (worker === undefined || clients.has(worker)) {
      agent.destroy();
      continue;
    }
    clients.set(worker, {
      worker,
      request: async (method, path, options) => {
        const response = await send(agent, server, method, path, options);
        if (response.worker !== worker) throw new Error(`pinned to worker ${worker}, answered by ${response.worker}`);
        return response;
      },
      close: () => agent.destroy(),
    });
  }
  if (clients.size < count) throw new Error(`only workers ${[...clients.keys()].join(', ')} answered in ${attempts} connections`);
  return clients;
}

/**
 * Opens GET /v1/changes (server-sent events) on a connection that landed on `worker`;
 * `text()` is what arrived so far.
 */
export async function changeFeedOn(server: Pick<RunningServer, 'port'>, worker: string, token: string, attempts = 64): Promise<{ text(): string; close(): void }> {
  for (let i = 0; i < attempts; i++) {
    const opened = await new Promise<{ req: http.ClientRequest; res: http.IncomingMessage }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: server.port, method: 'GET', path: '/v1/changes', agent: false, headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } }, (res) => resolve({ req, res }));
      req.on('error', reject);
      req.end();
    });
    if (opened.res.headers['x-custos-worker'] !== worker || opened.res.statusCode !== 200) {
      opened.req.destroy();
      continue;
    }
    let text = '';
    opened.res.setEncoding('utf8');
    opened.res.on('data', (c: string) => (text += c));
    opened.res.on('error', () => undefined);
    return { text: () => text, close: () => opened.req.destroy() };
  }
  throw new Error(`no change feed connection landed on worker ${worker}`);
}

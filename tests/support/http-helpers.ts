import http from 'node:http';
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { api, type RunningServer } from './custos-server.js';

/**
 * Helpers shared by the integration tests: raw HTTP (for paths fetch would normalize and
 * headers fetch would refuse), error-envelope checks and small generators.
 */

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  body: any;
}

/** One HTTP/1.1 request with the path sent exactly as given (no `..` normalization). */
export function rawRequest(server: Pick<RunningServer, 'port'>, method: string, rawPath: string, options: { headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, method, path: rawPath, headers: { connection: 'close', ...options.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: any = text;
        try {
          body = text ? JSON.parse(text) : null;
        } catch {
          // keep text
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body });
      });
      res.on('error', reject);
    });
    // A server may answer (413, 431) before the whole body is sent and close the socket.
    req.on('error', reject);
    if (options.body !== undefined) req.end(options.body);
    else req.end();
  });
}

/** Asserts the public error envelope: code, message and a request id matching the header. */
export function assertErrorBody(response: { status: number; body: any; headers: Headers | http.IncomingHttpHeaders }, status: number, code: string, context = ''): void {
  const where = `${context} (got ${response.status} ${JSON.stringify(response.body)?.slice(0, 300)})`;
  assert.equal(response.status, status, `status ${where}`);
  assert.equal(typeof response.body, 'object', `JSON body ${where}`);
  assert.equal(response.body?.error?.code, code, `code ${where}`);
  assert.equal(typeof response.body.error.message, 'string', `message ${where}`);
  assert.ok(response.body.error.message.length > 0, `non-empty message ${where}`);
  assert.match(response.body.error.request_id, /^req_/, `request id ${where}`);
  const header = response.headers instanceof Headers ? response.headers.get('x-request-id') : response.headers['x-request-id'];
  assert.equal(header, response.body.error.request_id, `x-request-id header matches the body ${where}`);
}

export const uniqueName = (prefix = 'dev/test') => `${prefix}/${randomBytes(6).toString('hex')}`;
export const idempotencyToken = () => randomBytes(24).toString('base64url');

/** Creates a secret with a first value through the API and returns its first version id. */
export async function createSecret(server: RunningServer, name: string, value: string, token = server.token): Promise<string> {
  const r = await api(server, 'POST', '/v1/secrets', { token, body: { name, value } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.version_id as string;
}

export async function putValue(server: RunningServer, name: string, body: Record<string, unknown>, token = server.token) {
  return api(server, 'POST', `/v1/values/${name}`, { token, body });
}

export async function describeSecret(server: RunningServer, name: string, token = server.token) {
  const r = await api(server, 'GET', `/v1/secrets/${name}`, { token });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as { versions: { version_id: string; labels: string[]; created_at: string }[]; [k: string]: any };
}

/** The newest audit sequence number (the query itself appends one more event after it). */
export async function auditHead(server: RunningServer, token = server.token): Promise<number> {
  const r = await api(server, 'GET', '/v1/audit/events?order=desc&limit=1', { token });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.events[0]?.seq ?? 0;
}

export async function auditAfter(server: RunningServer, afterSeq: number, token = server.token): Promise<any[]> {
  const r = await api(server, 'GET', `/v1/audit/events?after_seq=${afterSeq}&limit=10000`, { token });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.events;
}

/** Writes a policy through the API. */
export async function writePolicy(server: RunningServer, name: string, document: string, token = server.token): Promise<void> {
  const r = await api(server, 'PUT', `/v1/policies/${name}`, { token, body: { document } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
}

/** Creates a child token of `parent` (root by default) and returns the token and accessor. */
export async function createToken(server: RunningServer, body: Record<string, unknown>, parent = server.token): Promise<{ token: string; accessor: string; body: any }> {
  const r = await api(server, 'POST', '/v1/tokens', { token: parent, body });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return { token: r.body.token, accessor: r.body.accessor, body: r.body };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `check` is true; fails with `what` after `ms` (a bound, not a timing assertion). */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

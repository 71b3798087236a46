import http from 'node:http';
import type https from 'node:https';

/**
 * A minimal `fetch` over node:http/https for short-lived processes (`custos run`,
 * `custos render`). Node's global fetch loads and initializes undici on first use, which
 * costs ~100 ms of start-up on a small machine; node:http is already part of the runtime.
 * It implements what createApiClient uses: method, headers, string body, signal; and on the
 * response ok, status, headers.get() and text(). Pass it as `fetch` to createApiClient or
 * CustosClient.
 */
// No keep-alive: a short-lived process must not wait for idle sockets before it can exit.
const httpAgent = new http.Agent({ keepAlive: false });
let httpsModule: Promise<{ module: typeof https; agent: https.Agent }> | undefined;

export const httpFetch = (async (input: string | URL, init: RequestInit = {}): Promise<Response> => {
  const url = typeof input === 'string' ? new URL(input) : input;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`unsupported protocol ${url.protocol}`);
  // node:https (and tls) load only for https addresses: they cost several ms of start-up.
  const secure = url.protocol === 'https:' ? await (httpsModule ??= import('node:https').then((m) => ({ module: m.default, agent: new m.default.Agent({ keepAlive: false }) }))) : undefined;
  const transport = secure?.module ?? http;
  const agent = secure?.agent ?? httpAgent;
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...(init.headers as Record<string, string> | undefined) };
    const body = typeof init.body === 'string' ? Buffer.from(init.body) : undefined;
    if (body) headers['content-length'] = String(body.length);
    const request = transport.request(url, { method: init.method ?? 'GET', headers, agent, signal: init.signal ?? undefined }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (c: Buffer) => chunks.push(c));
      response.on('error', reject);
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = response.statusCode ?? 0;
        resolve({
          ok: status >= 200 && status < 300,
          status,
          headers: { get: (name: string) => { const v = response.headers[name.toLowerCase()]; return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v; } },
          text: async () => text,
          json: async () => JSON.parse(text) as unknown,
        } as unknown as Response);
      });
    });
    request.on('error', reject);
    request.end(body);
  });
}) as typeof fetch;

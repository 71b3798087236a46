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
let deferredCaFile: string | undefined;

/**
 * The `custos` launcher (bin/custos) starts `run` and `render` without NODE_EXTRA_CA_CERTS,
 * so Node does not build a CA store at start-up for a process that usually speaks plain HTTP.
 * Given that bundle here, TLS connections trust it exactly as Node would have: Node's own
 * root certificates plus the bundle's. It is read on the first https request only.
 */
export function deferExtraCaCerts(file: string): void {
  deferredCaFile = file;
}

async function loadHttps(): Promise<{ module: typeof https; agent: https.Agent }> {
  const [{ default: module }, tls, fs] = await Promise.all([import('node:https'), import('node:tls'), import('node:fs')]);
  let ca: string[] | undefined;
  if (deferredCaFile !== undefined) {
    try {
      ca = [...tls.rootCertificates, fs.readFileSync(deferredCaFile, 'utf8')];
    } catch (error) {
      // Node itself only warns when NODE_EXTRA_CA_CERTS cannot be read; do the same.
      process.emitWarning(`Ignoring extra certs from \`${deferredCaFile}\`, load failed: ${(error as Error).message}`);
    }
  }
  return { module, agent: new module.Agent({ keepAlive: false, ...(ca ? { ca } : {}) }) };
}

export const httpFetch = (async (input: string | URL, init: RequestInit = {}): Promise<Response> => {
  const url = typeof input === 'string' ? new URL(input) : input;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`unsupported protocol ${url.protocol}`);
  // node:https (and tls) load only for https addresses: they cost several ms of start-up.
  const secure = url.protocol === 'https:' ? await (httpsModule ??= loadHttps()) : undefined;
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

/**
 * What the agent serves to local callers, over loopback TCP and/or a unix socket (0600):
 *  - native reads: GET /v1/values/<name>[?label=|version_id=], POST /v1/batch/values;
 *  - AWS Secrets Manager (JSON 1.1, `X-Amz-Target`): GetSecretValue, BatchGetSecretValue
 *    (SecretIdList), DescribeSecret;
 *  - GET /agent/health (no credential; says nothing about secrets).
 * Every other request needs the per-node agent token: `Authorization: Bearer <token>` (or
 * `X-Custos-Agent-Token`), or, for AWS-shaped calls, as the access key id of a SigV4
 * `Authorization` header (its signature is not checked: the key id is the credential).
 * Answers served from a value the server could not confirm carry `X-Custos-Stale: <seconds>`.
 * A caller may name itself in `X-Custos-Caller` (a pod, a uid, a job), or, through an AWS SDK,
 * with its application id (`AWS_SDK_UA_APP_ID`, sent as `app/<id>` in the User-Agent): a read the agent makes
 * upstream for it carries that name to the server's audit event (`on_behalf_of`), beside the
 * agent's own identity as principal. It is an annotation only: it never changes what is served.
 */
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { cleanCallerTag } from '../lib/caller-tag.js';
import { classifyError, CustosClientError } from '../sdk/client-errors.js';
import type { ApiClient, SecretMetadataResponse, SecretValueResponse } from '../sdk/api-client.js';
import { awsDescription, awsError, awsValue, labelToNative, nameOfSecretId } from './aws-shapes.js';
import { cacheKey, type SecretCache, type Served } from './secret-cache.js';

export const STALE_HEADER = 'x-custos-stale';
const BODY_LIMIT = 1024 * 1024;
const AWS_JSON = 'application/x-amz-json-1.1';
const NO_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>;
const EMPTY_QUERY = new URLSearchParams();

export interface LocalServerDeps {
  cache: SecretCache;
  client: () => ApiClient;
  agentToken: string;
  /** Whether the change feed is live (health only). */
  live: () => boolean;
  /** Why the agent's last authentication upstream failed, or null (health only). */
  authError?: () => string | null;
}

export const CALLER_HEADER = 'x-custos-caller';
// AWS SDKs put the application id (AWS_SDK_UA_APP_ID, e.g. the pod name) in the User-Agent as `app/<id>`.
const UA_APP_ID = /(?:^|\s)app\/(\S+)/;
/**
 * The caller's tag, read only when the agent goes upstream for it (never on a cache hit):
 * `X-Custos-Caller`, else the AWS SDK application id, so boto3 jobs name themselves with an
 * environment variable and no code change.
 */
const callerOf = (req: http.IncomingMessage) => {
  const header = req.headers[CALLER_HEADER];
  if (header !== undefined) return cleanCallerTag(header) ?? undefined;
  const appId = UA_APP_ID.exec(req.headers['user-agent'] ?? '')?.[1];
  return appId === undefined ? undefined : cleanCallerTag(appId) ?? undefined;
};

/** The agent's counters in Prometheus text format (no names: no label ever carries a secret name). */
function prometheusText(stats: ReturnType<SecretCache['stats']>, live: boolean): string {
  const lines: string[] = [];
  const metric = (name: string, type: 'counter' | 'gauge', help: string, value: number) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
  metric('custos_agent_cache_hits_total', 'counter', 'reads answered from the cache without asking the server', stats.hits);
  metric('custos_agent_cache_misses_total', 'counter', 'reads that needed the server (or waited for a read already on its way)', stats.misses);
  metric('custos_agent_upstream_requests_total', 'counter', 'requests made to the server', stats.upstream);
  metric('custos_agent_stale_answers_total', 'counter', 'answers served from a value the server could not confirm', stats.stale);
  metric('custos_agent_stale_seconds', 'gauge', 'age of the last stale answer (0 once the server answers again)', stats.lastStaleSeconds);
  metric('custos_agent_cache_entries', 'gauge', 'entries in the cache', stats.entries);
  metric('custos_agent_feed_live', 'gauge', '1 while the change feed is connected', live ? 1 : 0);
  return lines.join('\n') + '\n';
}

class LocalError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly awsType: string) {
    super(message);
  }
}


export function createLocalHandler(deps: LocalServerDeps): http.RequestListener {
  const expected = Buffer.from(deps.agentToken);
  // Constant time for a presented token of the right length (the length is not the secret);
  // no hash per request on the hot path.
  const matches = (presented: string | undefined) => {
    if (presented === undefined) return false;
    const given = Buffer.from(presented);
    return given.length === expected.length && timingSafeEqual(given, expected);
  };

  function presentedToken(req: http.IncomingMessage, aws: boolean): string | undefined {
    const auth = req.headers.authorization;
    if (auth && /^bearer /i.test(auth)) return auth.slice(7).trim();
    if (aws && auth?.startsWith('AWS4-HMAC-SHA256')) return /Credential=([^/,\s]+)\//.exec(auth)?.[1];
    const custom = req.headers['x-custos-agent-token'];
    return typeof custom === 'string' ? custom.trim() : undefined;
  }

  const readValue = (req: http.IncomingMessage, name: string, label?: string, versionId?: string): Promise<Served> => {
    const selector = versionId ? `v:${versionId}` : `l:${label ?? 'CURRENT'}`;
    return deps.cache.read(cacheKey('v', name, selector), name, async () => (await deps.client().getValue(name, { label, versionId, onBehalfOf: callerOf(req) })) as unknown as Record<string, unknown>);
  };
  const readDescription = (req: http.IncomingMessage, name: string): Promise<Served> =>
    deps.cache.read(cacheKey('d', name), name, async () => (await deps.client().describe(name, { onBehalfOf: callerOf(req) })) as unknown as Record<string, unknown>);

  // A cached answer is the same object on every hit: serialize it once.
  const serialized = new WeakMap<object, string>();
  function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = NO_HEADERS, memo = false): void {
    let text = memo ? serialized.get(body as object) : undefined;
    if (text === undefined) {
      text = JSON.stringify(body);
      if (memo) serialized.set(body as object, text);
    }
    // A flat header list is the cheapest form for Node to write (the cache-hit path).
    if (headers === NO_HEADERS) res.writeHead(status, ['content-type', 'application/json; charset=utf-8', 'content-length', String(Buffer.byteLength(text))]);
    else res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }
  const staleHeaders = (...served: Served[]): Record<string, string> => {
    let worst = -1;
    for (const s of served) if (s.staleSeconds !== null && s.staleSeconds > worst) worst = s.staleSeconds;
    return worst >= 0 ? { [STALE_HEADER]: String(worst) } : NO_HEADERS;
  };

  async function body(req: http.IncomingMessage): Promise<Record<string, unknown>> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > BODY_LIMIT) throw new LocalError(413, 'payload_too_large', 'the request body is too large', 'ValidationException');
      chunks.push(chunk as Buffer);
    }
    try {
      const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as unknown;
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      return parsed as Record<string, unknown>;
    } catch {
      throw new LocalError(400, 'invalid_json', 'the request body is not a JSON object', 'SerializationException');
    }
  }

  const str = (input: Record<string, unknown>, field: string, required = false): string | undefined => {
    const v = input[field];
    if (v === undefined && !required) return undefined;
    if (typeof v !== 'string' || v === '') throw new LocalError(400, 'validation_failed', `${field} must be a non-empty string`, 'ValidationException');
    return v;
  };

  async function native(req: http.IncomingMessage, res: http.ServerResponse, url: { pathname: string; searchParams: URLSearchParams }): Promise<void> {
    if (req.method === 'GET' && url.pathname.startsWith('/v1/values/')) {
      let name: string;
      try {
        name = decodeURIComponent(url.pathname.slice('/v1/values/'.length));
      } catch {
        throw new LocalError(400, 'invalid_request', 'the URL is malformed (invalid percent-encoding)', 'ValidationException');
      }
      const served = await readValue(req, name, url.searchParams.get('label') ?? undefined, url.searchParams.get('version_id') ?? undefined);
      return send(res, 200, served.body, staleHeaders(served), true);
    }
    if (req.method === 'POST' && url.pathname === '/v1/batch/values') {
      const input = await body(req);
      const items = input.secrets;
      if (!Array.isArray(items) || items.length === 0 || items.length > 100) throw new LocalError(400, 'validation_failed', 'secrets must be a list of 1 to 100 items', 'ValidationException');
      const values: Record<string, unknown>[] = [];
      const errors: Record<string, unknown>[] = [];
      const served: Served[] = [];
      await Promise.all(items.map(async (item: Record<string, unknown>, index) => {
        const name = str(item ?? {}, 'name', true)!;
        try {
          const one = await readValue(req, name, str(item, 'label'), str(item, 'version_id'));
          served.push(one);
          values.push({ index, ...one.body });
        } catch (error) {
          const failure = classifyError(error, name);
          if (failure.transient && !(failure.code === 'stale_limit_exceeded' || failure.code === 'unreachable')) throw failure;
          errors.push({ index, name, code: failure.code, status: failure.options.status ?? 503, message: failure.message });
        }
      }));
      values.sort((a, b) => (a.index as number) - (b.index as number));
      errors.sort((a, b) => (a.index as number) - (b.index as number));
      return send(res, 200, { values, errors }, staleHeaders(...served));
    }
    throw new LocalError(404, 'not_found', `no route ${req.method} ${url.pathname}`, 'UnknownOperationException');
  }

  async function aws(req: http.IncomingMessage, res: http.ServerResponse, target: string): Promise<void> {
    const operation = target.slice(target.indexOf('.') + 1);
    const input = await body(req);
    const reply = (payload: unknown, ...served: Served[]) => send(res, 200, payload, { 'content-type': AWS_JSON, ...staleHeaders(...served) });
    if (operation === 'GetSecretValue') {
      const stage = str(input, 'VersionStage');
      const served = await readValue(req, nameOfSecretId(str(input, 'SecretId', true)!), stage ? labelToNative(stage) : undefined, str(input, 'VersionId'));
      return reply(awsValue(served.body as unknown as SecretValueResponse), served);
    }
    if (operation === 'DescribeSecret') {
      const served = await readDescription(req, nameOfSecretId(str(input, 'SecretId', true)!));
      return reply(awsDescription(served.body as unknown as SecretMetadataResponse), served);
    }
    if (operation === 'BatchGetSecretValue') {
      const ids = input.SecretIdList;
      if (input.Filters !== undefined) throw new LocalError(400, 'validation_failed', 'the agent serves BatchGetSecretValue by SecretIdList only', 'ValidationException');
      if (!Array.isArray(ids) || ids.length === 0 || ids.length > 20 || !ids.every((id) => typeof id === 'string' && id !== '')) {
        throw new LocalError(400, 'validation_failed', 'SecretIdList holds 1 to 20 ids', 'ValidationException');
      }
      const served: Served[] = [];
      const results = await Promise.all((ids as string[]).map(async (id) => {
        try {
          const one = await readValue(req, nameOfSecretId(id));
          served.push(one);
          return { value: awsValue(one.body as unknown as SecretValueResponse) };
        } catch (error) {
          const failure = awsError(classifyError(error, id));
          return { error: { SecretId: id, ErrorCode: failure.type, Message: failure.message } };
        }
      }));
      return reply({ SecretValues: results.flatMap((r) => (r.value ? [r.value] : [])), Errors: results.flatMap((r) => (r.error ? [r.error] : [])) }, ...served);
    }
    throw new LocalError(400, 'invalid_request', `the agent does not serve ${operation}`, 'UnknownOperationException');
  }

  return (req, res) => {
    // Not `new URL()`: it resolves `..` (even `%2e%2e`), and the name read would not be the
    // name asked for. The SDK refuses dot segments, as the server does.
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const url = { pathname: q === -1 ? raw : raw.slice(0, q), searchParams: q === -1 ? EMPTY_QUERY : new URLSearchParams(raw.slice(q + 1)) };
    const target = req.headers['x-amz-target'];
    const isAws = typeof target === 'string' && req.method === 'POST' && url.pathname === '/';
    const fail = (error: unknown) => {
      if (res.headersSent) return res.destroy();
      if (error instanceof LocalError) {
        return isAws
          ? send(res, error.status, { __type: error.awsType, message: error.message }, { 'content-type': AWS_JSON, 'x-amzn-errortype': error.awsType })
          : send(res, error.status, { error: { code: error.code, message: error.message } });
      }
      const failure = error instanceof CustosClientError ? error : classifyError(error);
      if (isAws) {
        const shaped = awsError(failure);
        return send(res, shaped.status, { __type: shaped.type, message: shaped.message }, { 'content-type': AWS_JSON, 'x-amzn-errortype': shaped.type });
      }
      send(res, failure.transient ? 503 : failure.options.status ?? 500, { error: { code: failure.code, message: failure.message } });
    };
    if (req.method === 'GET' && url.pathname === '/agent/health') {
      const authError = deps.authError?.() ?? null;
      return send(res, 200, { status: 'ok', feed: deps.live() ? 'live' : 'disconnected', ...(authError ? { auth_error: authError } : {}) });
    }
    if (!matches(presentedToken(req, isAws))) {
      req.resume();
      const missing = presentedToken(req, isAws) === undefined;
      return fail(new LocalError(isAws ? 400 : 401, missing ? 'missing_token' : 'invalid_token', missing ? 'send the agent token' : 'the agent token is not valid', 'UnrecognizedClientException'));
    }
    if (req.method === 'GET' && url.pathname === '/agent/metrics') {
      const text = prometheusText(deps.cache.stats(), deps.live());
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(text) });
      return void res.end(text);
    }
    (isAws ? aws(req, res, target) : native(req, res, url)).catch(fail);
  };
}

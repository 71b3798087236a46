/**
 * `custos agent`: composes the agent from its parts. Auto-auth gives it its own identity
 * upstream; the change feed keeps its cache current; the local server answers local callers
 * who present the per-node agent token. It is a client of the server only (SDK), never of
 * the server's engines or storage.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, lstatSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { followChanges } from '../sdk/change-feed.js';
import type { AgentConfig } from './config.js';
import { createAgentLog, type AgentLog } from './agent-log.js';
import { createDiskCache, loadCacheKey } from './disk-cache.js';
import { createLocalHandler } from './local-server.js';
import { cacheKey, createSecretCache, type SecretCache } from './secret-cache.js';
import { createTemplateRunner } from './templates.js';
import { createUpstreamAuth, type UpstreamAuth } from './upstream-auth.js';

export class AgentTokenFileError extends Error {
  override name = 'AgentTokenFileError';
  readonly code = 'invalid_config';
}

/** The per-node agent token: read from its file, or created there (0600) on first start. */
export function loadAgentToken(file: string): string {
  try {
    const stat = statSync(file);
    if ((stat.mode & 0o077) !== 0) throw new AgentTokenFileError(`the agent token file ${file} is readable by others (mode ${(stat.mode & 0o777).toString(8)}); chmod 600 it`);
    const token = readFileSync(file, 'utf8').trim();
    if (token.length < 16) throw new AgentTokenFileError(`the agent token in ${file} is shorter than 16 characters`);
    if (/[\s/,]/.test(token)) throw new AgentTokenFileError(`the agent token in ${file} may not contain spaces, "/" or ","`);
    return token;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const token = `custosagent${randomBytes(20).toString('hex')}`;
  const fd = openSync(file, 'wx', 0o600);
  writeSync(fd, token + '\n');
  fsyncSync(fd);
  closeSync(fd);
  return token;
}

function identityBinding(config: AgentConfig): string {
  const auth = config.auth.method === 'token_file' ? `token_file\0${config.auth.token_file}`
    : config.auth.method === 'jwt' ? `jwt\0${config.auth.mount}\0${config.auth.role}`
      : `approle\0${config.auth.mount}\0${config.auth.role_id ?? config.auth.role_id_file}`;
  return `${config.server.address}\0${auth}`;
}

export interface RunningAgent {
  /** `http://127.0.0.1:PORT` when listening on TCP. */
  address?: string;
  socket?: string;
  stop(): Promise<void>;
}

function listen(server: http.Server, where: { port: number; host: string } | { path: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(where, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * Tells the server when the agent reaches it again after serving stale answers (an
 * `agent_recovered` alert there): how long it was cut off and how many answers were stale.
 * An agent started during an outage counts from its start.
 */
function recoveryReporter(cache: SecretCache, auth: UpstreamAuth, log: AgentLog, now: () => number = Date.now) {
  let outage: { since: number; staleBefore: number } | null = { since: now(), staleBefore: 0 };
  return (connected: boolean) => {
    if (!connected) {
      outage ??= { since: now(), staleBefore: cache.stats().stale };
      return;
    }
    if (!outage) return;
    const staleAnswers = cache.stats().stale - outage.staleBefore;
    const outageSeconds = Math.max(0, Math.round((now() - outage.since) / 1000));
    outage = null;
    if (staleAnswers <= 0) return;
    auth.client().reportAgentRecovered({ outageSeconds, staleAnswers }).then(
      () => log.info('reported the recovery to the server', { outage_seconds: outageSeconds, stale_answers: staleAnswers }),
      (error: unknown) => log.warn('could not report the recovery', { code: (error as { code?: string }).code ?? 'error' }),
    );
  };
}

export async function startAgent(config: AgentConfig, log: AgentLog = createAgentLog(config.log_level)): Promise<RunningAgent> {
  const agentToken = loadAgentToken(config.agent_token_file);
  const auth = createUpstreamAuth(config, log);
  const disk = config.cache.disk
    // Bound to the server and to the identity the agent is configured with: a cache filled
    // under another identity (a broader role) is never served under this one.
    ? createDiskCache({ path: config.cache.disk.path, key: loadCacheKey(config.cache.disk.key_file), boundTo: identityBinding(config), log })
    : undefined;
  const cache = createSecretCache({
    maxBytes: config.cache.max_bytes, maxStaleMs: config.cache.max_stale, reauthenticate: () => auth.reauthenticate(),
    onChange: disk ? () => disk.schedule(() => cache.snapshot()) : undefined,
  });
  if (disk) {
    const saved = disk.load();
    cache.restore(saved);
    if (saved.length) log.info('restored the disk cache', { entries: saved.length });
  }

  // Templates read through the cache like any local caller; the audit names them as the caller.
  const templates = createTemplateRunner(config.templates, async (name, label, versionId) => {
    const selector = versionId ? `v:${versionId}` : `l:${label ?? 'CURRENT'}`;
    const served = await cache.read(cacheKey('v', name, selector), name, async () =>
      (await auth.client().getValue(name, { label, versionId, onBehalfOf: 'custos-agent-template' })) as unknown as Record<string, unknown>);
    if (typeof served.body.value !== 'string') throw Object.assign(new Error(`${name} holds bytes (value_base64), which a template cannot insert`), { code: 'not_text' });
    return served.body.value;
  }, log);
  const reportRecovery = recoveryReporter(cache, auth, log);

  // The feed keeps the cache current; losing it makes every entry need confirmation.
  let feed: ReturnType<typeof followChanges> | undefined;
  const startFeed = (lastEventId?: string) => {
    feed = followChanges({
      address: config.server.address, token: auth.token, lastEventId,
      onEvent: (event) => {
        if (event.type === 'secret' && event.name) {
          if (event.kind === 'deleted') cache.drop(event.name);
          else cache.invalidate(event.name);
          log.debug('change', { name: event.name, kind: event.kind ?? null });
          void templates.changed(event.name);
        } else if (event.type === 'reset') {
          cache.invalidateAll();
          log.info('reset: every cached value is confirmed with the server before use', { reason: event.reason ?? null });
          void templates.renderAll();
        } else if (event.type === 'ready') {
          cache.setLive(true);
          void templates.retryFailed();
        }
        else if (event.type === 'error' && event.code && /token/.test(event.code)) void auth.reauthenticate();
      },
      onState: (connected, error) => {
        reportRecovery(connected);
        if (!connected) {
          cache.setLive(false);
          log.warn('change feed lost; cached values are confirmed with the server before use', { code: (error as { code?: string } | undefined)?.code ?? 'error' });
        } else log.info('change feed live');
      },
    });
  };
  // A new token: subscribe with it (resuming where the old subscription was).
  auth.onChange(() => {
    if (!feed) return;
    const last = feed.lastEventId();
    feed.stop();
    cache.setLive(false);
    startFeed(last);
  });
  await auth.start();
  startFeed();
  if (config.templates.length) void templates.renderAll();

  const handler = createLocalHandler({ cache, client: auth.client, agentToken, live: cache.isLive, authError: auth.lastError });
  const servers: http.Server[] = [];
  const running: RunningAgent = { stop: async () => undefined };
  if (config.listen.tcp) {
    const server = http.createServer({ keepAlive: true }, handler);
    const colon = config.listen.tcp.lastIndexOf(':');
    const host = config.listen.tcp.slice(0, colon).replace(/^\[|\]$/g, '');
    await listen(server, { host, port: Number(config.listen.tcp.slice(colon + 1)) });
    servers.push(server);
    running.address = `http://${host.includes(':') ? `[${host}]` : host}:${(server.address() as AddressInfo).port}`;
  }
  if (config.listen.socket) {
    const socketPath = config.listen.socket;
    try {
      if (lstatSync(socketPath).isSocket()) unlinkSync(socketPath); // left by a previous run
    } catch {
      // none
    }
    const server = http.createServer(handler);
    // Created 0600 from the start: no moment in which another user could connect.
    const umask = process.umask(0o177);
    try {
      await listen(server, { path: socketPath });
    } finally {
      process.umask(umask);
    }
    chmodSync(socketPath, 0o600);
    servers.push(server);
    running.socket = socketPath;
  }
  running.stop = async () => {
    templates.stop();
    feed?.stop();
    auth.stop();
    disk?.flush();
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    })));
  };
  return running;
}

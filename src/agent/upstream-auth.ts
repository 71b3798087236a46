/**
 * The agent's own identity upstream (auto-auth): a token read from a file (re-read when the
 * file changes, e.g. a rotated Kubernetes secret), an AppRole login with a role id and a
 * secret id file, or a JWT login with a token from a file (a Kubernetes projected
 * service-account token, which the kubelet rotates: a changed file means a new login). The token is renewed at two thirds of its TTL; when renewal fails, the
 * agent authenticates again from scratch. Everything upstream goes through the SDK.
 */
import { readFileSync, watchFile, unwatchFile } from 'node:fs';
import { createApiClient, CustosApiError, type ApiClient } from '../sdk/api-client.js';
import { createAuthClient } from '../sdk/auth-client.js';
import type { AgentConfig } from './config.js';
import type { AgentLog } from './agent-log.js';

export interface UpstreamAuth {
  /** The current token, or undefined before the first successful authentication. */
  token(): string | undefined;
  /** A client carrying the current token (rebuilt when the token changes). */
  client(): ApiClient;
  /** Authenticates now (again); resolves false when it could not. */
  reauthenticate(): Promise<boolean>;
  start(): Promise<void>;
  stop(): void;
  /** Called whenever the token changes (the change feed reconnects with it). */
  onChange(listener: () => void): void;
  /** Why the last authentication failed (a stable code), or null after a success. */
  lastError(): string | null;
}

const readTrimmed = (file: string) => readFileSync(file, 'utf8').trim();

export function createUpstreamAuth(config: AgentConfig, log: AgentLog, fetchImpl?: typeof fetch): UpstreamAuth {
  const address = config.server.address;
  const timeoutMs = config.server.timeout;
  const anonymous = createApiClient({ address, timeoutMs, fetch: fetchImpl });
  let current: string | undefined;
  let api: ApiClient = anonymous;
  let renewTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  let inFlight: Promise<boolean> | null = null;
  let retryDelay = 500;
  let expiresAt: string | null = null;
  let lastError: string | null = null;
  const listeners: (() => void)[] = [];

  function use(token: string): void {
    if (token === current) return;
    current = token;
    api = createApiClient({ address, token, timeoutMs, fetch: fetchImpl });
    for (const listener of listeners) listener();
  }

  /** Schedules the next renewal at two thirds of what is left (nothing for a non-expiring token). */
  function scheduleRenewal(until: string | null): void {
    expiresAt = until;
    if (renewTimer) clearTimeout(renewTimer);
    if (stopped || until === null) return;
    const left = Date.parse(until) - Date.now();
    renewTimer = setTimeout(() => void renew(), Math.max(1000, Math.floor((left * 2) / 3)));
    renewTimer.unref();
  }

  async function renew(): Promise<void> {
    try {
      const before = expiresAt;
      const renewed = await api.renewToken();
      log.info('token renewed', { accessor: renewed.accessor, expires_at: renewed.expires_at });
      // At its max TTL a renewal no longer extends the token: authenticate anew instead of
      // renewing ever more often until it expires.
      if (before !== null && renewed.expires_at !== null && Date.parse(renewed.expires_at) <= Date.parse(before)) {
        if (await reauthenticate()) return;
      }
      scheduleRenewal(renewed.expires_at);
    } catch (error) {
      log.warn('token renewal failed; authenticating again', { code: (error as { code?: string }).code ?? 'error' });
      if (!(await reauthenticate())) scheduleRenewal(new Date(Date.now() + 15_000).toISOString());
    }
  }

  async function login(): Promise<boolean> {
    try {
      if (config.auth.method === 'token_file') {
        const token = readTrimmed(config.auth.token_file);
        if (!token) throw Object.assign(new Error('the token file is empty'), { code: 'missing_token' });
        const self = await createApiClient({ address, token, timeoutMs, fetch: fetchImpl }).lookupSelf();
        use(token);
        log.info('authenticated with the token file', { accessor: self.accessor, expires_at: self.expires_at });
        scheduleRenewal(self.expires_at);
      } else if (config.auth.method === 'jwt') {
        const jwt = readTrimmed(config.auth.jwt_file);
        if (!jwt) throw Object.assign(new Error('the JWT file is empty'), { code: 'missing_jwt' });
        const result = await createAuthClient(anonymous).login(config.auth.mount, { role: config.auth.role, jwt });
        use(result.token);
        log.info('logged in with a JWT', { mount: config.auth.mount, role: config.auth.role, accessor: result.accessor, expires_at: result.expires_at });
        scheduleRenewal(result.expires_at);
      } else {
        const roleId = config.auth.role_id ?? readTrimmed(config.auth.role_id_file!);
        const secretId = readTrimmed(config.auth.secret_id_file);
        const result = await createAuthClient(anonymous).login(config.auth.mount, { role_id: roleId, secret_id: secretId });
        use(result.token);
        log.info('logged in with AppRole', { accessor: result.accessor, expires_at: result.expires_at });
        scheduleRenewal(result.expires_at);
      }
      lastError = null;
      return true;
    } catch (error) {
      // Never the token, secret id or JWT: what kind of failure it was, and the server's
      // message (which names the reason, e.g. "the JWT has expired", never the credential).
      lastError = (error as { code?: string }).code ?? 'error';
      const reason = error instanceof CustosApiError ? error.message : (error as NodeJS.ErrnoException).code ? `cannot read ${(error as NodeJS.ErrnoException).path ?? 'the credential file'}` : (error as Error).message;
      log.warn('authentication failed', { method: config.auth.method, code: lastError, reason, still_using_previous_token: current !== undefined });
      // Never authenticated (started during an outage): keep trying, so the feed can start.
      if (current === undefined && !stopped) {
        retryDelay = Math.min(retryDelay * 2, 5_000);
        if (renewTimer) clearTimeout(renewTimer);
        renewTimer = setTimeout(() => void reauthenticate(), retryDelay);
        renewTimer.unref();
      }
      return false;
    }
  }

  function reauthenticate(): Promise<boolean> {
    inFlight ??= login().finally(() => (inFlight = null));
    return inFlight;
  }

  // A login in flight may have read the file just before it changed: log in once more after it,
  // or the new credential would wait for the next change of the file.
  let afterInFlight: Promise<boolean> | null = null;
  function credentialFileChanged(): Promise<boolean> {
    if (!inFlight) return reauthenticate();
    afterInFlight ??= inFlight.then(() => {
      afterInFlight = null;
      return reauthenticate();
    });
    return afterInFlight;
  }

  const watched = config.auth.method === 'token_file' ? config.auth.token_file : config.auth.method === 'jwt' ? config.auth.jwt_file : undefined;
  return {
    token: () => current,
    client: () => api,
    reauthenticate,
    async start() {
      await reauthenticate();
      // Polling, not fs.watch: a Kubernetes secret volume swaps a symlink, which watchers miss.
      if (watched) watchFile(watched, { interval: 500, persistent: false }, () => void credentialFileChanged());
    },
    stop() {
      stopped = true;
      if (renewTimer) clearTimeout(renewTimer);
      if (watched) unwatchFile(watched);
    },
    onChange: (listener) => void listeners.push(listener),
    lastError: () => lastError,
  };
}

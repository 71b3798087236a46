import { readFileSync } from 'node:fs';
import { githubClaims, startIssuer } from '../tests/support/oidc-issuer.js';
import { runLoad, type LoadResult, type startDevServer } from './lib.js';
import { isReadMode, prepareReadLoad, type ReadMode } from './read-load.js';

/** The three login paths of the logins suite, loadable by `bench:ab` and `bench:profile` too. */
export type LoginMode = 'jwt' | 'approle' | 'token';
export const isLoginMode = (m: string | undefined): m is LoginMode => m === 'jwt' || m === 'approle' || m === 'token';
export type LoadMode = ReadMode | LoginMode;
export const isLoadMode = (m: string | undefined): m is LoadMode => isReadMode(m) || isLoginMode(m);
export const LOAD_MODES = 'aws, native, jwt, approle or token';

type Server = Awaited<ReturnType<typeof startDevServer>>;
export type Load = ((durationSec: number) => Promise<LoadResult>) & { close?: () => Promise<void>; jwksFetches?: () => number };

/**
 * Sets up one login path on a dev server, as the logins suite does: a `bench` policy, an AppRole
 * role with a secret id of no use limit, a JWT mount on a local issuer (its JWKS fetched once)
 * with a GitHub-shaped role binding `aud`, `repository` (a glob) and `ref`. `token` is
 * `POST /v1/tokens` under the root token: the same token write with no credential check.
 */
export async function prepareLoginLoad(server: Server, mode: LoginMode, connections: number): Promise<Load> {
  const headers = { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' };
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(server.address + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const data = (await r.json()) as Record<string, unknown>;
    if (!r.ok) throw new Error(`setup ${method} ${path}: ${r.status} ${JSON.stringify(data)}`);
    return data;
  };
  await call('PUT', '/v1/policies/bench', { document: JSON.stringify({ rules: [{ path: 'prod/**', capabilities: ['read'] }] }) });
  const post = (path: string, body: unknown, auth: boolean): Load =>
    (durationSec) => runLoad({ url: server.address + path, connections, durationSec, method: 'POST', body: JSON.stringify(body), headers: auth ? headers : { 'content-type': 'application/json' } });
  if (mode === 'token') return post('/v1/tokens', { policies: ['bench'], ttl: '10m' }, true);
  if (mode === 'approle') {
    await call('POST', '/v1/sys/auth/approle', { type: 'approle' });
    await call('PUT', '/v1/auth/approle/role/worker', { policies: ['bench'], token_ttl: '10m' });
    const { role_id: roleId } = await call('GET', '/v1/auth/approle/role/worker/role-id');
    const { secret_id: secretId } = await call('POST', '/v1/auth/approle/role/worker/secret-id', {});
    return post('/v1/auth/approle/login', { role_id: roleId, secret_id: secretId }, false);
  }
  const issuer = await startIssuer();
  await call('POST', '/v1/sys/auth/github', { type: 'jwt', config: { oidc_discovery_url: issuer.url } });
  await call('PUT', '/v1/auth/github/role/deploy', { policies: ['bench'], token_ttl: '10m', bound_audiences: ['https://github.com/acme'], bound_claims: { repository: 'acme/*', ref: 'refs/heads/main' } });
  const jwt = await issuer.sign(githubClaims(), { expiresIn: 3600 });
  const load: Load = post('/v1/auth/github/login', { role: 'deploy', jwt }, false);
  load.close = () => issuer.close();
  load.jwksFetches = () => issuer.jwksFetches();
  return load;
}

/** A read path (read-load.ts) or a login path, by mode name. */
export async function prepareLoad(server: Server, mode: LoadMode, connections: number): Promise<Load> {
  return isReadMode(mode) ? prepareReadLoad(server, mode, connections) : prepareLoginLoad(server, mode, connections);
}

/**
 * CPU time of the whole server process (every thread: WebCrypto's signature checks and libuv's
 * pool run off the main thread), in clock ticks of 1/100 s.
 */
export const processTicks = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
};

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { api, cliPath, startServer, type RunningServer } from '../support/custos-server.js';
import { assertErrorBody, createToken, writePolicy } from '../support/http-helpers.js';
import { advanceClock, enableMount, eventsOf, login, requestIdOf, writeRole } from '../support/auth-helpers.js';
import { startIssuer, type LocalIssuer } from '../support/oidc-issuer.js';

const freePort = () => new Promise<number>((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address() as net.AddressInfo;
    s.close(() => resolve(port));
  });
});

/** The browser: asks the provider to log the user in and returns where it redirects (code and state). */
async function visit(authUrl: string): Promise<URL> {
  const r = await fetch(authUrl, { redirect: 'manual' });
  assert.equal(r.status, 302, await r.text());
  return new URL(r.headers.get('location')!);
}

/** OIDC authorization-code login with PKCE for people, against a local provider; every abuse refused with its own code. */
describe('oidc login (people)', () => {
  let server: RunningServer;
  let idp: LocalIssuer;
  let cliPort: number;
  const REDIRECT = 'http://localhost:8250/oidc/callback';
  const start = (body: Record<string, unknown>) => api(server, 'POST', '/v1/auth/oidc/oidc/auth_url', { body });
  const startOk = async (role = 'people') => {
    const r = await start({ role, redirect_uri: REDIRECT });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.auth_url as string;
  };

  before(async () => {
    idp = await startIssuer();
    cliPort = await freePort();
    server = await startServer({ env: { CUSTOS_TESTING_CLOCK: '1' } });
    await writePolicy(server, 'dev-read', JSON.stringify({ rules: [{ path: 'dev/**', capabilities: ['read', 'list'] }] }));
    await writePolicy(server, 'prod-admin', JSON.stringify({ rules: [{ path: 'prod/**', capabilities: ['read', 'list', 'create', 'update', 'delete'] }] }));
    await writePolicy(server, 'auth-admin', JSON.stringify({ rules: [{ path: 'sys:auth/**', capabilities: ['read', 'list', 'create', 'update', 'delete'] }] }));
    await enableMount(server, 'oidc', 'oidc', {
      oidc_discovery_url: idp.url, oidc_client_id: 'custos', allowed_redirect_uris: [REDIRECT, `http://localhost:${cliPort}/oidc/callback`], oidc_scopes: ['email', 'groups'],
    });
    await writeRole(server, 'oidc', 'people', {
      policies: ['dev-read'], user_claim: 'email', groups_claim: 'groups', group_policies: { platform: ['prod-admin'] }, bound_claims: { email_verified: 'true' }, token_ttl: '8h',
    });
  });
  after(async () => {
    await server?.stop();
    server?.cleanup();
    await idp?.close();
  });

  test('a person logs in: PKCE and nonce on the way out, policies from the role plus mapped groups, one audit event without the code', async () => {
    idp.user = { sub: 'u-ana', email: 'ana@acme.example', email_verified: 'true', groups: ['platform', 'everyone'] };
    const authUrl = new URL(await startOk());
    assert.equal(authUrl.origin + authUrl.pathname, `${idp.url}/authorize`);
    const q = authUrl.searchParams;
    assert.deepEqual([q.get('response_type'), q.get('client_id'), q.get('redirect_uri'), q.get('code_challenge_method'), q.get('scope')], ['code', 'custos', REDIRECT, 'S256', 'openid email groups']);
    assert.match(q.get('code_challenge')!, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(q.get('state')!.length >= 43 && q.get('nonce')!.length >= 43);
    const back = await visit(authUrl.toString());
    const code = back.searchParams.get('code')!;
    const r = await login(server, 'oidc', { state: back.searchParams.get('state'), code });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.policies.sort(), ['dev-read', 'prod-admin']);
    assert.equal(r.body.display_name, 'oidc-oidc-ana@acme.example');
    const [event] = (await eventsOf(server, requestIdOf(r))).filter((e) => e.operation === 'auth.login');
    assert.equal(event.outcome, 'success');
    assert.equal(event.detail.method, 'oidc');
    assert.equal(event.detail.role, 'people');
    assert.match(event.detail.matched, /"groups":"platform"/);
    assert.ok(!JSON.stringify(event).includes(code), 'the authorization code is not in the audit event');
    assert.ok(!server.output().includes(code), 'nor in the server log');
    // Someone not in a mapped group gets the role's own policies only.
    idp.user = { sub: 'u-bo', email: 'bo@acme.example', email_verified: 'true', groups: ['data'] };
    const bo = await visit(await startOk());
    const boLogin = await login(server, 'oidc', { state: bo.searchParams.get('state'), code: bo.searchParams.get('code') });
    assert.deepEqual(boLogin.body.policies, ['dev-read']);
  });

  test('a state is spent once: replaying the callback is refused', async () => {
    idp.user = { sub: 'u-ana', email: 'ana@acme.example', email_verified: 'true' };
    const back = await visit(await startOk());
    const body = { state: back.searchParams.get('state'), code: back.searchParams.get('code') };
    assert.equal((await login(server, 'oidc', body)).status, 200);
    assertErrorBody(await login(server, 'oidc', body), 400, 'oidc_state_invalid');
    assertErrorBody(await login(server, 'oidc', { state: 'x'.repeat(43), code: 'c' }), 400, 'oidc_state_invalid');
  });

  test('a stolen code is useless with another login\'s state: the PKCE verifier does not match, and that state is spent', async () => {
    idp.user = { sub: 'u-ana', email: 'ana@acme.example', email_verified: 'true' };
    const victim = await visit(await startOk());
    const attackerState = new URL(await startOk()).searchParams.get('state');
    const refusedBefore = idp.refusedExchanges();
    assertErrorBody(await login(server, 'oidc', { state: attackerState, code: victim.searchParams.get('code') }), 401, 'oidc_exchange_failed');
    assert.equal(idp.refusedExchanges(), refusedBefore + 1, 'the provider refused the exchange (PKCE)');
    assertErrorBody(await login(server, 'oidc', { state: attackerState, code: victim.searchParams.get('code') }), 400, 'oidc_state_invalid');
  });

  test('redirects only to the allowed URIs; unknown roles and one-step mounts are refused', async () => {
    assertErrorBody(await start({ role: 'people', redirect_uri: 'https://evil.example/cb' }), 400, 'oidc_redirect_not_allowed');
    assertErrorBody(await start({ role: 'people', redirect_uri: 'http://localhost:8250/oidc/callback/../x' }), 400, 'oidc_redirect_not_allowed');
    assertErrorBody(await start({ role: 'nobody', redirect_uri: REDIRECT }), 404, 'role_not_found');
    await enableMount(server, 'userpass', 'userpass');
    assertErrorBody(await api(server, 'POST', '/v1/auth/userpass/oidc/auth_url', { body: { role: 'x', redirect_uri: REDIRECT } }), 400, 'auth_method_mismatch');
  });

  test('an ID token for another login (nonce) or another client (audience), or missing a bound claim, is refused', async () => {
    idp.user = { sub: 'u-ana', email: 'ana@acme.example', email_verified: 'true' };
    const attempt = async () => {
      const back = await visit(await startOk());
      return login(server, 'oidc', { state: back.searchParams.get('state'), code: back.searchParams.get('code') });
    };
    try {
      idp.idTokenOverrides = { nonce: 'replayed-from-elsewhere' };
      assertErrorBody(await attempt(), 401, 'oidc_nonce_mismatch');
      idp.idTokenOverrides = { aud: 'another-client' };
      assertErrorBody(await attempt(), 401, 'jwt_audience_mismatch');
      idp.idTokenOverrides = { email_verified: 'false' };
      assertErrorBody(await attempt(), 403, 'jwt_claim_mismatch');
    } finally {
      idp.idTokenOverrides = {};
    }
  });

  test('no privilege widening through group mappings: a role may map groups only to policies its author holds', async () => {
    const admin = await createToken(server, { policies: ['auth-admin', 'dev-read'] });
    const widen = await api(server, 'PUT', '/v1/auth/oidc/role/sneaky', { token: admin.token, body: { policies: ['dev-read'], groups_claim: 'groups', group_policies: { anyone: ['prod-admin'] } } });
    assertErrorBody(widen, 403, 'permission_denied');
    assert.match(widen.body.error.message, /prod-admin/);
    assertErrorBody(await api(server, 'PUT', '/v1/auth/oidc/role/rooty', { token: server.token, body: { policies: ['dev-read'], groups_claim: 'g', group_policies: { a: ['root'] } } }), 400, 'validation_failed');
  });

  test('custos login oidc: prints the URL, takes only its own callback, saves the token', async () => {
    idp.user = { sub: 'u-ana', email: 'ana@acme.example', email_verified: 'true', groups: ['platform'] };
    const child = spawn(process.execPath, [cliPath, 'login', 'oidc', '--role', 'people', '--no-browser', '--port', String(cliPort)], {
      env: { ...process.env, CUSTOS_TOKEN: '', CUSTOS_ADDR: server.address, HOME: server.home }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    const printed = new Promise<string>((resolve) => child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      const m = /(http:\/\/127\.0\.0\.1:\d+\/authorize\?\S+)/.exec(stderr);
      if (m) resolve(m[1]!);
    }));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const authUrl = await printed;
    const back = await visit(authUrl);
    assert.equal(back.origin, `http://localhost:${cliPort}`);
    // A callback that is not this login's (another state) is turned away; the CLI keeps waiting.
    const forged = new URL(back);
    forged.searchParams.set('state', 'not-mine');
    assert.equal((await fetch(forged.toString().replace('localhost', '127.0.0.1'))).status, 400);
    const landed = await fetch(back.toString().replace('localhost', '127.0.0.1'));
    assert.match(await landed.text(), /Logged in to Custos/);
    assert.equal(await exited, 0, stderr);
    assert.match(stdout, /Logged in to .* as oidc-oidc-ana@acme\.example \(policies: dev-read, prod-admin/);
    const saved = JSON.parse(readFileSync(path.join(server.home, '.custos', 'tokens.json'), 'utf8')) as Record<string, string>;
    const token = Object.values(saved).find((t) => t !== server.token)!;
    const self = await api(server, 'GET', '/v1/tokens/self', { token });
    assert.equal(self.status, 200, JSON.stringify(self.body));
    assert.deepEqual(self.body.policies.sort(), ['dev-read', 'prod-admin']);
  });
  // Last: it moves the server's clock past the provider's token lifetimes.
  test('a login state expires', async () => {
    const back = await visit(await startOk());
    await advanceClock(server, '6m');
    assertErrorBody(await login(server, 'oidc', { state: back.searchParams.get('state'), code: back.searchParams.get('code') }), 400, 'oidc_state_invalid');
  });
});

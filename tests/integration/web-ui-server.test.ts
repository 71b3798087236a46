import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { api, repoRoot, startServer, type RunningServer } from '../support/custos-server.js';
import { assertErrorBody, writePolicy } from '../support/http-helpers.js';
import { enableMount, writeRole } from '../support/auth-helpers.js';

/** The web UI's server side without a browser: static headers, session cookies, CSRF, logout. */
describe('web UI server side', () => {
  let server: RunningServer;
  const PASSWORD = 'correct horse battery staple 9';

  before(async () => {
    server = await startServer();
    await writePolicy(server, 'dev-rw', JSON.stringify({ rules: [{ path: 'dev/**', capabilities: ['read', 'list', 'create', 'update'] }] }));
    await enableMount(server, 'userpass', 'userpass');
    await writeRole(server, 'userpass', 'ana', { policies: ['dev-rw'], env: 'dev', password: PASSWORD });
  });
  after(async () => {
    await server.stop();
    server.cleanup();
  });

  const cookiesOf = (response: Response) => Object.fromEntries(response.headers.getSetCookie().map((c) => [c.slice(0, c.indexOf('=')), c]));
  const valueOf = (setCookie: string) => setCookie.slice(setCookie.indexOf('=') + 1, setCookie.indexOf(';'));
  async function uiLogin(body: unknown) {
    const response = await fetch(`${server.address}/v1/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { response, body: await response.json() as any, cookies: cookiesOf(response) };
  }

  test('the UI is served at / with a strict CSP, no inline script, no-cache index and long-cached hashed assets', async () => {
    const index = await fetch(`${server.address}/`);
    assert.equal(index.status, 200);
    const csp = index.headers.get('content-security-policy') ?? '';
    for (const part of ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "connect-src 'self'"]) assert.ok(csp.includes(part), csp);
    assert.ok(!csp.includes('unsafe-inline') && !csp.includes('unsafe-eval'), csp);
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    assert.equal(index.headers.get('x-frame-options'), 'DENY');
    const html = await index.text();
    assert.ok(!/<script(?![^>]*\ssrc=)[^>]*>/i.test(html), 'no inline <script> in index.html');
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(asset, html);
    const js = await fetch(server.address + asset);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('cache-control') ?? '', /max-age=31536000, immutable/);
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
    // Client-side pages answer with the same index; unknown assets and traversal attempts do not.
    assert.equal((await fetch(`${server.address}/ui/audit`)).status, 200);
    assert.equal((await fetch(`${server.address}/assets/nope.js`)).status, 404);
    assert.equal((await fetch(`${server.address}/assets/..%2f..%2fpackage.json`)).status, 404);
  });

  test('the JavaScript bundle is at most 300 KB gzipped', () => {
    const dir = path.join(repoRoot, 'web/dist/assets');
    const js = readdirSync(dir).filter((f) => f.endsWith('.js'));
    assert.ok(js.length > 0);
    const gzipped = js.reduce((sum, f) => sum + gzipSync(readFileSync(path.join(dir, f)), { level: 9 }).length, 0);
    assert.ok(gzipped <= 300 * 1024, `bundle is ${(gzipped / 1024).toFixed(1)} KB gzipped`);
  });

  test('token login sets an HttpOnly SameSite=Strict cookie with a short-lived child token, never the token itself', async () => {
    const { response, body, cookies } = await uiLogin({ token: server.token });
    assert.equal(response.status, 200, JSON.stringify(body));
    const session = cookies['custos_session']!;
    assert.match(session, /HttpOnly/);
    assert.match(session, /SameSite=Strict/);
    assert.match(session, /Path=\//);
    assert.doesNotMatch(cookies['custos_csrf']!, /HttpOnly/, 'the CSRF cookie is for page script');
    const child = valueOf(session);
    assert.notEqual(child, server.token);
    assert.ok(!JSON.stringify(body).includes(child) && !JSON.stringify(body).includes(server.token), 'no token in the answer body');
    assert.equal(body.csrf_token, valueOf(cookies['custos_csrf']!));
    const self = await api(server, 'GET', '/v1/tokens/self', { token: child });
    const rootSelf = await api(server, 'GET', '/v1/tokens/self', { token: server.token });
    assert.equal(self.body.parent_accessor, rootSelf.body.accessor, 'a child of the token that logged in');
    assert.ok(self.body.ttl_seconds <= 3600, JSON.stringify(self.body));
  });

  test('a cookie-authenticated write needs the CSRF header; reads do not; a header token needs no CSRF', async () => {
    const { body, cookies } = await uiLogin({ token: server.token });
    const cookie = `custos_session=${valueOf(cookies['custos_session']!)}`;
    const write = (headers: Record<string, string>) => fetch(`${server.address}/v1/secrets`, {
      method: 'POST', headers: { 'content-type': 'application/json', cookie, ...headers }, body: JSON.stringify({ name: 'dev/csrf/probe', value: 'v' }),
    });
    const none = await write({});
    assertErrorBody({ status: none.status, body: await none.json(), headers: none.headers }, 403, 'csrf_failed');
    const wrong = await write({ 'x-custos-csrf': 'A'.repeat(43) });
    assertErrorBody({ status: wrong.status, body: await wrong.json(), headers: wrong.headers }, 403, 'csrf_failed');
    // A CSRF token of another session is refused too.
    const other = await uiLogin({ token: server.token });
    const foreign = await write({ 'x-custos-csrf': other.body.csrf_token });
    assert.equal(foreign.status, 403);
    assert.equal((await api(server, 'GET', '/v1/secrets/dev/csrf/probe', { token: server.token })).status, 404, 'nothing was created');
    const read = await fetch(`${server.address}/v1/secrets`, { headers: { cookie } });
    assert.equal(read.status, 200);
    const ok = await write({ 'x-custos-csrf': body.csrf_token });
    assert.equal(ok.status, 201);
    assert.equal((await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name: 'dev/csrf/header', value: 'v' } })).status, 201);
  });

  test('userpass login works, keeps the user\'s binding, and logout revokes the session token', async () => {
    const bad = await uiLogin({ mount: 'userpass', username: 'ana', password: 'wrong password here' });
    assertErrorBody({ status: bad.response.status, body: bad.body, headers: bad.response.headers }, 401, 'invalid_credentials');
    assert.equal(bad.cookies['custos_session'], undefined);
    const { response, body, cookies } = await uiLogin({ mount: 'userpass', username: 'ana', password: PASSWORD });
    assert.equal(response.status, 200, JSON.stringify(body));
    assert.equal(body.env, 'dev');
    assert.deepEqual(body.policies, ['dev-rw']);
    const child = valueOf(cookies['custos_session']!);
    const cookie = `custos_session=${child}`;
    assert.equal((await fetch(`${server.address}/v1/ui/session`, { headers: { cookie } })).status, 200);
    const noCsrf = await fetch(`${server.address}/v1/ui/logout`, { method: 'POST', headers: { cookie } });
    assert.equal(noCsrf.status, 403, 'logout is a write: a cross-site page cannot log the user out either');
    const out = await fetch(`${server.address}/v1/ui/logout`, { method: 'POST', headers: { cookie, 'x-custos-csrf': body.csrf_token } });
    assert.equal(out.status, 200);
    assert.match(cookiesOf(out)['custos_session']!, /Max-Age=0/);
    assertErrorBody(await api(server, 'GET', '/v1/tokens/self', { token: child }), 401, 'token_revoked');
    const after = await fetch(`${server.address}/v1/ui/session`, { headers: { cookie } });
    assert.equal(after.status, 401);
  });

  test('logout after a userpass login revokes that login\'s own token too, never another login of the same user', async () => {
    const other = await api(server, 'POST', '/v1/auth/userpass/login', { body: { username: 'ana', password: PASSWORD } });
    assert.equal(other.status, 200, JSON.stringify(other.body));
    const otherToken = other.body.token as string;
    const { body, cookies } = await uiLogin({ mount: 'userpass', username: 'ana', password: PASSWORD });
    const child = valueOf(cookies['custos_session']!);
    const self = await api(server, 'GET', '/v1/tokens/self', { token: child });
    const parentAccessor = self.body.parent_accessor as string;
    const parentBefore = await api(server, 'POST', '/v1/tokens/lookup', { token: server.token, body: { accessor: parentAccessor } });
    assert.equal(parentBefore.body.revoked, false);
    assert.match(parentBefore.body.display_name, /^userpass-userpass-ana$/, 'the login token the session was made from');
    // The login made for the session never outlives it, even if nobody logs out.
    assert.ok(Date.parse(parentBefore.body.expires_at) <= Date.parse(self.body.expires_at), `${parentBefore.body.expires_at} <= ${self.body.expires_at}`);
    assert.ok(Date.parse(parentBefore.body.max_expires_at) <= Date.parse(self.body.expires_at));

    const out = await fetch(`${server.address}/v1/ui/logout`, { method: 'POST', headers: { cookie: `custos_session=${child}`, 'x-custos-csrf': body.csrf_token } });
    assert.equal(out.status, 200);
    const revoked = (await out.json() as { revoked: string[] }).revoked;
    assert.ok(revoked.includes(parentAccessor) && revoked.includes(self.body.accessor), JSON.stringify(revoked));
    const parentAfter = await api(server, 'POST', '/v1/tokens/lookup', { token: server.token, body: { accessor: parentAccessor } });
    assert.equal(parentAfter.body.revoked, true, 'the login token is revoked');
    assert.equal((await api(server, 'POST', '/v1/tokens/renew', { token: server.token, body: { accessor: parentAccessor } })).body.error.code, 'token_revoked');
    assertErrorBody(await api(server, 'GET', '/v1/tokens/self', { token: child }), 401, 'token_revoked');
    assert.equal((await api(server, 'GET', '/v1/tokens/self', { token: otherToken })).status, 200, 'another login of the same user is untouched');
  });

  test('logout after a token login leaves the typed token alone (it belongs to its owner)', async () => {
    const typed = await api(server, 'POST', '/v1/tokens', { token: server.token, body: { policies: ['dev-rw'], ttl: '2h' } });
    assert.equal(typed.status, 201);
    const { body, cookies } = await uiLogin({ token: typed.body.token });
    const child = valueOf(cookies['custos_session']!);
    const typedBefore = await api(server, 'GET', '/v1/tokens/self', { token: typed.body.token });
    const out = await fetch(`${server.address}/v1/ui/logout`, { method: 'POST', headers: { cookie: `custos_session=${child}`, 'x-custos-csrf': body.csrf_token } });
    assert.equal(out.status, 200);
    assertErrorBody(await api(server, 'GET', '/v1/tokens/self', { token: child }), 401, 'token_revoked');
    const typedAfter = await api(server, 'GET', '/v1/tokens/self', { token: typed.body.token });
    assert.equal(typedAfter.status, 200);
    assert.equal(typedAfter.body.expires_at, typedBefore.body.expires_at, 'its life is not shortened either');
  });

  test('login takes JSON only, so a cross-site form cannot log a browser in', async () => {
    const form = await fetch(`${server.address}/v1/ui/session`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ token: server.token }) });
    assert.ok(form.status >= 400 && form.status < 500, String(form.status));
    assert.equal(form.headers.getSetCookie().length, 0);
    const urlencoded = await fetch(`${server.address}/v1/ui/session`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${server.token}` });
    assert.ok(urlencoded.status >= 400 && urlencoded.status < 500);
    assert.equal(urlencoded.headers.getSetCookie().length, 0);
  });

  test('logout refuses a header-authenticated request (it would revoke a CLI token)', async () => {
    assertErrorBody(await api(server, 'POST', '/v1/ui/logout', { token: server.token }), 400, 'invalid_request');
    assert.equal((await api(server, 'GET', '/v1/tokens/self', { token: server.token })).status, 200);
  });

  test('a revoked or unknown session cookie is refused, and login and logout are audited', async () => {
    const bogus = await fetch(`${server.address}/v1/secrets`, { headers: { cookie: 'custos_session=cst_notatoken' } });
    assert.equal(bogus.status, 401);
    const events = await api(server, 'GET', '/v1/audit/events?operation=ui.login&limit=100', { token: server.token });
    assert.ok(events.body.events.some((e: any) => e.outcome === 'success' && e.detail?.method === 'userpass'));
    assert.ok(events.body.events.some((e: any) => e.outcome === 'denied' && e.detail?.method === 'userpass'));
    assert.ok(!JSON.stringify(events.body).includes(PASSWORD));
    const outs = await api(server, 'GET', '/v1/audit/events?operation=ui.logout&limit=100', { token: server.token });
    assert.ok(outs.body.events.some((e: any) => e.outcome === 'success'));
    assert.ok(!server.output().includes(PASSWORD));
  });
});

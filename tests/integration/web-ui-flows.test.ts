import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { api, startServer, type RunningServer } from '../support/custos-server.js';
import { writePolicy } from '../support/http-helpers.js';
import { enableMount, login, writeRole } from '../support/auth-helpers.js';
import { launchChromium, screenshotPath } from '../support/browser.js';
import { startIssuer, type LocalIssuer } from '../support/oidc-issuer.js';

/**
 * The web UI's two-person flows in a real Chromium: OIDC login through the local provider (and a
 * callback carrying someone else's state refused, with no session made), and change requests
 * approved by a second person on the Approvals page (self-approval refused with a clear message,
 * the held value never in the DOM or a URL).
 */
describe('web UI: OIDC login and approvals in Chromium', () => {
  let server: RunningServer;
  let idp: LocalIssuer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const urls: string[] = [];
  const cspErrors: string[] = [];
  const CANARY = 'canary-Hq7rN2kP9sX4-approval-value';
  const PASSWORD = 'correct horse battery staple 22';
  let callback = '';

  const newPage = async (): Promise<{ context: BrowserContext; page: Page }> => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    page.on('request', (r) => urls.push(r.url()));
    page.on('console', (m) => {
      if (/Content.Security.Policy|Refused to/i.test(m.text())) cspErrors.push(m.text());
    });
    page.on('dialog', (d) => void d.accept());
    return { context, page };
  };
  const sessionCookie = async (context: BrowserContext) => (await context.cookies()).find((c) => c.name === 'custos_session' && c.value !== '');
  const loginUserpass = async (page: Page, username: string) => {
    await page.goto(`${server.address}/`);
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Secrets' }).waitFor();
  };
  /** Someone else's finished trip to the provider: a valid state and code, for their own login. */
  const attackerCallback = async (): Promise<URL> => {
    idp.user = { sub: 'u-mallory', email: 'mallory@evil.example', email_verified: 'true' };
    const r = await api(server, 'POST', '/v1/auth/oidc/oidc/auth_url', { body: { role: 'people', redirect_uri: callback } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const back = await fetch(r.body.auth_url as string, { redirect: 'manual' });
    assert.equal(back.status, 302);
    return new URL(back.headers.get('location')!);
  };

  before(async () => {
    idp = await startIssuer();
    server = await startServer();
    callback = `${server.address}/ui/oidc/callback`;
    await writePolicy(server, 'dev-read', JSON.stringify({ rules: [{ path: 'dev/**', capabilities: ['read', 'list'] }] }));
    await enableMount(server, 'oidc', 'oidc', { oidc_discovery_url: idp.url, oidc_client_id: 'custos', allowed_redirect_uris: [callback], oidc_scopes: ['email'] });
    await writeRole(server, 'oidc', 'people', { policies: ['dev-read'], user_claim: 'email', bound_claims: { email_verified: 'true' }, token_ttl: '8h' });

    const approval = { approvers: ['group:platform'], min: 1 };
    await writePolicy(server, 'data-eng', JSON.stringify({ rules: [{ path: 'prod/**', capabilities: ['update', 'stage'], approval }, { path: 'prod/**', capabilities: ['read', 'list'] }] }));
    await writePolicy(server, 'platform-read', JSON.stringify({ rules: [{ path: 'prod/**', capabilities: ['read', 'list'] }] }));
    for (const name of ['prod/app/db', 'prod/app/api']) assert.equal((await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name, value: 'v0' } })).status, 201);
    await enableMount(server, 'userpass', 'userpass');
    await writeRole(server, 'userpass', 'dana', { policies: ['data-eng'], password: PASSWORD });
    await writeRole(server, 'userpass', 'pat', { policies: ['platform-read'], password: PASSWORD });
    assert.equal((await api(server, 'PUT', '/v1/groups/platform', { token: server.token, body: { policies: ['platform-read'] } })).status, 200);
    const member = await api(server, 'POST', '/v1/groups/platform/members', { token: server.token, body: { kind: 'role', value: 'userpass/pat' } });
    assert.equal(member.status, 200, JSON.stringify(member.body));
    browser = await launchChromium();
  });
  after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await server?.stop();
    server?.cleanup();
    await idp?.close();
  });

  test('sign in with the identity provider: mount and role from the URL, session cookie set, no token or code left for script', async () => {
    idp.user = { sub: 'u-ana', email: 'ana@acme.example', email_verified: 'true' };
    const { context, page } = await newPage();
    await page.goto(`${server.address}/?oidc_mount=oidc&oidc_role=people`);
    assert.equal(await page.getByLabel('Role').inputValue(), 'people', 'the role is remembered in the URL');
    await page.screenshot({ path: screenshotPath('login-oidc') });
    await page.getByRole('button', { name: 'Sign in with your identity provider' }).click();
    await page.getByRole('heading', { name: 'Secrets' }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/ui/secrets');
    assert.ok(urls.some((u) => u.startsWith(`${idp.url}/authorize`)), 'the browser went to the provider');
    const cookie = await sessionCookie(context);
    assert.ok(cookie?.httpOnly, 'an HttpOnly session cookie');
    const session = await page.evaluate(async () => (await fetch('/v1/ui/session')).json());
    assert.match(session.display_name, /ana@acme\.example/);
    assert.deepEqual(session.policies, ['dev-read']);
    assert.ok(!(await context.cookies()).some((c) => c.name === 'custos_oidc_state' && c.value !== ''), 'the state binding is spent');
    assert.doesNotMatch(await page.evaluate(() => document.cookie), /cst_|custos_session|custos_oidc/);
    assert.equal(await page.evaluate(() => localStorage.length + sessionStorage.length), 0);
    const code = new URL(urls.find((u) => u.startsWith(callback))!).searchParams.get('code')!;
    assert.ok(code.length > 10 && !server.output().includes(code), 'the authorization code is not in the server log');
    const events = (await api(server, 'GET', '/v1/audit/events?operation=ui.login', { token: server.token })).body.events as any[];
    assert.ok(events.some((e) => e.outcome === 'success' && e.detail.method === 'oidc' && e.detail.mount === 'oidc'), JSON.stringify(events));
    assert.ok(!JSON.stringify(events).includes(code), 'nor in the audit log');
  });

  test('the start sets an HttpOnly, short-lived cookie binding the state to this browser', async () => {
    const r = await fetch(`${server.address}/v1/ui/oidc/start`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mount: 'oidc', role: 'people', redirect_uri: callback }) });
    assert.equal(r.status, 200);
    const state = new URL(((await r.json()) as { auth_url: string }).auth_url).searchParams.get('state')!;
    const cookie = r.headers.get('set-cookie')!;
    assert.match(cookie, /^custos_oidc_state=[A-Za-z0-9_-]{43}; Path=\/v1\/ui\/; HttpOnly; SameSite=Lax; Max-Age=300$/);
    assert.ok(!cookie.includes(state), 'the cookie holds a hash of the state, not the state');
    const bad = await fetch(`${server.address}/v1/ui/oidc/start`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mount: 'oidc', role: 'people', redirect_uri: 'https://evil.example/ui/oidc/callback' }) });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'oidc_redirect_not_allowed');
    assert.equal(bad.headers.get('set-cookie'), null);
  });

  test('a callback with a state this browser did not start is refused, and no session is made', async () => {
    const forged = await attackerCallback();
    // A victim who never started a login is sent to the attacker's callback URL (login CSRF).
    const { context, page } = await newPage();
    await page.goto(forged.toString());
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match(await alert.innerText(), /oidc_state_invalid/);
    assert.equal(await sessionCookie(context), undefined);
    assert.doesNotMatch(page.url(), /code=/, 'the code leaves the address bar');
    // A victim who did start a login of their own: the attacker's state is still not theirs.
    await page.goto(`${server.address}/`);
    const started = await page.evaluate(async (redirect) => (await fetch('/v1/ui/oidc/start', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mount: 'oidc', role: 'people', redirect_uri: redirect }) })).status, callback);
    assert.equal(started, 200);
    const forged2 = await attackerCallback();
    await page.goto(forged2.toString());
    await page.getByRole('alert').waitFor();
    assert.match(await page.getByRole('alert').innerText(), /oidc_state_invalid/);
    assert.equal(await sessionCookie(context), undefined);
    assert.equal(await page.evaluate(async () => (await fetch('/v1/ui/session')).status), 401);
    // The same code and state in the attacker's own hands still work: only the browser binding refused them.
    assert.equal((await login(server, 'oidc', { state: forged2.searchParams.get('state'), code: forged2.searchParams.get('code') })).status, 200);
  });

  test('approvals: the requester cannot approve their own request, another person approves it, no value in the DOM', async () => {
    const dana = await login(server, 'userpass', { username: 'dana', password: PASSWORD });
    assert.equal(dana.status, 200, JSON.stringify(dana.body));
    const held = await api(server, 'POST', '/v1/values/prod/app/db', { token: dana.body.token, body: { value: CANARY } });
    assert.equal(held.status, 202, JSON.stringify(held.body));
    const id = held.body.change_request.id as string;

    const requester = await newPage();
    await loginUserpass(requester.page, 'dana');
    await requester.page.getByRole('link', { name: 'Approvals' }).click();
    const danaRow = requester.page.getByRole('row', { name: `Request ${id}` });
    await danaRow.waitFor();
    await danaRow.getByRole('button', { name: `Approve ${id}` }).click();
    const refusal = requester.page.getByRole('alert');
    await refusal.waitFor();
    assert.match(await refusal.innerText(), /You cannot approve or deny your own request.*self_approval_denied/s);
    assert.equal((await api(server, 'GET', `/v1/requests/${id}`, { token: server.token })).body.change_request.state, 'pending');

    const approver = await newPage();
    await loginUserpass(approver.page, 'pat');
    await approver.page.goto(`${server.address}/ui/approvals`);
    const row = approver.page.getByRole('row', { name: `Request ${id}` });
    await row.waitFor();
    const text = await row.innerText();
    assert.match(text, /dana/);
    assert.match(text, /secret\.write/);
    assert.match(text, /prod\/app\/db/);
    assert.match(text, /- CURRENT → \S+/);
    assert.match(text, /\+ CURRENT → new version/);
    await approver.page.screenshot({ path: screenshotPath('approvals'), fullPage: true });
    for (const p of [requester.page, approver.page]) assert.ok(!(await p.content()).includes(CANARY), 'the held value is not in the DOM');
    await row.getByRole('button', { name: `Approve ${id}` }).click();
    await approver.page.getByRole('status').filter({ hasText: `Approved ${id}: now applied` }).waitFor();
    assert.equal((await api(server, 'GET', '/v1/values/prod/app/db', { token: server.token })).body.value, CANARY, 'the write ran');
    assert.equal(await row.count(), 0, 'gone from the pending list');
    await approver.page.getByLabel('State').selectOption({ label: 'all' });
    const closed = approver.page.getByRole('row', { name: `Request ${id}` });
    await closed.filter({ hasText: 'applied' }).waitFor();
    assert.match(await closed.innerText(), /1 of 1 \(\S*pat\)/, 'who approved it');

    // A new version saved on the secret page under an approval rule is held, and the page says so.
    await requester.page.goto(`${server.address}/ui/secret/${encodeURIComponent('prod/app/api')}`);
    const form = requester.page.getByRole('form', { name: 'New version' });
    await form.getByLabel('Value').fill(CANARY);
    await form.getByRole('button', { name: 'Save version' }).click();
    const heldNotice = requester.page.getByRole('status').filter({ hasText: 'held for approval: change request chr_' });
    await heldNotice.waitFor();
    const secondId = /chr_\S+/.exec(await heldNotice.innerText())![0];
    // Deny closes a request; it never runs.
    await approver.page.reload();
    await approver.page.getByRole('button', { name: `Deny ${secondId}` }).click();
    await approver.page.getByRole('status').filter({ hasText: `Denied ${secondId}: now denied` }).waitFor();
    assert.equal((await api(server, 'GET', '/v1/values/prod/app/api', { token: server.token })).body.value, 'v0');
    // A write without the CSRF header is refused before anything runs.
    const noCsrf = await approver.page.evaluate(async (rid) => (await fetch(`/v1/requests/${rid}/approve`, { method: 'POST' })).status, secondId);
    assert.equal(noCsrf, 403);
  });

  test('no value or password in any URL; no CSP violation', () => {
    for (const url of urls) for (const needle of [CANARY, PASSWORD, encodeURIComponent(PASSWORD)]) assert.ok(!url.includes(needle), url);
    assert.ok(!server.output().includes(CANARY));
    assert.deepEqual(cspErrors, []);
  });
});

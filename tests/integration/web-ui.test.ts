import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { api, startServer, type RunningServer } from '../support/custos-server.js';
import { assertErrorBody, eventually, writePolicy } from '../support/http-helpers.js';
import { enableMount, writeRole } from '../support/auth-helpers.js';
import { launchChromium, screenshotPath } from '../support/browser.js';

/**
 * The web UI in a real Chromium (Debian's package, driven by playwright-core): login, secrets,
 * reveal and hide, audit filtering and verification, rotation with progress, label moves,
 * policies, alerts, logout; the session cookie out of page script's reach, CSRF, no value in
 * any URL or the DOM after hiding. Screenshots of each page go to test-output/screenshots/.
 */
describe('web UI in Chromium', () => {
  let server: RunningServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const CANARY_PASSWORD = 'canary-Zq8xW3vT1uP0-webui';
  const CANARY = JSON.stringify({ username: 'etl', password: CANARY_PASSWORD });
  const PASSWORD = 'correct horse battery staple 11';
  const HAND_VALUE = 'dev-value-rotated-by-hand';
  const urls: string[] = [];
  const cspErrors: string[] = [];
  const consoleLines: string[] = [];

  before(async () => {
    server = await startServer();
    const seed = [
      ['dev/app/api-key', 'dev-value-1', 'app-team'], ['dev/etl/warehouse', 'dev-value-2', 'data-eng'], ['staging/app/api-key', 'staging-value', 'app-team'],
      ['prod/app/api-key', 'prod-value', 'app-team'], ['prod/etl/airflow/fernet', 'prod-fernet', 'data-eng'],
    ];
    for (const [name, value, owner] of seed) assert.equal((await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name, value, owner, tags: { team: owner! } } })).status, 201);
    await writePolicy(server, 'dev-rw', JSON.stringify({ rules: [{ path: 'dev/**', capabilities: ['read', 'list', 'create', 'update'] }] }));
    await enableMount(server, 'userpass', 'userpass');
    await writeRole(server, 'userpass', 'ana', { policies: ['dev-rw'], env: 'dev', password: PASSWORD });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(20_000);
    page.on('request', (r) => urls.push(r.url()));
    page.on('console', (m) => {
      consoleLines.push(m.text());
      if (/Content.Security.Policy|Refused to/i.test(m.text())) cspErrors.push(m.text());
    });
    page.on('dialog', (d) => void d.accept());
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    server?.cleanup();
  });

  test('log in with a token: the session cookie is HttpOnly and invisible to page script, nothing in web storage', async () => {
    await page.goto(`${server.address}/`);
    await page.screenshot({ path: screenshotPath('login') });
    await page.getByRole('tab', { name: 'Token' }).click();
    await page.getByLabel('Token').fill(server.token);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Secrets' }).waitFor();
    const documentCookie = await page.evaluate(() => document.cookie);
    assert.match(documentCookie, /custos_csrf=/);
    assert.doesNotMatch(documentCookie, /custos_session/);
    assert.ok(!documentCookie.includes('cst_'), 'no token readable by script');
    const session = (await context.cookies()).find((c) => c.name === 'custos_session');
    assert.ok(session);
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    assert.notEqual(session.value, server.token, 'the cookie holds a child token, not the one typed');
    assert.equal(await page.evaluate(() => localStorage.length + sessionStorage.length), 0);
  });

  test('secrets are grouped by environment and searchable', async () => {
    for (const env of ['prod', 'staging', 'dev']) await page.getByRole('region', { name: `${env} secrets` }).waitFor();
    await page.screenshot({ path: screenshotPath('secrets'), fullPage: true });
    await page.getByLabel('Search secrets by name, tag or owner').fill('airflow');
    await page.getByRole('region', { name: 'dev secrets' }).waitFor({ state: 'detached' });
    await page.getByRole('link', { name: 'fernet' }).waitFor();
    await page.getByLabel('Search secrets by name, tag or owner').fill('team=data-eng');
    await page.getByRole('region', { name: 'staging secrets' }).waitFor({ state: 'detached' });
    await page.getByRole('region', { name: 'dev secrets' }).waitFor();
    assert.equal(await page.getByRole('region', { name: 'prod secrets' }).getByRole('link', { name: 'api-key' }).count(), 0, 'app-team secrets filtered out');
    await page.getByLabel('Search secrets by name, tag or owner').fill('');
  });

  test('create a secret, reveal it (masked, then shown), and hide it: the value leaves the DOM', async () => {
    await page.getByRole('button', { name: 'New secret' }).click();
    const form = page.getByRole('form', { name: 'New secret' });
    await form.getByLabel('Name').fill('prod/data/warehouse');
    await form.getByLabel('Value').fill(CANARY);
    await form.getByLabel('Description').fill('Warehouse ETL login');
    await form.getByLabel('Owner').fill('data-eng');
    await form.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('heading', { name: /prod\/data\/warehouse/ }).waitFor();
    assert.ok(!(await page.content()).includes(CANARY_PASSWORD), 'not in the DOM before reveal');
    await page.getByRole('button', { name: 'Reveal value', exact: true }).click();
    const value = page.getByTestId('secret-value');
    await value.waitFor();
    assert.ok(!(await page.content()).includes(CANARY_PASSWORD), 'masked after reveal');
    await page.getByRole('button', { name: 'Show' }).click();
    assert.equal(await value.textContent(), CANARY);
    await page.screenshot({ path: screenshotPath('secret') });
    await page.getByRole('button', { name: 'Hide' }).click();
    await page.getByRole('button', { name: 'Reveal value', exact: true }).waitFor();
    assert.equal(await page.getByTestId('secret-value').count(), 0);
    assert.ok(!(await page.content()).includes(CANARY_PASSWORD), 'gone from the DOM after hide');
  });

  test('the reveal is in the audit page; filters narrow the table; the chain verifies', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit' }).click();
    const filters = page.getByRole('form', { name: 'Filter audit events' });
    await filters.getByLabel('Secret').fill('prod/data/warehouse');
    await filters.getByLabel('Operation').fill('secret.read');
    await filters.getByRole('button', { name: 'Filter' }).click();
    const rows = page.locator('table.audit tbody tr');
    // The unfiltered table is on screen until the filtered answer arrives: wait for every row to match.
    const rowsWhere = (what: string, ok: (text: string) => boolean) => eventually(what, async () => {
      const texts = await rows.allTextContents();
      return texts.length > 0 && texts.every(ok);
    });
    await rowsWhere('only reads of the secret', (t) => t.includes('secret.read') && t.includes('prod/data/warehouse'));
    const reads = await api(server, 'GET', '/v1/audit/events?operation=secret.read&secret=prod/data/warehouse', { token: server.token });
    assert.equal(reads.body.events.length, 1, 'one reveal, one read: the value was fetched only on click');
    assert.equal(reads.body.events[0].detail.ui, true, 'marked as made from the web UI');
    assert.equal(await rows.count(), 1);
    await filters.getByLabel('Operation').fill('secret.create');
    await filters.getByRole('button', { name: 'Filter' }).click();
    await rowsWhere('only the creation', (t) => t.includes('secret.create') && t.includes('prod/data/warehouse'));
    await filters.getByLabel('Operation').fill('');
    await filters.getByLabel('Secret').fill('');
    await filters.getByRole('button', { name: 'Filter' }).click();
    await page.getByRole('button', { name: 'Verify chain' }).click();
    const status = page.getByTestId('verify-status');
    await status.waitFor();
    assert.match(await status.textContent() ?? '', /^chain verified: \d+ events/);
    const key = await api(server, 'GET', '/v1/audit/checkpoint-key', { token: server.token });
    await page.getByText(`checkpoints: ed25519 key ${key.body.fingerprint}`).waitFor();
    await page.screenshot({ path: screenshotPath('audit'), fullPage: true });
  });

  test('a write from page script without the CSRF token is refused', async () => {
    const [status, body] = await page.evaluate(async () => {
      const r = await fetch('/v1/secrets', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'dev/forged', value: 'x' }) });
      return [r.status, await r.json()] as const;
    });
    assert.equal(status, 403);
    assert.equal(body.error.code, 'csrf_failed');
    assert.equal((await api(server, 'GET', '/v1/secrets/dev/forged', { token: server.token })).status, 404);
  });

  test('configure a command rotation, rotate now and watch it complete', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Rotation' }).click();
    await page.getByLabel('Secret name').fill('prod/data/warehouse');
    await page.getByRole('button', { name: 'Open' }).click();
    const settings = page.getByLabel(/Settings \(JSON/);
    await settings.fill('{ "rotator": "nope" }');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByRole('alert').filter({ hasText: /validation|invalid/ }).waitFor();
    await settings.fill(JSON.stringify({ rotator: 'command', command: { path: '/bin/true' }, every_seconds: 2592000 }));
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('settings saved').waitFor();
    await page.getByRole('button', { name: 'Rotate now' }).click();
    await page.getByTestId('rotation-status').filter({ hasText: 'succeeded' }).waitFor({ timeout: 60_000 });
    await page.getByRole('cell', { name: 'prod/data/warehouse' }).waitFor();
    await page.screenshot({ path: screenshotPath('rotation'), fullPage: true });
    const described = await api(server, 'GET', '/v1/secrets/prod/data/warehouse', { token: server.token });
    assert.equal(described.body.versions.length, 2, 'the rotation made a new version');
  });

  test('move a label back with confirmation', async () => {
    await page.goto(`${server.address}/ui/secret/${encodeURIComponent('prod/data/warehouse')}`);
    const described = await api(server, 'GET', '/v1/secrets/prod/data/warehouse', { token: server.token });
    const previous = described.body.versions.find((v: any) => v.labels.includes('PREVIOUS')).version_id;
    const form = page.getByRole('form', { name: 'Move label' });
    await form.getByLabel('To version').selectOption(previous);
    await form.getByRole('button', { name: 'Move…' }).click();
    await page.getByText('label CURRENT moved').waitFor();
    const after = await api(server, 'GET', '/v1/secrets/prod/data/warehouse', { token: server.token });
    assert.ok(after.body.versions.find((v: any) => v.version_id === previous).labels.includes('CURRENT'));
  });

  test('policies: an invalid document is refused with its reason, a valid one saves', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Access' }).click();
    await page.getByRole('button', { name: 'dev-rw' }).click();
    const editor = page.getByRole('form', { name: 'Policy editor' });
    await editor.getByText('rule(s) in force').waitFor(); // loaded: typing now is not overwritten
    await editor.getByLabel(/Document/).fill('rules:\n  - path: "prod/**"\n    capabilities: [fly]\n');
    await editor.getByRole('button', { name: 'Save policy' }).click();
    await page.getByRole('alert').filter({ hasText: 'invalid_policy' }).waitFor();
    await editor.getByLabel('Name').fill('prod-read');
    await editor.getByLabel(/Document/).fill('rules:\n  - path: "prod/**"\n    capabilities: [read]\n');
    await editor.getByRole('button', { name: 'Save policy' }).click();
    await page.getByText('saved prod-read: 1 rule(s)').waitFor();
    const sim = page.getByRole('form', { name: 'Who can access a path' });
    await sim.getByLabel('Path').fill('prod/data/warehouse');
    await sim.getByRole('button', { name: 'Check' }).click();
    await sim.getByText('prod-read: read').waitFor();
    await page.getByText('ana (dev)').waitFor(); // the userpass user, under its mount
    await page.screenshot({ path: screenshotPath('access'), fullPage: true });
    assert.equal((await api(server, 'GET', '/v1/policies/prod-read', { token: server.token })).status, 200);
  });

  test('alerts page lists alerts', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Alerts' }).click();
    await page.getByRole('heading', { name: 'Alerts' }).waitFor();
    await page.getByText(/No firing alerts|Ack/).first().waitFor();
    await page.screenshot({ path: screenshotPath('alerts'), fullPage: true });
  });

  test('reports: inventory with its summary and rows, then the access report', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Reports' }).click();
    await page.getByRole('heading', { level: 2 }).filter({ hasText: /inventory/i }).waitFor();
    await page.getByRole('cell', { name: 'prod/data/warehouse' }).first().waitFor();
    await page.screenshot({ path: screenshotPath('reports'), fullPage: true });
    await page.getByLabel('Report kind').selectOption('access');
    await page.getByRole('heading', { level: 2 }).filter({ hasText: /access/i }).waitFor();
  });

  test('audit pages move by sequence number, oldest first', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit' }).click();
    const filters = page.getByRole('form', { name: 'Filter audit events' });
    await filters.getByLabel('Order').selectOption('asc');
    await filters.getByRole('button', { name: 'Filter' }).click();
    const firstSeq = page.locator('table.audit tbody tr:first-child td:first-child');
    await firstSeq.filter({ hasText: /^1$/ }).waitFor();
    assert.equal(await page.locator('table.audit tbody tr').count(), 50);
    await page.getByRole('button', { name: 'Next page' }).click();
    await firstSeq.filter({ hasText: /^51$/ }).waitFor();
    await page.getByRole('button', { name: 'Previous page' }).click();
    await firstSeq.filter({ hasText: /^1$/ }).waitFor();
  });

  test('new version, delete and restore from the secret page', async () => {
    await page.goto(`${server.address}/ui/secret/${encodeURIComponent('dev/app/api-key')}`);
    const form = page.getByRole('form', { name: 'New version' });
    await form.getByLabel('Value').fill(HAND_VALUE);
    await form.getByRole('button', { name: 'Save version' }).click();
    await page.getByText('new version saved').waitFor();
    assert.equal((await api(server, 'GET', '/v1/values/dev/app/api-key', { token: server.token })).body.value, 'dev-value-rotated-by-hand');
    await page.getByRole('button', { name: 'Delete…' }).click();
    await page.getByText('scheduled for deletion').waitFor();
    assert.ok((await api(server, 'GET', '/v1/secrets/dev/app/api-key', { token: server.token })).body.deleted_at);
    await page.getByRole('button', { name: 'Restore' }).click();
    await page.getByText('restored').waitFor();
    assert.equal((await api(server, 'GET', '/v1/secrets/dev/app/api-key', { token: server.token })).body.deleted_at, null);
  });

  test('log out: back to the login form, and the session token is revoked', async () => {
    const session = (await context.cookies()).find((c) => c.name === 'custos_session')!;
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('button', { name: 'Log in' }).waitFor();
    assertErrorBody(await api(server, 'GET', '/v1/tokens/self', { token: session.value }), 401, 'token_revoked');
    assert.equal((await api(server, 'GET', '/v1/tokens/self', { token: server.token })).status, 200, 'the token typed at login is untouched');
    await page.goto(`${server.address}/ui/secrets`);
    await page.getByRole('button', { name: 'Log in' }).waitFor();
  });

  test('a userpass user on a phone-sized screen sees only what their policy lists', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 } });
    try {
      const p = await phone.newPage();
      p.setDefaultTimeout(20_000);
      p.on('request', (r) => urls.push(r.url()));
      await p.goto(`${server.address}/`);
      await p.getByLabel('Username').fill('ana');
      await p.getByLabel('Password').fill(PASSWORD);
      await p.getByRole('button', { name: 'Log in' }).click();
      await p.getByRole('region', { name: 'dev secrets' }).waitFor();
      assert.equal(await p.getByRole('region', { name: 'prod secrets' }).count(), 0);
      await p.screenshot({ path: screenshotPath('secrets-phone'), fullPage: true });
      await p.getByRole('button', { name: 'Log out' }).click();
      await p.getByRole('button', { name: 'Log in' }).waitFor();
    } finally {
      await phone.close();
    }
  });

  test('no value in any URL, the browser console or the server output; no CSP violation', () => {
    assert.ok(urls.length > 20, `requests seen: ${urls.length}`);
    for (const url of urls) {
      for (const needle of [CANARY_PASSWORD, HAND_VALUE, encodeURIComponent(CANARY_PASSWORD), PASSWORD, encodeURIComponent(PASSWORD), server.token]) assert.ok(!url.includes(needle), url);
    }
    assert.ok(!server.output().includes(CANARY_PASSWORD));
    assert.ok(consoleLines.every((line) => !line.includes(CANARY_PASSWORD) && !line.includes(HAND_VALUE)), 'no value in the browser console');
    assert.deepEqual(cspErrors, []);
  });
});

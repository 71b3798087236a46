import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { api, startServer, type RunningServer } from '../support/custos-server.js';
import { assertErrorBody, createToken, eventually, writePolicy } from '../support/http-helpers.js';
import { enableMount, writeRole } from '../support/auth-helpers.js';
import { launchChromium, screenshotPath } from '../support/browser.js';

/**
 * The web UI's management pages in Chromium: signed checkpoints beside the chain status, failing
 * rotations in the overview, and on the Access page tokens, AWS keys and auth roles made, edited
 * and revoked through the API (the one-time secret masked, copyable, gone from the DOM after
 * close; a policy the session does not hold refused with the server's reason); logout after a
 * userpass login revokes that login's token. Screenshots go to test-output/screenshots/.
 */
describe('web UI: checkpoints, failing rotations, managing access', () => {
  let server: RunningServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let dir: string;
  const LEAD_PASSWORD = 'lead password for the manage test 7';
  const BOB_PASSWORD = 'bob password set from the UI 42';
  const ROTATING_VALUE = 'rotating-value-never-shown-Kq71';
  const failing = 'dev/etl/warehouse-rotation';
  const secretsSeen: string[] = []; // one-time secrets shown in the page: none may outlive their dialog
  const urls: string[] = [];
  const consoleLines: string[] = [];
  const cspErrors: string[] = [];
  const nav = (name: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name }).click();
  const dom = () => page.evaluate(() => document.documentElement.outerHTML);

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'custos-ui-manage-'));
    server = await startServer({ env: { CUSTOS_AUDIT_CHECKPOINT_EVENTS: '3' } });
    assert.equal((await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name: failing, value: ROTATING_VALUE } })).status, 201);
    await writePolicy(server, 'dev-read', JSON.stringify({ rules: [{ path: 'dev/**', capabilities: ['read', 'list'] }] }));
    await writePolicy(server, 'prod-admin', JSON.stringify({ rules: [{ path: 'prod/**', capabilities: ['read', 'list', 'create', 'update', 'delete'] }] }));
    await writePolicy(server, 'access-admin', JSON.stringify({
      rules: [
        { path: 'sys:tokens', capabilities: ['create', 'read', 'update', 'delete'] },
        { path: 'sys:aws-keys', capabilities: ['create', 'list', 'delete'] },
        { path: 'sys:auth', capabilities: ['list'] },
        { path: 'sys:auth/*/role/*', capabilities: ['read', 'update', 'delete'] },
        { path: 'sys:policies', capabilities: ['list'] },
        { path: 'sys:policies/*', capabilities: ['read'] },
      ],
    }));
    await enableMount(server, 'userpass', 'userpass');
    await enableMount(server, 'approle', 'approle');
    await writeRole(server, 'userpass', 'lead', { policies: ['access-admin', 'dev-read'], password: LEAD_PASSWORD, token_ttl: '8h' });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.address });
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
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('audit page: signed checkpoints beside the chain status, newest first, paged', async () => {
    for (let i = 0; i < 9; i++) assert.equal((await api(server, 'GET', `/v1/secrets/${failing}`, { token: server.token })).status, 200);
    await page.goto(`${server.address}/`);
    await page.getByRole('tab', { name: 'Token' }).click();
    await page.getByLabel('Token').fill(server.token);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Secrets' }).waitFor();
    await nav('Audit');
    const table = page.getByRole('table', { name: 'Signed checkpoints' });
    await table.waitFor();
    // A verify reloads the list: wait for that answer and its rows.
    const reloaded = page.waitForResponse((r) => r.url().includes('/v1/audit/checkpoints'));
    await page.getByRole('button', { name: 'Verify chain' }).click();
    await page.getByTestId('verify-status').filter({ hasText: /^chain verified/ }).waitFor();
    const shownSeq = (await (await reloaded).json()).checkpoints[0].seq as number;
    const firstRow = table.locator('tbody tr').first();
    const seqOf = async () => Number(await firstRow.locator('td').first().textContent());
    await eventually('the reloaded list', async () => (await seqOf()) === shownSeq);
    // The page's own requests are audited, so newer checkpoints may be signed after it loaded:
    // compare with the API's listing from the row the page shows.
    const listed = await api(server, 'GET', '/v1/audit/checkpoints?limit=30', { token: server.token });
    const seqs = listed.body.checkpoints.map((c: { seq: number }) => c.seq);
    const at = seqs.indexOf(shownSeq);
    assert.ok(at >= 0 && at <= 2, `the page shows one of the newest checkpoints: ${shownSeq} in ${seqs}`);
    const shown = listed.body.checkpoints[at];
    assert.match(await firstRow.textContent() ?? '', new RegExp(`${shown.hash.slice(0, 16)}….*verified.*in chain`));
    assert.equal(await firstRow.locator('code').getAttribute('title'), shown.hash, 'the whole head hash on hover');
    await page.screenshot({ path: screenshotPath('audit-checkpoints'), fullPage: true });
    // Pages of five: the next page starts five checkpoints further back.
    assert.ok(seqs.length > at + 5, `checkpoints: ${seqs.length}`);
    assert.equal(await table.locator('tbody tr').count(), 5);
    await page.getByRole('button', { name: 'Older checkpoints' }).click();
    await eventually('the next page', async () => (await seqOf()) === seqs[at + 5]);
    await page.getByRole('button', { name: 'Newer checkpoints' }).click();
    await eventually('back to the newest', async () => (await seqOf()) >= shownSeq);
  });

  test('rotation overview: a command rotator that exits non-zero is listed as failing, with its error and no value', async () => {
    const script = path.join(dir, 'fails-at-test.sh');
    writeFileSync(script, '#!/bin/sh\n[ "$CUSTOS_ROTATION_STEP" = "test" ] && exit 5\nexit 0\n');
    chmodSync(script, 0o755);
    const configured = await api(server, 'PUT', `/v1/rotation/${failing}`, { token: server.token, body: { settings: { rotator: 'command', command: { path: script }, every_seconds: 2592000 } } });
    assert.equal(configured.status, 200, JSON.stringify(configured.body));
    await nav('Rotation');
    const row = page.getByRole('table', { name: 'Rotation overview' }).getByRole('row').filter({ hasText: failing });
    await row.waitFor();
    assert.doesNotMatch(await row.textContent() ?? '', /failing/);
    await row.getByRole('button', { name: failing }).click();
    await page.getByRole('button', { name: 'Rotate now' }).click();
    await page.getByTestId('rotation-status').filter({ hasText: 'failed' }).waitFor({ timeout: 60_000 });
    await row.getByTestId('rotation-state').filter({ hasText: 'failing: failed' }).waitFor();
    assert.match(await row.textContent() ?? '', /the rotation command exited with 5 at step test/);
    await page.getByRole('button', { name: /^failing \(1\)$/ }).click();
    assert.equal(await page.getByRole('table', { name: 'Rotation overview' }).locator('tbody tr').count(), 1, 'only the failing one');
    await page.screenshot({ path: screenshotPath('rotation-failing'), fullPage: true });
    assert.ok(!(await dom()).includes(ROTATING_VALUE), 'no value in the page');
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('button', { name: 'Log in' }).waitFor();
  });

  test('tokens: created with a one-time secret (masked, copyable, gone after close), refused beyond the session\'s policies, revoked', async () => {
    await page.getByLabel('Username').fill('lead');
    await page.getByLabel('Password').fill(LEAD_PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Secrets' }).waitFor();
    await nav('Access');
    const create = page.getByRole('form', { name: 'Create a token' });

    // Abuse first: page script without the CSRF header, then a policy this session does not hold.
    const noCsrf = await page.evaluate(async () => {
      const r = await fetch('/v1/tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ policies: ['dev-read'] }) });
      return { status: r.status, body: await r.text() };
    });
    assert.equal(noCsrf.status, 403);
    assert.match(noCsrf.body, /csrf_failed/);
    assert.doesNotMatch(noCsrf.body, /cst_/, 'no token made');
    await create.getByLabel('Policies').fill('dev-read, prod-admin');
    await create.getByRole('button', { name: 'Create token' }).click();
    const refusal = page.getByRole('region', { name: 'Tokens' }).getByRole('alert');
    await refusal.waitFor();
    assert.match(await refusal.textContent() ?? '', /^permission_denied: a token can only carry policies the caller holds \(not: prod-admin\)/);
    assert.equal(await page.getByRole('dialog').count(), 0, 'no token was made');

    await create.getByLabel('Policies').fill('dev-read');
    await create.getByLabel('TTL').fill('30m');
    await create.getByLabel('Display name').fill('airflow-dev');
    await create.getByRole('button', { name: 'Create token' }).click();
    const dialog = page.getByRole('dialog', { name: 'New token' });
    await dialog.waitFor();
    const masked = await dialog.getByTestId('once-value').textContent() ?? '';
    assert.match(masked, /^•+$/, 'masked until Show');
    await page.screenshot({ path: screenshotPath('access-token-once'), fullPage: true });
    await dialog.getByRole('button', { name: 'Copy' }).click();
    await dialog.getByText('copied').waitFor();
    const token = await page.evaluate(() => navigator.clipboard.readText());
    assert.match(token, /^cst_[A-Za-z0-9_-]{43}$/);
    secretsSeen.push(token);
    assert.ok(!(await dom()).includes(token), 'masked: not in the DOM');
    await dialog.getByRole('button', { name: 'Show' }).click();
    assert.equal(await dialog.getByTestId('once-value').textContent(), token);
    const self = await api(server, 'GET', '/v1/tokens/self', { token });
    assert.equal(self.status, 200);
    assert.deepEqual(self.body.policies, ['dev-read']);
    assert.equal(self.body.display_name, 'airflow-dev');
    await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.ok(!(await dom()).includes(token), 'closed: gone from the DOM');
    assert.equal(await page.evaluate(() => localStorage.length + sessionStorage.length), 0);

    // Revoke from the list of tokens made here, then another by its accessor.
    const made = page.getByRole('table', { name: 'Tokens made here' });
    await made.getByRole('button', { name: `Revoke ${self.body.accessor}` }).click();
    await page.getByRole('region', { name: 'Tokens' }).getByRole('status').filter({ hasText: 'revoked 1 token(s)' }).waitFor();
    assertErrorBody(await api(server, 'GET', '/v1/tokens/self', { token }), 401, 'token_revoked');
    const other = await createToken(server, { policies: ['dev-read'] });
    const revoke = page.getByRole('form', { name: 'Revoke a token' });
    await revoke.getByLabel('Accessor').fill(other.accessor);
    await revoke.getByRole('button', { name: 'Revoke token' }).click();
    await eventually('the other token revoked', async () => (await api(server, 'GET', '/v1/tokens/self', { token: other.token })).status === 401);
  });

  test('AWS access keys: created with the secret key shown once, refused beyond the session\'s policies, revoked', async () => {
    const create = page.getByRole('form', { name: 'Create an AWS access key' });
    const region = page.getByRole('region', { name: 'AWS access keys' });
    await create.getByLabel('Policies').fill('prod-admin');
    await create.getByRole('button', { name: 'Create key' }).click();
    await region.getByRole('alert').filter({ hasText: /permission_denied: .*not: prod-admin/ }).waitFor();

    await create.getByLabel('Policies').fill('dev-read');
    await create.getByLabel('Display name').fill('spark-dev');
    await create.getByRole('button', { name: 'Create key' }).click();
    const dialog = page.getByRole('dialog', { name: 'New AWS secret access key' });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Show' }).click();
    const secretKey = await dialog.getByTestId('once-value').textContent() ?? '';
    assert.ok(secretKey.length >= 30, 'a secret access key');
    secretsSeen.push(secretKey);
    const keyId = await dialog.locator('p code').textContent();
    assert.ok(keyId);
    const listed = await api(server, 'GET', '/v1/aws/keys', { token: server.token });
    const key = listed.body.keys.find((k: { access_key_id: string }) => k.access_key_id === keyId);
    assert.deepEqual(key?.policies, ['dev-read']);
    assert.ok(!JSON.stringify(listed.body).includes(secretKey), 'the list never carries the secret');
    await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.ok(!(await dom()).includes(secretKey), 'closed: gone from the DOM');

    await region.getByRole('button', { name: `Revoke ${keyId}` }).click();
    await region.getByRole('status').filter({ hasText: `revoked ${keyId}` }).waitFor();
    const after = await api(server, 'GET', '/v1/aws/keys', { token: server.token });
    assert.equal(after.body.keys.find((k: { access_key_id: string }) => k.access_key_id === keyId)?.revoked, true);
    await page.screenshot({ path: screenshotPath('access-manage'), fullPage: true });
  });

  test('auth roles: create, edit and delete an AppRole role; a userpass user; no policy beyond the session\'s', async () => {
    const region = page.getByRole('region', { name: 'Auth methods and roles' });
    await region.getByRole('button', { name: 'New role on approle' }).click();
    const editor = page.getByRole('form', { name: 'Role editor' });
    await editor.getByLabel('Role name').fill('etl-job');
    await editor.getByLabel(/^Role \(JSON/).fill(JSON.stringify({ policies: ['prod-admin'] }));
    await editor.getByRole('button', { name: 'Save role' }).click();
    await region.getByRole('alert').filter({ hasText: /permission_denied: a role can only carry policies the caller holds \(not: prod-admin\)/ }).waitFor();
    assertErrorBody(await api(server, 'GET', '/v1/auth/approle/role/etl-job', { token: server.token }), 404, 'role_not_found');

    await editor.getByLabel(/^Role \(JSON/).fill(JSON.stringify({ policies: ['dev-read'], token_ttl: 3600 }));
    await editor.getByRole('button', { name: 'Save role' }).click();
    await region.getByRole('status').filter({ hasText: 'saved role etl-job on approle' }).waitFor();
    await region.getByRole('button', { name: 'Edit approle role etl-job' }).click();
    const json = JSON.parse(await editor.getByLabel(/^Role \(JSON/).inputValue());
    assert.deepEqual(json.policies, ['dev-read']);
    assert.equal(json.role_id, undefined, 'server-made fields are not in the editor');
    await editor.getByLabel(/^Role \(JSON/).fill(JSON.stringify({ ...json, token_ttl: 600 }));
    await editor.getByRole('button', { name: 'Save role' }).click();
    await eventually('the edit saved', async () => (await api(server, 'GET', '/v1/auth/approle/role/etl-job', { token: server.token })).body.token_ttl === 600);
    await editor.getByRole('button', { name: 'Delete role' }).click();
    await region.getByRole('status').filter({ hasText: 'deleted role etl-job on approle' }).waitFor();
    assertErrorBody(await api(server, 'GET', '/v1/auth/approle/role/etl-job', { token: server.token }), 404, 'role_not_found');

    await region.getByRole('button', { name: 'New role on userpass' }).click();
    await editor.getByLabel('Role name').fill('bob');
    await editor.getByLabel(/^Role \(JSON/).fill(JSON.stringify({ policies: ['dev-read'] }));
    await editor.getByLabel(/^Password/).fill(BOB_PASSWORD);
    await editor.getByRole('button', { name: 'Save role' }).click();
    await region.getByRole('status').filter({ hasText: 'saved role bob on userpass' }).waitFor();
    assert.equal(await editor.getByLabel(/^Password/).inputValue(), '', 'the password field is emptied after saving');
    const bob = await api(server, 'POST', '/v1/auth/userpass/login', { body: { username: 'bob', password: BOB_PASSWORD } });
    assert.equal(bob.status, 200, JSON.stringify(bob.body));
    assert.deepEqual(bob.body.policies, ['dev-read']);
  });

  test('keyboard: the one-time dialog takes focus on Copy and Escape closes it', async () => {
    const create = page.getByRole('form', { name: 'Create a token' });
    await create.getByLabel('Policies').fill('dev-read');
    await create.getByRole('button', { name: 'Create token' }).focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'New token' });
    await dialog.waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Copy');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole('region', { name: 'Auth methods and roles' }).scrollIntoViewIfNeeded();
    await page.screenshot({ path: screenshotPath('access-phone'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  test('logout after the userpass login revokes the login token as well as the session (and what it made)', async () => {
    const session = (await context.cookies()).find((c) => c.name === 'custos_session')!;
    const self = await api(server, 'GET', '/v1/tokens/self', { token: session.value });
    const parent = self.body.parent_accessor as string;
    assert.equal((await api(server, 'POST', '/v1/tokens/lookup', { token: server.token, body: { accessor: parent } })).body.revoked, false);
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('button', { name: 'Log in' }).waitFor();
    assertErrorBody(await api(server, 'GET', '/v1/tokens/self', { token: session.value }), 401, 'token_revoked');
    const login = await api(server, 'POST', '/v1/tokens/lookup', { token: server.token, body: { accessor: parent } });
    assert.equal(login.body.revoked, true, 'the userpass login token is revoked');
    assert.equal((await api(server, 'GET', '/v1/tokens/self', { token: server.token })).status, 200);
  });

  test('no one-time secret or password in any URL or console line; no CSP violation', () => {
    assert.equal(secretsSeen.length, 2);
    assert.ok(urls.length > 20, `requests seen: ${urls.length}`);
    for (const url of urls) {
      for (const needle of [...secretsSeen, ...secretsSeen.map(encodeURIComponent), LEAD_PASSWORD, encodeURIComponent(LEAD_PASSWORD), BOB_PASSWORD, encodeURIComponent(BOB_PASSWORD), ROTATING_VALUE]) {
        assert.ok(!url.includes(needle), url);
      }
    }
    for (const line of consoleLines) for (const needle of [...secretsSeen, LEAD_PASSWORD, BOB_PASSWORD]) assert.ok(!line.includes(needle), line);
    for (const needle of [...secretsSeen, BOB_PASSWORD, ROTATING_VALUE]) assert.ok(!server.output().includes(needle), 'not in the server output');
    assert.deepEqual(cspErrors, []);
  });
});

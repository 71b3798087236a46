import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createApiClient } from '../../src/sdk/api-client.js';
import { api, runCli, startServer, type RunningServer } from '../support/custos-server.js';

describe('inventory import/export and login/logout', () => {
  let server: RunningServer;
  let dir: string;
  let root: ReturnType<typeof createApiClient>;
  const custos = (args: string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}) => runCli(args, { server, ...options });

  before(async () => {
    server = await startServer({ logLevel: 'warn' });
    root = createApiClient({ address: server.address, token: server.token });
    dir = mkdtempSync(path.join(os.tmpdir(), 'custos-inventory-'));
  });
  after(async () => {
    await server.stop();
    server.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const inventory = [
    { path: 'prod/billing/stripe-api-key', owner: 'payments-team', env: 'prod', rotation_days: 90, description: 'Stripe restricted key for the billing sync' },
    { path: 'prod/warehouse/loader', owner: 'data-platform', env: 'prod', rotation_days: 30, description: 'Redshift loader user' },
    { path: 'staging/warehouse/loader', owner: 'data-platform', env: 'staging', rotation_days: null, description: null },
  ];

  test('import creates secrets with metadata and tags, values provided or generated; export writes the same inventory back', async () => {
    writeFileSync(path.join(dir, 'inventory.json'), JSON.stringify(inventory));
    writeFileSync(path.join(dir, 'values.json'), JSON.stringify({ 'prod/billing/stripe-api-key': 'rk_live_provided' }));
    const r = await custos(['import', path.join(dir, 'inventory.json'), '--values', path.join(dir, 'values.json'), '--generate', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), [
      { path: 'prod/billing/stripe-api-key', result: 'created', value: 'provided' },
      { path: 'prod/warehouse/loader', result: 'created', value: 'generated' },
      { path: 'staging/warehouse/loader', result: 'created', value: 'generated' },
    ]);
    assert.ok(!r.stdout.includes('rk_live_provided'));
    assert.equal((await root.getValue('prod/billing/stripe-api-key')).value, 'rk_live_provided');
    const g1 = (await root.getValue('prod/warehouse/loader')).value!;
    const g2 = (await root.getValue('staging/warehouse/loader')).value!;
    assert.equal(g1.length, 32);
    assert.notEqual(g1, g2);
    const described = await root.describe('prod/warehouse/loader');
    assert.equal(described.owner, 'data-platform');
    assert.equal(described.description, 'Redshift loader user');
    assert.deepEqual(described.tags, { env: 'prod', rotation_days: '30' });

    const exported = path.join(dir, 'exported.json');
    const e = await custos(['export', '--inventory', '-o', exported]);
    assert.equal(e.code, 0, e.stderr);
    const text = readFileSync(exported, 'utf8');
    assert.deepEqual(JSON.parse(text), [...inventory].sort((a, b) => a.path.localeCompare(b.path)));
    assert.ok(!text.includes(g1) && !text.includes('rk_live_provided'), 'metadata only');

    // Re-importing is safe: metadata is brought in line, values are never overwritten.
    const changed = inventory.map((i) => (i.path === 'prod/warehouse/loader' ? { ...i, owner: 'new-owner', rotation_days: 7 } : i));
    writeFileSync(path.join(dir, 'inventory2.json'), JSON.stringify(changed));
    const again = await custos(['import', path.join(dir, 'inventory2.json'), '--generate', '--json']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stderr, '', 'no progress on a pipe');
    assert.ok((JSON.parse(again.stdout) as { result: string }[]).every((x) => x.result === 'updated'));
    const shown = await custos(['import', path.join(dir, 'inventory2.json'), '--generate', '--json'], { env: { CUSTOS_PROGRESS: 'always' } });
    assert.match(shown.stderr, /^importing: 0\/3 \(0%\) prod\/billing\/stripe-api-key\n(.*\n)*importing: 3\/3 \(100%\)\n$/);
    assert.equal((await root.getValue('prod/warehouse/loader')).value, g1);
    const after = await root.describe('prod/warehouse/loader');
    assert.equal(after.owner, 'new-owner');
    assert.equal(after.tags.rotation_days, '7');
  });

  test("rotation set without --every or --cron schedules the inventory's rotation_days", async () => {
    const set = (name: string, extra: string[] = []) => custos(['rotation', 'set', name, '--rotator', 'command', '--command', '/bin/true', ...extra, '--json']);
    const fromInventory = await set('prod/billing/stripe-api-key');
    assert.equal(fromInventory.code, 0, fromInventory.stderr);
    assert.match(fromInventory.stderr, /every 90 days, from the inventory's rotation_days/);
    const status = JSON.parse(fromInventory.stdout);
    assert.equal(status.settings.every_seconds, 90 * 86_400);
    const dueInDays = (Date.parse(status.next_due_at) - Date.now()) / 86_400_000;
    assert.ok(dueInDays > 89 && dueInDays <= 90, `next due in ${dueInDays} days`);
    // An explicit schedule wins; no recorded rotation_days means on demand only.
    const explicit = await set('prod/billing/stripe-api-key', ['--every', '7d']);
    assert.equal(JSON.parse(explicit.stdout).settings.every_seconds, 7 * 86_400);
    assert.doesNotMatch(explicit.stderr, /inventory/);
    const none = await set('staging/warehouse/loader');
    assert.equal(none.code, 0, none.stderr);
    assert.equal(JSON.parse(none.stdout).settings.every_seconds, undefined);
    assert.equal(JSON.parse(none.stdout).next_due_at, null);
  });

  test('an inconsistent inventory is rejected before anything is created', async () => {
    const cases: [unknown, RegExp][] = [
      [[{ path: 'prod/x/one', env: 'staging' }], /env "staging" does not match the first path segment "prod"/],
      [[{ path: 'prod/x/two', rotation_days: 'often' }], /rotation_days/],
      [[{ path: 'prod/x/three', colour: 'blue' }], /unknown key "colour"/],
      [[{ path: 'prod/x/four' }], /no value for prod\/x\/four/],
    ];
    for (const [items, message] of cases) {
      writeFileSync(path.join(dir, 'bad.json'), JSON.stringify(items));
      const r = await custos(['import', path.join(dir, 'bad.json')]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, message);
    }
    const listed = await root.list({ prefix: 'prod/x/' });
    assert.deepEqual(listed.secrets, []);
  });

  test('login verifies and stores the token 0600; logout --revoke revokes and removes it', async () => {
    await root.writePolicy('reader', 'rules:\n  - path: "prod/**"\n    capabilities: [read, list]\n');
    const { token } = await root.createToken({ policies: ['reader'], displayName: 'ci-runner' });
    const home = path.join(dir, 'home');
    mkdirSync(home);
    const env = { HOME: home };
    const tokenFile = path.join(home, '.custos', 'token');

    const bad = await custos(['login'], { env, input: 'cst_wrong_token\n' });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /invalid_token/);
    assert.equal(existsSync(tokenFile), false);

    const viaStdin = await custos(['login'], { env, input: token + '\n' });
    assert.equal(viaStdin.code, 0, viaStdin.stderr);
    assert.match(viaStdin.stdout, /as ci-runner/);
    assert.ok(!viaStdin.stdout.includes(token) && !viaStdin.stderr.includes(token), 'the token is never printed');
    assert.equal(readFileSync(tokenFile, 'utf8').trim(), token);
    assert.equal(statSync(tokenFile).mode & 0o777, 0o600);

    writeFileSync(path.join(dir, 'token.txt'), token + '\n');
    const viaFile = await custos(['login', '--token-file', path.join(dir, 'token.txt')], { env });
    assert.equal(viaFile.code, 0, viaFile.stderr);

    const read = await custos(['secret', 'get', 'prod/billing/stripe-api-key'], { env });
    assert.equal(read.stdout, 'rk_live_provided\n', 'the CLI uses the stored token');

    const out = await custos(['logout', '--revoke'], { env });
    assert.equal(out.code, 0, out.stderr);
    assert.equal(existsSync(tokenFile), false);
    assert.equal((await api(server, 'GET', '/v1/tokens/self', { token })).status, 401, 'revoked');
    assert.match((await custos(['logout'], { env })).stdout, /Not logged in/);
  });
});

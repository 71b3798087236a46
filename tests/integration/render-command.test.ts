import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { parseEnvFile } from '../../src/cli/commands/run.js';
import { createApiClient } from '../../src/sdk/api-client.js';
import { repoRoot, runCli, startServer, type RunningServer } from '../support/custos-server.js';

const fixture = (name: string) => path.join(repoRoot, 'tests/fixtures/render', name);
const PASSWORD = 'p@ss"w\\rd: #1\'x';

describe('custos render', () => {
  let server: RunningServer;
  let out: string;
  let limitedToken: string;
  const custos = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, { server, env });

  before(async () => {
    server = await startServer({ logLevel: 'warn' });
    out = mkdtempSync(path.join(os.tmpdir(), 'custos-render-'));
    const root = createApiClient({ address: server.address, token: server.token });
    await root.createSecret({ name: 'prod/data/warehouse', value: JSON.stringify({ host: 'wh.internal', username: 'dbt_prod', password: PASSWORD, dbname: 'analytics' }) });
    await root.createSecret({ name: 'prod/data/api-key', value: 'key-old' });
    await root.putValue('prod/data/api-key', { value: 'key-new' });
    await root.createSecret({ name: 'prod/restricted/admin', value: JSON.stringify({ password: 'admin-secret' }) });
    await root.writePolicy('data-reader', 'rules:\n  - path: "prod/data/**"\n    capabilities: [read]\n');
    limitedToken = (await root.createToken({ policies: ['data-reader'] })).token;
  });
  after(async () => {
    await server.stop();
    server.cleanup();
    rmSync(out, { recursive: true, force: true });
  });

  test('a dbt profiles.yml renders to valid YAML with the exact values; comments stay untouched', async () => {
    const r = await custos(['render', fixture('profiles.yml')]);
    assert.equal(r.code, 0, r.stderr);
    const prod = (parseYaml(r.stdout) as { analytics: { outputs: { prod: Record<string, unknown> } } }).analytics.outputs.prod;
    assert.deepEqual(prod, { type: 'redshift', host: 'wh.internal', port: 5439, user: 'dbt_prod', password: PASSWORD, dbname: 'analytics', schema: 'analytics', sslmode: 'require' });
    assert.match(r.stdout, /# old: secret:\/\/prod\/data\/never-resolved/);
  });

  test('JSON renders with JSON escaping, labels honoured; -o writes mode 0600 even over an existing file', async () => {
    const target = path.join(out, 'pipeline-config.json');
    writeFileSync(target, 'old', { mode: 0o644 });
    const root = createApiClient({ address: server.address, token: server.token });
    const batches = async () => (await root.auditEvents({ operation: 'secret.read_batch', limit: 1000 })).events.length;
    const batchesBefore = await batches();
    const r = await custos(['render', fixture('pipeline-config.json'), '-o', target]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await batches(), batchesBefore + 1, 'every secret the file names is read in one request');
    assert.equal(r.stdout, '', 'nothing printed');
    assert.equal(statSync(target).mode & 0o777, 0o600);
    const rendered = JSON.parse(readFileSync(target, 'utf8'));
    const url = new URL(rendered.warehouse.url);
    assert.equal(decodeURIComponent(url.password), PASSWORD, '?url= encodes the password for the URL, then JSON-escapes the URL');
    assert.equal(url.host, 'wh.internal:5432');
    delete rendered.warehouse.url;
    assert.deepEqual(rendered, {
      source: { api_key: 'key-new', previous_api_key: 'key-old' },
      warehouse: { dsn: `postgresql://dbt_prod:${PASSWORD}@wh.internal:5439/analytics`, password: PASSWORD },
    });
  });

  test('.env renders with dotenv quoting', async () => {
    const r = await custos(['render', fixture('app.env')]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(parseEnvFile(r.stdout, 'rendered').map((e) => [e.name, e.value]), [
      ['AIRFLOW_CONN_WAREHOUSE_PASSWORD', PASSWORD], ['API_KEY', 'key-new'], ['PLAIN', 'not-a-secret'],
    ]);
  });

  test('--check verifies every reference and prints no value', async () => {
    for (const file of ['profiles.yml', 'pipeline-config.json', 'app.env']) {
      const r = await custos(['render', '--check', fixture(file)]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^ok: \d+ reference\(s\) in .* resolve\n$/);
      assert.ok(!r.stderr.includes(PASSWORD) && !r.stderr.includes('key-new'));
    }
  });

  test('failures report file:line:column, the reference and the reason, write nothing and print no value', async () => {
    const target = path.join(out, 'broken.yaml');
    const file = fixture('broken.yaml');
    for (const args of [['render', file, '-o', target], ['render', '--check', file]]) {
      const r = await custos(args, { CUSTOS_TOKEN: limitedToken });
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines[0], `${file}:2:17: secret://prod/data/does-not-exist: secret_not_found: ${lines[0]!.split(': secret_not_found: ')[1]}`);
      assert.match(lines[1]!, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:3:16: secret://prod/data/warehouse#no_such_field: field_not_found: `));
      assert.match(lines[2]!, /broken\.yaml:4:14: secret:\/\/prod\/restricted\/admin#password: permission_denied: /);
      assert.match(lines[3]!, /^error: reference_failed: 3 of 4 reference\(s\) in .*broken\.yaml failed/);
      assert.ok(!r.stderr.includes('key-new') && !r.stderr.includes(PASSWORD) && !r.stderr.includes('admin-secret'));
      assert.equal(existsSync(target), false, 'no partial output written');
    }
  });
});

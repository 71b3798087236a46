import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createApiClient } from '../../src/sdk/api-client.js';
import { launcherPath, runCli, startServer, type RunningServer, type CliResult } from '../support/custos-server.js';

/** Every file under dir whose bytes contain needle. */
function filesContaining(dir: string, needle: string): string[] {
  const hits: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.isFile() && statSync(p).size < 50_000_000 && readFileSync(p).includes(needle)) hits.push(p);
    }
  };
  walk(dir);
  return hits;
}

describe('custos run', () => {
  let server: RunningServer;
  let work: string;
  const canary = `canary-${randomBytes(6).toString('hex')}-p@ss/w:rd"x`;
  const env = () => ({ TMPDIR: path.join(work, 'tmp') });
  /** Through the executable, as users call it. */
  const custos = (args: string[]): Promise<CliResult> => runCli(args, { launcher: true, server, cwd: work, env: env() });

  before(async () => {
    server = await startServer({ logLevel: 'warn' });
    work = mkdtempSync(path.join(os.tmpdir(), 'custos-run-'));
    mkdirSync(path.join(work, 'tmp'));
    const root = createApiClient({ address: server.address, token: server.token });
    await root.createSecret({ name: 'prod/analytics-pipeline/warehouse-db', value: JSON.stringify({ host: 'wh.internal', port: 5439, username: 'dbt', password: canary, dbname: 'analytics' }) });
    await root.createSecret({ name: 'prod/analytics-pipeline/api-key', value: 'plain-api-key-1234' });
    await root.putValue('prod/analytics-pipeline/api-key', { value: 'plain-api-key-5678' });
  });
  after(async () => {
    await server.stop();
    // No value anywhere on disk: HOME (token file), the data dir (ciphertext only), TMPDIR and the cwd of every run.
    const leaks = [...filesContaining(path.dirname(server.home), canary), ...filesContaining(work, canary)];
    server.cleanup();
    rmSync(work, { recursive: true, force: true });
    assert.deepEqual(leaks, [], 'a secret value was written to disk');
  });

  test('--secret/--map, --env and --env-file reach the child', async () => {
    writeFileSync(path.join(work, '.env.template'), [
      '# pipeline settings',
      'export DBT_PROFILE=analytics',
      'WAREHOUSE_PASSWORD=secret://prod/analytics-pipeline/warehouse-db#password',
      'OLD_KEY="secret://prod/analytics-pipeline/api-key?label=PREVIOUS"',
      "LITERAL='kept # as is'",
      '',
    ].join('\n'));
    const r = await custos([
      'run', '--secret', 'prod/analytics-pipeline/warehouse-db', '--map', 'host=DBT_HOST,port=DBT_PORT,username=DBT_USER,password=DBT_PASSWORD',
      '--env', 'API_KEY=secret://prod/analytics-pipeline/api-key', '--env', 'DSN=postgres://dbt:secret://prod/analytics-pipeline/warehouse-db#password@wh/analytics',
      '--env-file', '.env.template',
      '--', process.execPath, '-e',
      'const k=["DBT_HOST","DBT_PORT","DBT_USER","DBT_PASSWORD","API_KEY","DSN","DBT_PROFILE","WAREHOUSE_PASSWORD","OLD_KEY","LITERAL"]; process.stdout.write(JSON.stringify(Object.fromEntries(k.map(x=>[x,process.env[x]]))))',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      DBT_HOST: 'wh.internal', DBT_PORT: '5439', DBT_USER: 'dbt', DBT_PASSWORD: canary, API_KEY: 'plain-api-key-5678',
      DSN: `postgres://dbt:${canary}@wh/analytics`, DBT_PROFILE: 'analytics', WAREHOUSE_PASSWORD: canary, OLD_KEY: 'plain-api-key-1234', LITERAL: 'kept # as is',
    });
    assert.equal(r.stderr, '');
  });

  test('the commander path (main.js, or bin.js with a non-canonical argv) behaves the same', async () => {
    const args = ['run', '--secret', 'prod/analytics-pipeline/warehouse-db', '--map', 'password=PW', '--', 'sh', '-c', 'printf %s "$PW"; exit 4'];
    const viaMain = await runCli(args, { server, env: env(), cwd: work });
    assert.equal(viaMain.code, 4, viaMain.stderr);
    assert.equal(viaMain.stdout, canary);
    // No `--`: bin.js hands over to commander, which still runs it.
    const noDashes = await custos(['run', '--env', 'A=secret://prod/analytics-pipeline/api-key', 'printenv', 'A']);
    assert.equal(noDashes.code, 0, noDashes.stderr);
    assert.equal(noDashes.stdout, 'plain-api-key-5678\n');
    const help = await custos(['run', '--help']);
    assert.match(help.stdout, /--env-file <file>/);
  });

  test('every secret is read in one batch request, each audited as its own read', async () => {
    const root = createApiClient({ address: server.address, token: server.token });
    const events = async (operation: string) => (await root.auditEvents({ operation, limit: 1000 })).events;
    const batchesBefore = (await events('secret.read_batch')).length;
    const readsBefore = (await events('secret.read')).length;
    const r = await custos(['run', '--secret', 'prod/analytics-pipeline/warehouse-db', '--map', 'password=PW',
      '--env', 'KEY=secret://prod/analytics-pipeline/api-key', '--env', 'OLD=secret://prod/analytics-pipeline/api-key?label=PREVIOUS', '--', 'sh', '-c', 'printf "%s|%s" "$KEY" "$OLD"']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'plain-api-key-5678|plain-api-key-1234');
    assert.equal((await events('secret.read_batch')).length, batchesBefore + 1);
    assert.equal((await events('secret.read')).length, readsBefore + 3);
  });

  test('?url=DRIVER builds a correctly encoded connection URL (e.g. for AIRFLOW_CONN_*)', async () => {
    const r = await custos(['run', '--env', 'AIRFLOW_CONN_WAREHOUSE=secret://prod/analytics-pipeline/warehouse-db?url=postgres', '--', 'printenv', 'AIRFLOW_CONN_WAREHOUSE']);
    assert.equal(r.code, 0, r.stderr);
    const url = new URL(r.stdout.trim());
    assert.equal(url.protocol, 'postgres:');
    assert.equal(url.host, 'wh.internal:5439');
    assert.equal(decodeURIComponent(url.username), 'dbt');
    assert.equal(decodeURIComponent(url.password), canary);
    assert.equal(url.pathname, '/analytics');
  });

  test('--secret without --map exports every JSON field as an UPPER_CASE variable', async () => {
    const r = await custos(['run', '--secret', 'prod/analytics-pipeline/warehouse-db', '--', 'sh', '-c', 'printf "%s|%s|%s" "$HOST" "$PORT" "$DBNAME"']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'wh.internal|5439|analytics');
  });

  test('exit codes pass through; a killed child gives 128+signal; a missing command gives 127', async () => {
    assert.equal((await custos(['run', '--env', 'A=1', '--', 'sh', '-c', 'exit 7'])).code, 7);
    assert.equal((await custos(['run', '--env', 'A=1', '--', 'sh', '-c', 'kill -TERM $$'])).code, 143);
    const missing = await custos(['run', '--env', 'A=1', '--', 'definitely-not-a-command-xyz']);
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /command not found/);
  });

  test('SIGTERM and SIGINT sent to custos reach the child', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const child = spawn(launcherPath, ['run', '--secret', 'prod/analytics-pipeline/api-key', '--map', '', '--', process.execPath, '-e',
        `process.on('${signal}', () => { process.stdout.write('child got ${signal}'); process.exit(5); }); process.stdout.write('ready'); setInterval(() => {}, 1000);`,
      ], { env: { ...process.env, CUSTOS_ADDR: server.address, HOME: server.home, CUSTOS_TOKEN: '', ...env() }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      await new Promise<void>((resolve) => child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('ready')) resolve();
      }));
      child.kill(signal);
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      assert.match(out, new RegExp(`child got ${signal}`), err);
      assert.equal(code, 5);
    }
  });

  test('--mask replaces values in stdout and stderr, also when split across writes or JSON-escaped', async () => {
    const script = [
      'const p = process.env.PW;',
      'process.stdout.write("one " + p + "\\n");',
      'process.stderr.write("err " + p + "\\n");',
      'process.stdout.write("json " + JSON.stringify({ pw: p }) + "\\n");',
      'process.stdout.write("split " + p.slice(0, 9));',
      'setTimeout(() => { process.stdout.write(p.slice(9) + " end\\n"); }, 100);',
    ].join('\n');
    const r = await custos(['run', '--mask', '--secret', 'prod/analytics-pipeline/warehouse-db', '--map', 'password=PW', '--', process.execPath, '-e', script]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'one ****\njson {"pw":"****"}\nsplit **** end\n');
    assert.equal(r.stderr, 'err ****\n');
    // Lots of output, written in chunks that split values anywhere.
    const bulk = await custos(['run', '--mask', '--env', 'PW=secret://prod/analytics-pipeline/warehouse-db#password', '--', process.execPath, '-e',
      'const line = "row " + process.env.PW + " end\\n"; const all = line.repeat(20000); for (let i = 0; i < all.length; i += 4093) process.stdout.write(all.slice(i, i + 4093));']);
    assert.equal(bulk.code, 0, bulk.stderr);
    assert.ok(!bulk.stdout.includes(canary));
    assert.equal(bulk.stdout, 'row **** end\n'.repeat(20000));
    // Without --mask the child's output is its own business.
    const plain = await custos(['run', '--secret', 'prod/analytics-pipeline/warehouse-db', '--map', 'password=PW', '--', process.execPath, '-e', 'process.stdout.write(process.env.PW)']);
    assert.equal(plain.stdout, canary);
  });

  test('failures name the reference, never a value, and do not start the child', async () => {
    const marker = path.join(work, 'started');
    for (const args of [
      ['--env', 'X=secret://prod/analytics-pipeline/warehouse-db#nope'],
      ['--env', 'X=secret://prod/analytics-pipeline/missing'],
      ['--secret', 'prod/analytics-pipeline/warehouse-db', '--map', 'nope=X'],
    ]) {
      const r = await custos(['run', ...args, '--', 'sh', '-c', `touch ${marker}`]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /error: /);
      assert.ok(!r.stderr.includes(canary) && !r.stdout.includes(canary), 'no value printed');
      assert.throws(() => statSync(marker), 'the child did not run');
    }
  });
});

describe('custos run least privilege', () => {
  test('the child gets the injected secrets but not the Custos token that read them', async () => {
    const server = await startServer({ logLevel: 'warn' });
    try {
      const root = createApiClient({ address: server.address, token: server.token });
      await root.createSecret({ name: 'dev/etl/key', value: 'k-123' });
      const child = spawn(launcherPath, ['run', '--env', 'KEY=secret://dev/etl/key', '--', process.execPath, '-e', 'process.stdout.write(JSON.stringify({ key: process.env.KEY, token: process.env.CUSTOS_TOKEN ?? null }))'], {
        env: { ...process.env, CUSTOS_TOKEN: server.token, CUSTOS_ADDR: server.address, HOME: server.home }, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      const code = await new Promise((resolve) => child.on('close', resolve));
      assert.equal(code, 0);
      assert.deepEqual(JSON.parse(stdout), { key: 'k-123', token: null });
    } finally {
      await server.stop();
      server.cleanup();
    }
  });
});

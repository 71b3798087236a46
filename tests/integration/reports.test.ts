import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { untar } from '../../src/cli/evidence-archive.js';
import { api, runCli, startServer, type RunningServer } from '../support/custos-server.js';
import { createSecret, createToken, writePolicy } from '../support/http-helpers.js';

const CANARY = 'canary-report-value-11aa22';

/** A seeded inventory, then every report kind in every format checked against it. */
describe('custos report', () => {
  let server: RunningServer;
  let dir: string;
  let airflow: { token: string; accessor: string };
  let dbt: { token: string; accessor: string };

  before(async () => {
    server = await startServer();
    dir = mkdtempSync(path.join(os.tmpdir(), 'custos-report-'));
    assert.equal((await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name: 'prod/etl/warehouse', value: CANARY, owner: 'data-eng' } })).status, 201);
    await createSecret(server, 'prod/etl/no-owner', 'v2');
    assert.equal((await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name: 'dev/etl/scratch', value: 'v3', owner: 'alice' } })).status, 201);
    const rot = await api(server, 'PUT', '/v1/rotation/prod/etl/warehouse', { token: server.token, body: { settings: { rotator: 'postgres', every_seconds: 30 * 86_400 } } });
    assert.equal(rot.status, 200, JSON.stringify(rot.body));
    await writePolicy(server, 'etl-read', JSON.stringify({ rules: [{ path: '**', capabilities: ['read'] }] }));
    airflow = await createToken(server, { policies: ['etl-read'], display_name: 'airflow' });
    dbt = await createToken(server, { policies: ['etl-read'], display_name: 'dbt' });
    for (let i = 0; i < 3; i++) await api(server, 'GET', '/v1/values/prod/etl/warehouse', { token: airflow.token });
    await api(server, 'GET', '/v1/values/prod/etl/warehouse', { token: dbt.token });
    await api(server, 'GET', '/v1/values/dev/etl/scratch', { token: dbt.token });
    await api(server, 'GET', '/v1/values/prod/etl/missing', { token: dbt.token }); // a failed read counts nowhere
  });
  after(async () => {
    await server.stop();
    server.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const report = async (kind: string, format: string, extra: string[] = []) => {
    const r = await runCli(['report', kind, '--format', format, ...extra], { server });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes(CANARY), `no value in the ${kind} ${format} report`);
    return r.stdout;
  };

  it('inventory: owner, environment, cadence, next due, reads, and what is missing, in JSON, CSV, table and HTML', async () => {
    const json = JSON.parse(await report('inventory', 'json'));
    const byName = Object.fromEntries(json.rows.map((r: any) => [r.secret, r]));
    assert.deepEqual(Object.keys(byName).sort(), ['dev/etl/scratch', 'prod/etl/no-owner', 'prod/etl/warehouse']);
    assert.equal(byName['prod/etl/warehouse'].owner, 'data-eng');
    assert.equal(byName['prod/etl/warehouse'].cadence, 'every 30d');
    assert.ok(byName['prod/etl/warehouse'].next_due);
    assert.equal(byName['prod/etl/warehouse'].reads_30d, 4);
    assert.equal(byName['prod/etl/warehouse'].problems, null);
    assert.equal(byName['prod/etl/no-owner'].problems, 'no owner; no rotation');
    assert.deepEqual(json.summary, { secrets: 3, without_owner: 1, without_rotation: 2, overdue: 0 });

    const csv = (await report('inventory', 'csv')).split('\r\n');
    assert.equal(csv[0], 'secret,environment,owner,last_rotated,cadence,next_due,overdue,last_accessed,reads_30d,reads_90d,problems');
    assert.equal(csv.length, 5, 'header, three rows, final newline');
    const warehouse = csv.find((l) => l.startsWith('prod/etl/warehouse,'))!.split(',');
    assert.deepEqual([warehouse[1], warehouse[2], warehouse[4], warehouse[6], warehouse[8]], ['prod', 'data-eng', 'every 30d', 'no', '4']);

    const table = await report('inventory', 'table');
    assert.match(table, /without owner: 1/);
    assert.match(table, /prod\/etl\/no-owner\s+prod\s+-/);

    const file = path.join(dir, 'inventory.html');
    await report('inventory', 'html', ['-o', file]);
    const html = readFileSync(file, 'utf8');
    assert.match(html, /^<!doctype html>/);
    assert.match(html, /<svg[^>]*>.*<rect/s, 'an inline SVG chart');
    assert.match(html, /Rotation compliance by environment/);
    assert.ok(!/(src|href)\s*=/.test(html) && !/<script/i.test(html) && !/url\(/.test(html), 'no external asset, no script');
    assert.match(html, /<td>prod\/etl\/warehouse<\/td><td>prod<\/td><td>data-eng<\/td>/);
  });

  it('access: counts by principal for 30 and 90 days with display names, and the per-day chart', async () => {
    const json = JSON.parse(await report('access', 'json', ['--since', '30d']));
    const rows = json.rows.map((r: any) => [r.secret, r.principal_name, r.reads_30d, r.reads_90d]);
    assert.deepEqual(rows.sort(), [['dev/etl/scratch', 'dbt', 1, 1], ['prod/etl/warehouse', 'airflow', 3, 3], ['prod/etl/warehouse', 'dbt', 1, 1]].sort());
    assert.equal(json.charts[0].title, 'Accesses per day by environment');
    const today = new Date().toISOString().slice(0, 10);
    const idx = json.charts[0].labels.indexOf(today);
    assert.ok(idx >= 0);
    const prod = json.charts[0].series.find((s: any) => s.name === 'prod');
    assert.equal(prod.values[idx], 4);
    const csv = await report('access', 'csv');
    assert.match(csv, new RegExp(`prod/etl/warehouse,prod,${airflow.accessor},airflow,3,3,`));
    const html = await report('access', 'html');
    assert.match(html, /<polyline/);
    assert.match(await report('access', 'table'), /airflow/);
  });

  it('rotation and unused', async () => {
    const rotation = JSON.parse(await report('rotation', 'json'));
    assert.deepEqual(rotation.summary, { secrets: 3, with_rotation: 1, compliant: 1, overdue: 0, failed_runs: 0 });
    assert.match(await report('rotation', 'csv'), /prod\/etl\/warehouse,prod,data-eng,every 30d,/);
    assert.match(await report('rotation', 'table'), /compliant: 1/);
    assert.match(await report('rotation', 'html'), /<svg/);
    const unused = JSON.parse(await report('unused', 'json', ['--days', '1']));
    assert.deepEqual(unused.rows, [], 'everything was created today');
    assert.match(await report('unused', 'csv'), /^secret,environment,owner,last_accessed,unused_days\r\n$/);
    assert.match(await report('unused', 'table'), /unused: 0/);
    assert.match(await report('unused', 'html'), /<table>/);
  });

  it('is refused without read on sys:reports, and a bad format or since is a clear error', async () => {
    const refused = await api(server, 'GET', '/v1/reports/inventory', { token: airflow.token });
    assert.equal(refused.body.error.code, 'permission_denied');
    const bad = await runCli(['report', 'inventory', '--format', 'pdf'], { server });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--format must be one of/);
    assert.equal((await api(server, 'GET', '/v1/reports/inventory?since=yesterday', { token: server.token })).body.error.code, 'validation_failed');
    assert.equal((await api(server, 'GET', '/v1/reports/secrets', { token: server.token })).body.error.code, 'validation_failed');
  });

  it('evidence: a signed tar an auditor verifies with openssl and sha256sum; tampering is detected', async () => {
    const key = path.join(dir, 'evidence.pem');
    const keygen = await runCli(['report', 'keygen', '--out', key], { server });
    assert.equal(keygen.code, 0, keygen.stderr);
    const again = await runCli(['report', 'keygen', '--out', key], { server });
    assert.notEqual(again.code, 0, 'never overwrites a signing key');
    const quarter = `${new Date().getUTCFullYear()}-Q${Math.floor(new Date().getUTCMonth() / 3) + 1}`;
    const archive = path.join(dir, 'evidence.tar');
    const made = await runCli(['report', 'evidence', '--period', quarter, '--signing-key', key, '-o', archive], { server });
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stdout, /audit verify ok/);
    const bytes = readFileSync(archive);
    assert.ok(!bytes.includes(Buffer.from(CANARY)), 'no value in the evidence');
    const files = untar(bytes);
    assert.deepEqual([...files.keys()].sort(), ['README.txt', 'SHA256SUMS', 'audit-verify.json', 'inventory.json', 'manifest.json', 'manifest.sig', 'policies.json', 'prod-readers.json', 'rotation-compliance.json', 'rotation-history.json', 'signing-key.pub.pem'].sort());
    const readers = JSON.parse(files.get('prod-readers.json')!.toString());
    assert.ok(readers.some((r: any) => r.id === airflow.accessor && r.name === 'airflow'));
    assert.ok(readers.some((r: any) => r.root === true), 'the root token can read prod');
    assert.equal(JSON.parse(files.get('audit-verify.json')!.toString()).ok, true);
    assert.ok(JSON.parse(files.get('policies.json')!.toString()).some((p: any) => p.name === 'etl-read'));

    // The auditor's tools: system tar, openssl and sha256sum.
    const out = path.join(dir, 'unpacked');
    execFileSync('mkdir', ['-p', out]);
    execFileSync('tar', ['xf', archive, '-C', out]);
    const ok = execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', key.replace(/\.pem$/, '.pub.pem'), '-rawin', '-in', 'manifest.json', '-sigfile', 'manifest.sig'], { cwd: out }).toString();
    assert.match(ok, /Signature Verified Successfully/);
    execFileSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: out });
    const verified = await runCli(['report', 'verify-evidence', archive, '--public-key', key.replace(/\.pem$/, '.pub.pem')], { server });
    assert.equal(verified.code, 0, verified.stderr);

    const tampered = Buffer.from(bytes);
    const at = tampered.indexOf(Buffer.from('"ok": true'));
    tampered.write('"ok": fals', at);
    const bad = path.join(dir, 'tampered.tar');
    (await import('node:fs')).writeFileSync(bad, tampered);
    const refused = await runCli(['report', 'verify-evidence', bad, '--public-key', key.replace(/\.pem$/, '.pub.pem')], { server });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /audit-verify.json does not match the manifest/);
    assert.equal((await api(server, 'GET', '/v1/reports/evidence?period=2026-Q5', { token: server.token })).body.error.code, 'validation_failed');
    assert.equal((await api(server, 'GET', `/v1/reports/evidence?period=${quarter}`, { token: airflow.token })).body.error.code, 'permission_denied');
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import pg from 'pg';
import { startPostgresCluster } from '../support/postgres-cluster.js';
import { api, runCli, startServer, type RunningServer } from '../support/custos-server.js';

/**
 * Snapshot save/restore and SQLite -> PostgreSQL migration through the real CLI, checked by
 * reading a canary value through a real server started on the copy with the original unseal key.
 */
test('snapshot round-trip and SQLite -> PostgreSQL migration keep a canary readable and encrypted', { timeout: 180_000 }, async (t) => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'custos-snapshot-'));
  const cluster = await startPostgresCluster();
  const servers: RunningServer[] = [];
  t.after(async () => {
    for (const s of servers) {
      await s.kill();
      s.cleanup();
    }
    await cluster.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  const canary = `canary-${randomBytes(12).toString('hex')}`;
  const name = 'prod/warehouse/snapshot_canary';

  // The original: a dev server on SQLite with a canary secret, a policy and a token.
  const original = await startServer();
  servers.push(original);
  const root = original.token;
  assert.ok(root.startsWith('cst_'));
  assert.equal((await api(original, 'POST', '/v1/secrets', { token: root, body: { name, value: canary, tags: { team: 'data' } } })).status, 201);
  assert.equal((await api(original, 'PUT', '/v1/policies/reader', { token: root, body: { document: '{"rules":[{"path":"prod/**","capabilities":["read"]}]}' } })).status, 200);
  await original.stop();
  const sqliteUrl = `sqlite:${path.join(original.dataDir, 'custos.db')}`;
  const unsealKey = readFileSync(path.join(original.dataDir, 'unseal.key'), 'utf8').trim();

  /** Starts a non-dev server on `storage`, unsealed from the original key, and checks the canary and the audit chain. */
  const checkCopy = async (storage: string, env: Record<string, string> = {}) => {
    const copy = await startServer({ dev: false, args: ['--storage', storage], env: { CUSTOS_UNSEAL_KEY: unsealKey, ...env } });
    servers.push(copy);
    const read = await api(copy, 'GET', `/v1/values/${encodeURIComponent(name)}`, { token: root });
    assert.equal(read.status, 200, JSON.stringify(read.body));
    assert.equal(read.body.value, canary);
    assert.equal((await api(copy, 'GET', '/v1/policies/reader', { token: root })).status, 200);
    const verify = await api(copy, 'POST', '/v1/audit/verify', { token: root });
    assert.equal(verify.body.ok, true, JSON.stringify(verify.body));
    assert.ok(verify.body.checked > 2);
    await copy.stop();
  };

  const snapshotFile = path.join(tmp, 'custos.snap.gz');
  await t.test('snapshot save writes a gzip JSON-lines file with header, rows and digest, no plaintext', async () => {
    const missing = await runCli(['operator', 'snapshot', 'save', snapshotFile, '--storage', `sqlite:${path.join(tmp, 'nope', 'custos.db')}`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no SQLite database at/);
    const saved = await runCli(['operator', 'snapshot', 'save', snapshotFile, '--storage', sqliteUrl, '--json']);
    assert.equal(saved.code, 0, saved.stderr);
    const summary = JSON.parse(saved.stdout);
    assert.equal(summary.tables.secrets, 1);
    assert.ok(summary.tables.keyring >= 3);
    const lines = gunzipSync(readFileSync(snapshotFile)).toString('utf8').trim().split('\n');
    const header = JSON.parse(lines[0]!);
    assert.equal(header.custos_snapshot, 1);
    assert.deepEqual(header.migrations, summary.migrations);
    assert.deepEqual(JSON.parse(lines.at(-1)!), { end: true, rows: summary.rows, sha256: summary.sha256 });
    assert.equal(lines.length, summary.rows + 2);
    assert.ok(!lines.join('\n').includes(canary), 'the canary value is not in the snapshot in plaintext');
    assert.ok(!readFileSync(snapshotFile).includes(canary));
    assert.ok(lines.some((l) => l.includes(`"name":${JSON.stringify(name)}`)), 'metadata is there');
  });

  await t.test('snapshot restore into empty SQLite; refuses non-empty storage unless --force; a damaged file leaves nothing', async () => {
    const restoredUrl = `sqlite:${path.join(tmp, 'restored', 'custos.db')}`;
    // A damaged copy (one row edited) is refused and writes nothing.
    const lines = gunzipSync(readFileSync(snapshotFile)).toString('utf8').split('\n');
    const i = lines.findIndex((l) => l.startsWith('{"t":"secrets"'));
    lines[i] = lines[i]!.replace('"team"', '"tean"').replace(name, name + 'x');
    const damaged = path.join(tmp, 'damaged.snap.gz');
    writeFileSync(damaged, gzipSync(lines.join('\n')));
    const refused = await runCli(['operator', 'snapshot', 'restore', damaged, '--storage', restoredUrl]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /snapshot_invalid: .*SHA-256/);

    const restored = await runCli(['operator', 'snapshot', 'restore', snapshotFile, '--storage', restoredUrl]);
    assert.equal(restored.code, 0, restored.stderr);
    const again = await runCli(['operator', 'snapshot', 'restore', snapshotFile, '--storage', restoredUrl]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /storage_not_empty/);
    const forced = await runCli(['operator', 'snapshot', 'restore', snapshotFile, '--storage', restoredUrl, '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    await checkCopy(restoredUrl);
  });

  await t.test('operator migrate copies SQLite to PostgreSQL without decrypting; the password never goes in a flag', async () => {
    const db = await cluster.createDatabase();
    const withPassword = db.url.replace('@', `:${db.password}@`);
    const leaky = await runCli(['operator', 'migrate', '--from', sqliteUrl, '--to', withPassword], { env: { CUSTOS_STORAGE_PASSWORD: db.password } });
    assert.equal(leaky.code, 1);
    assert.match(leaky.stderr, /do not put a PostgreSQL password in a flag/);

    const migrated = await runCli(['operator', 'migrate', '--from', sqliteUrl, '--to', db.url, '--json'], { env: { CUSTOS_STORAGE_PASSWORD: db.password } });
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.equal(JSON.parse(migrated.stdout).tables.secrets, 1);

    // The canary is nowhere in PostgreSQL in plaintext.
    const client = new pg.Client({ host: cluster.host, port: cluster.port, user: db.user, database: db.database, password: db.password });
    await client.connect();
    try {
      const versions = await client.query('SELECT ciphertext, wrapped_key FROM secret_versions');
      assert.equal(versions.rowCount, 1);
      for (const row of versions.rows) assert.ok(!(row.ciphertext as Buffer).includes(canary) && !(row.wrapped_key as Buffer).includes(canary));
      const dump = await client.query(`SELECT string_agg(t::text, '\n') AS all FROM (SELECT * FROM secrets) t`);
      assert.ok(!String(dump.rows[0].all).includes(canary));
    } finally {
      await client.end();
    }
    await checkCopy(db.url, { CUSTOS_STORAGE_PASSWORD: db.password });

    // And back: a snapshot of PostgreSQL restores into SQLite.
    const pgSnapshot = path.join(tmp, 'from-postgres.snap.gz');
    const saved = await runCli(['operator', 'snapshot', 'save', pgSnapshot, '--storage', db.url], { env: { CUSTOS_STORAGE_PASSWORD: db.password } });
    assert.equal(saved.code, 0, saved.stderr);
    const backUrl = `sqlite:${path.join(tmp, 'back', 'custos.db')}`;
    const restored = await runCli(['operator', 'snapshot', 'restore', pgSnapshot, '--storage', backUrl]);
    assert.equal(restored.code, 0, restored.stderr);
    await checkCopy(backUrl);
  });
});

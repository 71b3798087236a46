import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { api, runCli, startServer, type RunningServer } from '../support/custos-server.js';
import { assertErrorBody, createSecret, uniqueName } from '../support/http-helpers.js';
import { checkpointMessage, publicKeyFingerprint } from '../../src/audit/checkpoint-format.js';

/**
 * External anchoring: signed checkpoints land in a JSONL file outside the data dir and in the
 * JSON log; they catch a database replaced by an older, internally consistent copy, which no
 * check inside the database can; forged checkpoints are rejected offline.
 */
describe('signed audit checkpoints', () => {
  let server: RunningServer;
  let outside: string;
  let checkpointFile: string;
  let publicKeyFile: string;
  let root: string;
  const name = uniqueName('dev/anchored');
  const env = () => ({ CUSTOS_AUDIT_CHECKPOINT_EVENTS: '3', CUSTOS_AUDIT_CHECKPOINT_FILE: checkpointFile });
  const reads = async (n: number) => {
    for (let i = 0; i < n; i++) assert.equal((await api(server, 'GET', `/v1/values/${name}`, { token: root })).status, 200);
  };
  const restart = async () => {
    server = await startServer({ dataDir: server.dataDir, home: server.home, env: env() });
  };
  const lines = () => readFileSync(checkpointFile, 'utf8').trim().split('\n');

  before(async () => {
    outside = mkdtempSync(path.join(os.tmpdir(), 'custos-anchor-'));
    checkpointFile = path.join(outside, 'checkpoints.jsonl');
    publicKeyFile = path.join(outside, 'checkpoint.pem');
    server = await startServer({ env: env() });
    root = server.token;
    await createSecret(server, name, 'anchored-secret-value');
  });
  after(async () => {
    await server.stop();
    server.cleanup();
    rmSync(outside, { recursive: true, force: true });
  });

  test('checkpoints are signed, go to the file (0600) and the JSON log, and verify offline and against the chain', async () => {
    await reads(10);
    const checkpoints = lines().map((l) => JSON.parse(l));
    assert.ok(checkpoints.length >= 3, `one every 3 events: ${checkpoints.length}`);
    for (const c of checkpoints) assert.deepEqual(Object.keys(c).sort(), ['hash', 'key', 'node', 'seq', 'sig', 'time', 'v']);
    assert.equal(statSync(checkpointFile).mode & 0o777, 0o600);
    assert.match(server.output(), /"audit_checkpoint":\{"v":1,"seq":\d+/);
    assert.ok(!readFileSync(checkpointFile, 'utf8').includes('anchored-secret-value'), 'no value in checkpoints');

    const key = await runCli(['audit', 'public-key'], { server });
    assert.equal(key.code, 0, key.stderr);
    assert.match(key.stdout, /^-----BEGIN PUBLIC KEY-----/);
    writeFileSync(publicKeyFile, key.stdout);
    assert.equal(checkpoints[0].key, publicKeyFingerprint(key.stdout));

    const offline = await runCli(['audit', 'checkpoints', 'verify', checkpointFile, '--public-key', publicKeyFile]);
    assert.equal(offline.code, 0, offline.stdout + offline.stderr);
    assert.match(offline.stdout, /^checkpoints OK: \d+ checkpoints, 0 with a bad signature/);
    const online = await runCli(['audit', 'verify', '--checkpoints', checkpointFile], { server });
    assert.equal(online.code, 0, online.stdout + online.stderr);
    assert.match(online.stdout, /checkpoints: \d+ in .*, \d+ signed and checked/);
  });

  test('a forged checkpoint is rejected: altered hash, or signed by another key', async () => {
    const original = lines();
    const forgedFile = path.join(outside, 'forged.jsonl');
    const altered = { ...JSON.parse(original[original.length - 1]!), hash: 'f'.repeat(64) };
    const other = generateKeyPairSync('ed25519');
    const body = { seq: altered.seq + 1000, hash: 'e'.repeat(64), time: Date.now(), node: 'local', key: altered.key };
    const wrongKey = { v: 1, ...body, sig: sign(null, checkpointMessage(body), other.privateKey).toString('base64') };
    writeFileSync(forgedFile, [...original, JSON.stringify(altered), JSON.stringify(wrongKey)].join('\n') + '\n');

    const offline = await runCli(['audit', 'checkpoints', 'verify', forgedFile, '--public-key', publicKeyFile, '--json']);
    assert.equal(offline.code, 4, offline.stdout + offline.stderr);
    const report = JSON.parse(offline.stdout);
    assert.equal(report.ok, false);
    assert.deepEqual(report.bad_signature.map((c: { seq: number }) => c.seq), [altered.seq, body.seq]);
    const online = await runCli(['audit', 'verify', '--checkpoints', forgedFile], { server });
    assert.equal(online.code, 4);
    assert.match(online.stdout, new RegExp(`FORGED: checkpoint for event ${altered.seq} `));
  });

  test('a database file replaced by an older consistent copy is caught at start-up and by verify --checkpoints', async () => {
    const dbFile = path.join(server.dataDir, 'custos.db');
    assert.equal(await server.stop(), 0);
    const oldCopy = path.join(outside, 'old-copy.db');
    const source = new SqliteDatabase(dbFile, { readonly: true });
    await source.backup(oldCopy);
    source.close();
    await restart();
    await reads(12); // checkpoints now name events the old copy never had
    assert.equal(await server.stop(), 0);
    const lastCheckpoint = JSON.parse(lines().at(-1)!);
    for (const suffix of ['', '-wal', '-shm']) rmSync(dbFile + suffix, { force: true });
    copyFileSync(oldCopy, dbFile);
    await restart();

    // The old copy verifies on its own: only the checkpoints outside the database give it away.
    assertErrorBody(await api(server, 'GET', `/v1/values/${name}`, { token: root }), 503, 'audit_tampered', 'after the rollback');
    assert.match(server.output(), new RegExp(`AUDIT LOG TAMPERED: event ${lastCheckpoint.seq}, signed in checkpoint`));
    const verify = await runCli(['audit', 'verify', '--checkpoints', checkpointFile, '--json'], { server });
    assert.equal(verify.code, 4, verify.stdout + verify.stderr);
    const result = JSON.parse(verify.stdout);
    const gone = result.checkpoints.events.filter((e: { state: string; acknowledged: boolean }) => e.state === 'gone' && !e.acknowledged);
    assert.ok(gone.some((e: { seq: number }) => e.seq === lastCheckpoint.seq), JSON.stringify(result.checkpoints.events));
    const human = await runCli(['audit', 'verify', '--checkpoints', checkpointFile], { server });
    assert.match(human.stdout, new RegExp(`MISSING: checkpointed event ${lastCheckpoint.seq} .* is gone`));

    // Acknowledged, the rollback stays visible but no longer fails verification or service.
    assert.equal((await api(server, 'POST', '/v1/audit/acknowledge-break', { token: root, body: { reason: 'restored from an old backup' } })).status, 200);
    assert.equal((await api(server, 'GET', `/v1/values/${name}`, { token: root })).status, 200);
    const acknowledged = await runCli(['audit', 'verify', '--checkpoints', checkpointFile], { server });
    assert.equal(acknowledged.code, 0, acknowledged.stdout);
    assert.match(acknowledged.stdout, new RegExp(`in an acknowledged break: checkpointed event ${lastCheckpoint.seq} `));
    assert.match(acknowledged.stdout, /acknowledged break after event \d+ .*restored from an old backup/);
    assert.equal(await server.stop(), 0);
    await restart();
    assert.equal((await api(server, 'GET', `/v1/values/${name}`, { token: root })).status, 200, 'and after another restart');
  });
});

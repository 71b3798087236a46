import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { api, runCli, startServer, type RunningServer } from '../support/custos-server.js';
import { assertErrorBody, createSecret, createToken, uniqueName, writePolicy } from '../support/http-helpers.js';

/**
 * The read API over this node's signed audit checkpoints (GET /v1/audit/checkpoints and
 * `custos audit checkpoints`): needs `read` on sys:audit like verify, pages newest first, and
 * says for each whether its signature verifies and whether the chain still holds that event.
 */
describe('audit checkpoints listing', () => {
  let server: RunningServer;
  let file: string;
  const VALUE = 'checkpoint-listing-canary-value';
  const name = uniqueName('dev/cp-list');

  before(async () => {
    server = await startServer({ env: { CUSTOS_AUDIT_CHECKPOINT_EVENTS: '3' } });
    file = path.join(server.home, '.custos', 'audit-checkpoints.jsonl');
    await createSecret(server, name, VALUE);
    for (let i = 0; i < 12; i++) assert.equal((await api(server, 'GET', `/v1/values/${name}`, { token: server.token })).status, 200);
  });
  after(async () => {
    await server.stop();
    server.cleanup();
  });

  test('refused without read on sys:audit; bad paging parameters are validation errors', async () => {
    await writePolicy(server, 'dev-reader', JSON.stringify({ rules: [{ path: 'dev/**', capabilities: ['read', 'list'] }] }));
    const reader = await createToken(server, { policies: ['dev-reader'] });
    assertErrorBody(await api(server, 'GET', '/v1/audit/checkpoints', { token: reader.token }), 403, 'permission_denied');
    assertErrorBody(await api(server, 'GET', '/v1/audit/checkpoints'), 401, 'missing_token');
    for (const q of ['limit=0', 'limit=501', 'before_seq=-1', 'before_seq=abc', 'file=/etc/passwd']) {
      assertErrorBody(await api(server, 'GET', `/v1/audit/checkpoints?${q}`, { token: server.token }), 400, 'validation_failed', q);
    }
  });

  test('newest first, signed and matching the chain, paged by next_before_seq without gaps or overlap', async () => {
    const inFile = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { seq: number; hash: string });
    assert.ok(inFile.length >= 4, `checkpoints written: ${inFile.length}`);
    const first = await api(server, 'GET', '/v1/audit/checkpoints?limit=2', { token: server.token });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.checkpoints.length, 2);
    assert.ok(!JSON.stringify(first.body).includes(VALUE));
    const seen: { seq: number; hash: string }[] = [...first.body.checkpoints];
    let cursor = first.body.next_before_seq;
    assert.equal(cursor, first.body.checkpoints[1].seq);
    while (cursor !== null) {
      const page = await api(server, 'GET', `/v1/audit/checkpoints?limit=2&before_seq=${cursor}`, { token: server.token });
      assert.equal(page.status, 200);
      seen.push(...page.body.checkpoints);
      cursor = page.body.next_before_seq;
    }
    const seqs = seen.map((c) => c.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => b - a), 'newest first');
    assert.equal(new Set(seqs).size, seqs.length, 'no checkpoint twice');
    const fileSeqs = inFile.map((c) => c.seq).filter((s) => s <= seqs[0]!).sort((a, b) => b - a);
    assert.deepEqual(seqs, fileSeqs, 'every checkpoint in the file, none lost between pages');
    for (const c of first.body.checkpoints) {
      assert.equal(c.signature_valid, true);
      assert.equal(c.chain, 'matches');
      assert.match(c.hash, /^[0-9a-f]{64}$/);
      assert.match(c.key, /^[0-9a-f]{16}$/);
      assert.ok(!Number.isNaN(Date.parse(c.time)));
    }
    const key = await api(server, 'GET', '/v1/audit/checkpoint-key', { token: server.token });
    assert.equal(first.body.checkpoints[0].key, key.body.fingerprint);
  });

  test('a forged line in the file is listed as not verified and not matching the chain', async () => {
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    const real = JSON.parse(lines[lines.length - 1]!);
    appendFileSync(file, JSON.stringify({ ...real, hash: 'f'.repeat(64) }) + '\n');
    const r = await api(server, 'GET', '/v1/audit/checkpoints?limit=1', { token: server.token });
    assert.equal(r.status, 200);
    const [forged] = r.body.checkpoints;
    assert.equal(forged.seq, real.seq);
    assert.equal(forged.hash, 'f'.repeat(64));
    assert.equal(forged.signature_valid, false);
    assert.equal(forged.chain, 'differs');
  });

  test('custos audit checkpoints lists the same page, as a table or JSON', async () => {
    const viaApi = await api(server, 'GET', '/v1/audit/checkpoints?limit=3', { token: server.token });
    const json = await runCli(['audit', 'checkpoints', '--limit', '3', '--json'], { server });
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout).checkpoints.map((c: { seq: number }) => c.seq), viaApi.body.checkpoints.map((c: { seq: number }) => c.seq));
    const table = await runCli(['audit', 'checkpoints', 'list', '--limit', '3'], { server });
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^SEQ\s+TIME\s+HEAD HASH\s+NODE\s+SIGNATURE\s+CHAIN/);
    assert.match(table.stdout, /INVALID\s+differs/, 'the forged line is flagged');
    assert.match(table.stdout, /verified\s+matches/);
    assert.match(table.stdout, /older: --before-seq \d+/);
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { chainRows, GENESIS_HASH, headMac, type AuditEvent } from './audit-chain.js';
import { extensionProblem, type StoredHead } from './audit-verify.js';
import { checkCheckpointFile, checkpointMessage, publicKeyFingerprint } from './checkpoint-format.js';

const key = randomBytes(32);
const event = (i: number): AuditEvent => ({
  time: 1_700_000_000_000 + i, requestId: `req_${i}`, accessor: 'acc_x', source: '127.0.0.1', operation: 'secret.read', secretName: 'dev/a',
  versionId: null, outcome: 'success', errorCode: null, status: 200, latencyUs: 10,
});
const rows = chainRows(key, { seq: 0, hash: GENESIS_HASH }, Array.from({ length: 6 }, (_, i) => event(i)));
const headOf = (seq: number): StoredHead => {
  const hash = seq === 0 ? GENESIS_HASH : rows[seq - 1]!.hash;
  return { seq, hash, mac: headMac(key, seq, hash), event_hash: seq === 0 ? null : hash };
};

test('another writer\'s appends are a genuine extension; gaps, edits, forged or rolled-back heads are not', () => {
  const expected = headOf(2);
  // Events 2..5 as another node (or a write transaction) left them.
  assert.equal(extensionProblem(key, expected, headOf(5), rows.slice(1, 5), undefined), null);
  assert.equal(extensionProblem(key, headOf(0), headOf(3), rows.slice(0, 3), undefined), null, 'from the genesis head');
  assert.match(extensionProblem(key, expected, headOf(5), [rows[1]!, rows[2]!, rows[4]!], undefined)!, /event 4 is missing or altered/);
  const edited = { ...rows[3]!, outcome: 'denied' };
  assert.match(extensionProblem(key, expected, headOf(5), [rows[1]!, rows[2]!, edited, rows[4]!], undefined)!, /missing or altered/);
  assert.match(extensionProblem(key, expected, { ...headOf(5), mac: 'ab'.repeat(32) }, rows.slice(1, 5), undefined)!, /MAC does not verify/);
  assert.match(extensionProblem(key, headOf(5), headOf(3), [], undefined)!, /went back from event 5 to 3/);
  assert.match(extensionProblem(key, expected, undefined, [], undefined)!, /head checkpoint is gone/);
  assert.match(extensionProblem(key, expected, headOf(5), rows.slice(2, 5), undefined)!, /event 2, the last one this process saw, is gone/);
  assert.match(extensionProblem(key, expected, headOf(5), rows.slice(1, 4), undefined)!, /events 5..5 are missing/);
  assert.match(extensionProblem(key, headOf(5), { ...headOf(5), event_hash: null }, [], undefined)!, /event 5, the newest, is gone/);
});

test('checkpoint files: valid signatures pass; an altered field, another key and conflicting hashes are reported', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const make = (seq: number, hash: string, signer = privateKey) => {
    const body = { seq, hash, time: 1_700_000_000_000 + seq, node: 'n1', key: publicKeyFingerprint(pem) };
    return { v: 1, ...body, sig: sign(null, checkpointMessage(body), signer).toString('base64') };
  };
  const good = [make(10, 'a'.repeat(64)), make(20, 'b'.repeat(64))];
  const clean = checkCheckpointFile(good.map((c) => JSON.stringify(c)).join('\n') + '\n', pem);
  assert.deepEqual([clean.total, clean.badSignature.length, clean.conflicting.length, clean.malformed.length], [2, 0, 0, 0]);

  const other = generateKeyPairSync('ed25519').privateKey;
  const lines = [...good, { ...good[0]!, node: 'n2' }, make(30, 'c'.repeat(64), other), make(10, 'd'.repeat(64))].map((c) => JSON.stringify(c));
  const report = checkCheckpointFile([...lines, '{"torn', ''].join('\n'), pem);
  assert.deepEqual(report.badSignature.map((c) => c.seq), [10, 30]);
  assert.deepEqual(report.conflicting.map((c) => c.hash[0]), ['d']);
  assert.deepEqual(report.malformed, [6]);
});

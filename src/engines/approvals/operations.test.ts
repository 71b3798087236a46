import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checksOf, summaryOf, validated } from './operations.js';
import type { ChangeOperation } from './approvals.types.js';

const value = 'hunter2-CANARY';
const write: ChangeOperation = { kind: 'secret.write', name: 'prod/app/db', value: { kind: 'string', base64: Buffer.from(value).toString('base64') }, labels: ['CURRENT'] };

test('a summary names the secret and options, never the value in any encoding', () => {
  const summary = summaryOf(write);
  assert.match(summary, /prod\/app\/db/);
  for (const form of [value, Buffer.from(value).toString('base64'), Buffer.from(value).toString('hex')]) assert.ok(!summary.includes(form));
  assert.match(summaryOf({ kind: 'secret.delete', name: 'prod/x', force: true }), /without recovery/);
  assert.match(summaryOf({ kind: 'secret.label', name: 'prod/x', label: 'PENDING', moveToVersionId: 'v2' }), /PENDING.*v2/);
});

test('the checks match what the secrets engine requires: labels other than CURRENT need stage too', () => {
  assert.deepEqual(checksOf(write).map((c) => c.capability), ['update']);
  assert.deepEqual(checksOf({ ...write, labels: ['PENDING'] } as ChangeOperation).map((c) => c.capability), ['update', 'stage']);
  assert.deepEqual(checksOf({ kind: 'secret.delete', name: 'prod/x' }).map((c) => c.capability), ['delete']);
  assert.deepEqual(checksOf({ kind: 'secret.label', name: 'prod/x', label: 'L' }).map((c) => [c.capability, c.resource]), [['stage', 'prod/x']]);
});

test('each held kind names what it does and needs the capabilities its engine checks', () => {
  const held = { kind: 'string' as const, base64: Buffer.from(value).toString('base64') };
  const ops: [ChangeOperation, RegExp, string[]][] = [
    [{ kind: 'secret.create', name: 'prod/new', value: held, tags: { team: 'data' } }, /create prod\/new with a first value/, ['create', 'update']],
    [{ kind: 'secret.create', name: 'prod/new' }, /create prod\/new without a value/, ['create']],
    [{ kind: 'secret.create', name: 'prod/new', value: held, labels: ['PENDING'] }, /labels PENDING/, ['create', 'update', 'stage']],
    [{ kind: 'secret.update', name: 'prod/x', metadata: { description: 'd', kmsKeyId: 'k' }, value: held }, /write a new version \(labels CURRENT\) and update description, kms key of prod\/x/, ['update']],
    [{ kind: 'secret.tag', name: 'prod/x', tags: { a: '1', b: '2' } }, /set tags a, b on prod\/x/, ['update']],
    [{ kind: 'secret.untag', name: 'prod/x', keys: ['a'] }, /remove tag a from prod\/x/, ['update']],
    [{ kind: 'rotation.configure', name: 'prod/x', settings: null }, /remove the rotation settings of prod\/x/, ['rotate']],
    [{ kind: 'rotation.configure', name: 'prod/x', settings: { rotator: 'webhook', webhook: { url: 'https://h', hmac_secret: 'prod/hmac' } } }, /rotator webhook/, ['rotate', 'read', 'update']],
    [{ kind: 'rotation.rotate', name: 'prod/x' }, /rotate prod\/x now/, ['rotate']],
    [{ kind: 'rotation.schedule', name: 'prod/x', schedule: { every_seconds: 86400, window: '02:00-04:00' }, rotate: true }, /schedule of prod\/x \(every 86400 s, window 02:00-04:00\) and rotate it now/, ['rotate']],
    [{ kind: 'rotation.schedule', name: 'prod/x', schedule: null, rotate: false }, /^turn off automatic rotation of prod\/x$/, ['rotate']],
  ];
  for (const [op, summary, capabilities] of ops) {
    assert.match(summaryOf(op), summary);
    assert.ok(!summaryOf(op).includes(value) && !summaryOf(op).includes(held.base64));
    assert.deepEqual(checksOf(op).map((c) => c.capability), capabilities, op.kind);
  }
  const webhook = checksOf(ops[7]![0]);
  assert.deepEqual(webhook.map((c) => c.resource), ['prod/x', 'prod/hmac', 'sys:rotation/webhook']);
});

test('held operations are validated as their engine will: bad tags and bad rotation settings are refused before anyone reviews them', () => {
  assert.throws(() => validated({ kind: 'secret.tag', name: 'prod/x', tags: { 'aws:reserved': 'x' } }), /validation|aws:/i);
  assert.throws(() => validated({ kind: 'secret.create', name: 'prod/a b' }), (e: any) => e.code === 'invalid_name');
  assert.throws(() => validated({ kind: 'rotation.configure', name: 'prod/x', settings: { rotator: 'nope' } }), (e: any) => e.code === 'validation_failed');
  const ok = validated({ kind: 'rotation.configure', name: 'prod/x', settings: { rotator: 'postgres', every_seconds: 3600 } });
  assert.equal(ok.kind === 'rotation.configure' && ok.settings?.every_seconds, 3600);
});

test('replication, resource policies and restore: the capabilities their engines check, and a malformed request refused before it is held', () => {
  const grantRead = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::000000000000:root' }, Action: 'secretsmanager:GetSecretValue', Resource: '*' }] });
  assert.deepEqual(checksOf({ kind: 'policy.put', name: 'prod/x', document: grantRead, blockPublic: false }).map((c) => c.capability), ['update', 'read']);
  assert.deepEqual(checksOf({ kind: 'policy.put', name: 'prod/x', document: 'not json', blockPublic: false }).map((c) => c.capability), ['update']);
  assert.deepEqual(checksOf({ kind: 'secret.restore', name: 'prod/x' }).map((c) => c.capability), ['delete']);
  for (const kind of ['replication.remove', 'replication.promote', 'policy.delete'] as const) {
    const op = (kind === 'replication.remove' ? { kind, name: 'prod/x', regions: ['eu-west-1'] } : { kind, name: 'prod/x' }) as ChangeOperation;
    assert.deepEqual(checksOf(op).map((c) => c.capability), ['update'], kind);
  }
  assert.throws(() => validated({ kind: 'replication.add', name: 'prod/x', regions: [{ region: 'Mars' }], overwrite: false }), { code: 'validation_failed' });
  const open = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: 'secretsmanager:GetSecretValue', Resource: '*' }] });
  assert.throws(() => validated({ kind: 'policy.put', name: 'prod/x', document: open, blockPublic: true }), { code: 'invalid_policy' });
  assert.match(summaryOf({ kind: 'replication.add', name: 'prod/x', regions: [{ region: 'eu-west-1' }], overwrite: true }), /replicate prod\/x to eu-west-1, replacing/);
  assert.match(summaryOf({ kind: 'replication.promote', name: 'prod/x', region: 'eu-west-1' }), /promote the replica prod\/x in eu-west-1/);
});

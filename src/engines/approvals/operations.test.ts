import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checksOf, summaryOf } from './operations.js';
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

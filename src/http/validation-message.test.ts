import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validationMessage } from './validation-message.js';

test('validation messages name the field, never the validator\'s internal path', () => {
  assert.equal(validationMessage([{ instancePath: '/recovery_days', keyword: 'maximum', message: 'must be <= 30' }], 'x'), 'recovery_days must be <= 30');
  assert.equal(validationMessage([{ instancePath: '', keyword: 'required', params: { missingProperty: 'name' }, message: "must have required property 'name'" }], 'x'), 'name is required');
  assert.equal(validationMessage([{ instancePath: '/settings/users/0', keyword: 'type', message: 'must be string' }], 'x'), 'settings.users[0] must be string');
  assert.equal(validationMessage([{ instancePath: '', keyword: 'additionalProperties', params: { additionalProperty: 'nmae' } }], 'x'), 'nmae is not a known field');
  assert.equal(validationMessage(undefined, 'fallback'), 'fallback');
  for (const m of [validationMessage([{ instancePath: '/recovery_days', message: 'must be <= 30' }], 'x')]) assert.doesNotMatch(m, /querystring|body\//);
});

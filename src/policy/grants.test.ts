import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAppError } from '../errors/app-error.js';
import { requireHeldPolicies } from './grants.js';

test('a caller hands out only policies it holds; root any; the refusal names what is missing', () => {
  const caller = { isRoot: false, policies: ['etl-read', 'etl-write'] };
  requireHeldPolicies(caller, ['etl-read'], 'a token');
  requireHeldPolicies(caller, [], 'a group');
  requireHeldPolicies({ isRoot: true, policies: ['root'] }, ['anything', 'root'], 'an access key');
  assert.throws(() => requireHeldPolicies(caller, ['etl-read', 'prod-admin', 'root'], 'a role'), (error) => {
    assert.ok(isAppError(error));
    assert.equal(error.code, 'permission_denied');
    assert.equal(error.message, 'a role can only carry policies the caller holds (not: prod-admin, root)');
    return true;
  });
});

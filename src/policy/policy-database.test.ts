import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CAPABILITIES, databaseResource, evaluate, matchesPath, type PolicyDocument, type Principal } from './policy.js';
import { parsePolicyDocument } from './policy-document.js';

/** The database engine's resources are their own namespace (`database:`), fenced from secrets, transit and sys. */
const who = (policies: PolicyDocument[], extra: Partial<Principal> = {}): Principal => ({ policies, env: null, isRoot: false, ...extra });
const everySecret: PolicyDocument = { name: 'every-secret', rules: [{ path: '**', capabilities: [...CAPABILITIES] }] };
const credsRo: PolicyDocument = { name: 'creds-ro', rules: [{ path: 'database:creds/ro', capabilities: ['read'] }] };
const dbAll: PolicyDocument = { name: 'db-all', rules: [{ path: 'database:**', capabilities: [...CAPABILITIES] }] };

test('no secret, transit or sys glob reaches a database resource, and database globs reach nothing else', () => {
  for (const pattern of ['**', 'prod/**', 'transit:**', 'sys:**']) assert.equal(matchesPath(pattern, 'database:creds/ro'), false, pattern);
  for (const resource of ['prod/db', 'transit:prod/k', 'sys:leases']) assert.equal(matchesPath('database:**', resource), false, resource);
  assert.equal(evaluate(who([everySecret]), 'read', databaseResource('creds', 'ro')).allowed, false);
});

test('read on database:creds/ROLE is what issues; it does not grant another role, the config or the roles', () => {
  const p = who([credsRo]);
  assert.equal(evaluate(p, 'read', databaseResource('creds', 'ro')).allowed, true);
  assert.equal(evaluate(p, 'read', databaseResource('creds', 'rw')).allowed, false);
  assert.equal(evaluate(p, 'update', databaseResource('creds', 'ro')).allowed, false);
  assert.equal(evaluate(p, 'read', databaseResource('config', 'ro')).allowed, false);
  assert.equal(evaluate(p, 'read', databaseResource('roles', 'ro')).allowed, false);
});

test('a bound principal never reaches connections or roles (they span environments); creds are left to the role binding check', () => {
  const bound = who([dbAll], { env: 'dev' });
  assert.equal(evaluate(bound, 'update', databaseResource('config', 'pg')).allowed, false);
  assert.equal(evaluate(bound, 'update', databaseResource('roles', 'ro')).allowed, false);
  assert.equal(evaluate({ policies: [], env: 'dev', isRoot: true }, 'read', databaseResource('config', 'pg')).allowed, false);
  assert.equal(evaluate(bound, 'read', databaseResource('creds', 'ro')).allowed, true);
  assert.equal(evaluate(who([], { env: 'dev' }), 'read', databaseResource('creds', 'ro')).allowed, false, 'still needs a policy');
});

test('sys:leases is an administrative resource a bound token cannot use', () => {
  const leases: PolicyDocument = { name: 'leases', rules: [{ path: 'sys:leases', capabilities: ['list', 'update', 'delete'] }] };
  assert.equal(evaluate(who([leases]), 'list', 'sys:leases').allowed, true);
  assert.equal(evaluate(who([leases], { env: 'prod' }), 'list', 'sys:leases').allowed, false);
});

test('policy documents accept database: paths', () => {
  const doc = parsePolicyDocument('db', JSON.stringify({ rules: [{ path: 'database:creds/*', capabilities: ['read'] }] }));
  assert.equal(doc.rules[0]!.path, 'database:creds/*');
});

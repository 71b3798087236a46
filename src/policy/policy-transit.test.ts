import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CAPABILITIES, evaluate, matchesPath, mayAccessUnder, transitResource, type PolicyDocument, type Principal } from './policy.js';
import { parsePolicyDocument } from './policy-document.js';

/** Transit keys are their own policy namespace (`transit:KEY`), fenced from secret globs and bound by environment. */
const who = (policies: PolicyDocument[], extra: Partial<Principal> = {}): Principal => ({ policies, env: null, isRoot: false, ...extra });
const everySecret: PolicyDocument = { name: 'every-secret', rules: [{ path: '**', capabilities: [...CAPABILITIES] }] };
const encryptProd: PolicyDocument = { name: 'encrypt-prod', rules: [{ path: 'transit:prod/**', capabilities: ['encrypt'] }] };
const transitAll: PolicyDocument = { name: 'transit-all', rules: [{ path: 'transit:**', capabilities: [...CAPABILITIES] }] };

test('secret globs, even **, never match a transit key, and transit globs never match secrets or sys', () => {
  assert.equal(matchesPath('**', 'transit:prod/pii'), false);
  assert.equal(matchesPath('prod/**', 'transit:prod/pii'), false);
  assert.equal(matchesPath('transit:**', 'prod/pii'), false);
  assert.equal(matchesPath('transit:**', 'sys:tokens'), false);
  assert.equal(matchesPath('sys:**', 'transit:prod/pii'), false);
  assert.equal(matchesPath('transit:prod/*', 'transit:prod/pii'), true);
  assert.equal(evaluate(who([everySecret]), 'encrypt', transitResource('prod/pii')).allowed, false);
});

test('each transit capability is granted on its own', () => {
  const p = who([encryptProd]);
  assert.equal(evaluate(p, 'encrypt', 'transit:prod/pii').allowed, true);
  for (const capability of ['decrypt', 'rewrap', 'sign', 'verify', 'rotate', 'admin', 'read'] as const) {
    assert.equal(evaluate(p, capability, 'transit:prod/pii').allowed, false, capability);
  }
  assert.equal(evaluate(p, 'encrypt', 'transit:dev/pii').allowed, false);
});

test('the environment binding applies to transit keys by their first segment', () => {
  assert.equal(evaluate(who([transitAll], { env: 'dev' }), 'encrypt', 'transit:prod/pii').allowed, false);
  assert.match(evaluate(who([transitAll], { env: 'dev' }), 'encrypt', 'transit:prod/pii').reason, /bound to environment/);
  assert.equal(evaluate(who([], { env: 'dev', isRoot: true }), 'decrypt', 'transit:prod/pii').allowed, false);
  assert.equal(evaluate(who([transitAll], { env: 'dev' }), 'encrypt', 'transit:dev/pii').allowed, true);
  // a key named like the environment prefix but longer is another environment
  assert.equal(evaluate(who([transitAll], { env: 'dev' }), 'encrypt', 'transit:devil/pii').allowed, false);
});

test('malformed transit resources are refused', () => {
  assert.equal(evaluate(who([], { isRoot: true }), 'encrypt', 'transit:').allowed, false);
  assert.equal(evaluate(who([], { isRoot: true }), 'encrypt', 'transit:prod:x').allowed, false);
});

test('listing under transit: respects namespace and env binding', () => {
  assert.equal(mayAccessUnder(who([encryptProd]), 'encrypt', 'transit:'), true);
  assert.equal(mayAccessUnder(who([encryptProd]), 'encrypt', 'transit:dev/'), false);
  assert.equal(mayAccessUnder(who([everySecret]), 'read', 'transit:'), false);
  assert.equal(mayAccessUnder(who([transitAll], { env: 'dev' }), 'read', 'transit:prod/'), false);
  assert.equal(mayAccessUnder(who([transitAll], { env: 'dev' }), 'read', 'transit:'), true);
  assert.equal(mayAccessUnder(who([encryptProd], { env: 'dev' }), 'encrypt', 'transit:'), false);
});

test('policy documents accept transit: paths and the transit capabilities', () => {
  const doc = parsePolicyDocument('t', 'rules:\n  - path: "transit:prod/**"\n    capabilities: [encrypt, decrypt, admin]\n');
  assert.deepEqual(doc.rules[0], { path: 'transit:prod/**', capabilities: ['encrypt', 'decrypt', 'admin'] });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '../errors/app-error.js';
import { evaluate, type Principal } from './policy.js';
import { parsePolicyDocument } from './policy-document.js';

const dataEng = parsePolicyDocument('data-eng', `
rules:
  - path: "prod/**"
    capabilities: [read, update, delete, stage, rotate]
    approval: { approvers: ["group:platform"], min: 1 }
  - path: "dev/**"
    capabilities: [read, update]
`);
const principal = (extra: Principal['policies'] = []): Principal => ({ policies: [dataEng, ...extra], env: null, isRoot: false });

test('a grant with approval is allowed but says it needs approval; min defaults to 1', () => {
  const d = evaluate(principal(), 'update', 'prod/app/db');
  assert.equal(d.allowed, true);
  assert.deepEqual(d.approval, { approvers: ['group:platform'], min: 1, breakGlass: false, policy: 'data-eng', rule: 'prod/**' });
  const noMin = parsePolicyDocument('p', '{"rules":[{"path":"a/*","capabilities":["update"],"approval":{"approvers":["group:x"]}}]}');
  assert.equal(noMin.rules[0]!.approval!.min, 1);
});

test('a rule with approval gates only the writes it matches; other grants are unaffected', () => {
  assert.equal(evaluate(principal(), 'update', 'dev/app/db').approval, undefined);
  assert.equal(evaluate(principal(), 'update', 'dev/app/db').allowed, true);
});

test('a plain grant in another policy does not lift the approval (approval works like deny)', () => {
  const plain = parsePolicyDocument('plain', 'rules: [{path: "prod/app/*", capabilities: [update]}]');
  const d = evaluate(principal([plain]), 'update', 'prod/app/db');
  assert.equal(d.allowed, true);
  assert.equal(d.approval?.policy, 'data-eng');
});

test('break-glass holds only when every matching approval rule allows it', () => {
  const bg = parsePolicyDocument('bg', 'rules: [{path: "prod/**", capabilities: [update], approval: {approvers: ["group:platform"]}, break_glass: true}]');
  assert.equal(evaluate({ policies: [bg], env: null, isRoot: false }, 'update', 'prod/x').approval?.breakGlass, true);
  assert.equal(evaluate({ policies: [bg, dataEng], env: null, isRoot: false }, 'update', 'prod/x').approval?.breakGlass, false);
});

test('deny still wins over an approval grant; env binding still comes first', () => {
  const deny = parsePolicyDocument('deny', 'rules: [{path: "prod/app/db", deny: true}]');
  assert.equal(evaluate(principal([deny]), 'update', 'prod/app/db').allowed, false);
  assert.equal(evaluate({ ...principal(), env: 'dev' }, 'update', 'prod/app/db').allowed, false);
});

test('malformed approval rules are refused with invalid_policy', () => {
  const bad = [
    'rules: [{path: "a", deny: true, approval: {approvers: ["group:x"]}}]',
    'rules: [{path: "a", capabilities: [update], break_glass: true}]',
    'rules: [{path: "a", capabilities: [update], approval: {approvers: []}}]',
    'rules: [{path: "a", capabilities: [update], approval: {approvers: ["platform"]}}]',
    'rules: [{path: "a", capabilities: [update], approval: {approvers: ["group:x"], min: 0}}]',
    'rules: [{path: "a", capabilities: [update], approval: {approvers: ["group:x"], quorum: 2}}]',
  ];
  for (const text of bad) {
    assert.throws(() => parsePolicyDocument('p', text), (e: unknown) => e instanceof AppError && e.code === 'invalid_policy', text);
  }
});

test('the strictest matching approval rule decides (highest min), whatever the order', () => {
  const doc = parsePolicyDocument('two', `
rules:
  - { path: "prod/**", capabilities: [update], approval: { approvers: ["group:platform"] } }
  - { path: "prod/critical/**", capabilities: [update], approval: { approvers: ["group:security"], min: 2 } }
`);
  const d = evaluate({ policies: [doc], env: null, isRoot: false }, 'update', 'prod/critical/key');
  assert.deepEqual([d.approval?.min, d.approval?.approvers, d.approval?.rule], [2, ['group:security'], 'prod/critical/**']);
  assert.equal(evaluate({ policies: [doc], env: null, isRoot: false }, 'update', 'prod/app/db').approval?.min, 1);
});

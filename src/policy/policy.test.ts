import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '../errors/app-error.js';
import { CAPABILITIES, evaluate, matchesPath, mayAccessUnder, type Capability, type PolicyDocument, type Principal } from './policy.js';
import { parsePolicyDocument, validatePolicyName } from './policy-document.js';

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

const etlRead: PolicyDocument = {
  name: 'etl-read',
  rules: [
    { path: 'prod/etl/**', capabilities: ['read', 'list'] },
    { path: 'prod/*/db', capabilities: ['read'] },
  ],
};
const literals: PolicyDocument = {
  name: 'literals',
  rules: [
    { path: 'prod/app/db.primary', capabilities: ['read'] },
    { path: 'prod/app/a+b=c@d', capabilities: ['update'] },
    { path: '*/app/*', capabilities: ['list'] },
  ],
};
const everySecret: PolicyDocument = { name: 'every-secret', rules: [{ path: '**', capabilities: [...CAPABILITIES] }] };
const denyProd: PolicyDocument = { name: 'no-prod', rules: [{ path: 'prod/**', deny: true }] };
const denyPayments: PolicyDocument = { name: 'no-payments', rules: [{ path: 'prod/payments/*', deny: true }] };
const sysAll: PolicyDocument = { name: 'admin', rules: [{ path: 'sys:**', capabilities: ['read', 'create', 'update', 'delete'] }] };
const sysPolicies: PolicyDocument = { name: 'policy-admin', rules: [{ path: 'sys:policies/*', capabilities: ['read', 'update'] }] };
const rotator: PolicyDocument = {
  name: 'rotator',
  rules: [
    { path: 'prod/**', capabilities: ['rotate', 'stage'] },
    { path: 'sys:rotation/**', capabilities: ['read'] },
  ],
};

function who(policies: PolicyDocument[], opts: { env?: string | null; isRoot?: boolean } = {}): Principal {
  return { policies, env: opts.env ?? null, isRoot: opts.isRoot ?? false };
}

interface EvalCase {
  desc: string;
  principal: Principal;
  capability: Capability;
  resource: string;
  allowed: boolean;
}

const evalCases: EvalCase[] = [
  // default deny
  { desc: 'no policies: default deny', principal: who([]), capability: 'read', resource: 'prod/a/b', allowed: false },
  { desc: 'policy with no matching rule: default deny', principal: who([etlRead]), capability: 'read', resource: 'dev/etl/x', allowed: false },
  // ** vs *
  { desc: '** matches one segment below', principal: who([etlRead]), capability: 'read', resource: 'prod/etl/x', allowed: true },
  { desc: '** matches many segments below', principal: who([etlRead]), capability: 'read', resource: 'prod/etl/a/b/c', allowed: true },
  { desc: '** matches zero segments (the prefix itself)', principal: who([etlRead]), capability: 'list', resource: 'prod/etl', allowed: true },
  { desc: '** does not match a sibling with the same string prefix', principal: who([etlRead]), capability: 'read', resource: 'prod/etl2/x', allowed: false },
  { desc: '* matches exactly one segment', principal: who([etlRead]), capability: 'read', resource: 'prod/billing/db', allowed: true },
  { desc: '* does not cross /', principal: who([etlRead]), capability: 'read', resource: 'prod/billing/x/db', allowed: false },
  { desc: '* in first segment matches any env', principal: who([literals]), capability: 'list', resource: 'dev/app/x', allowed: true },
  { desc: '*/app/* does not match deeper paths', principal: who([literals]), capability: 'list', resource: 'dev/app/x/y', allowed: false },
  { desc: 'bare ** grants every secret', principal: who([everySecret]), capability: 'delete', resource: 'staging/a/b/c/d', allowed: true },
  // literal metacharacters
  { desc: '. is literal (exact)', principal: who([literals]), capability: 'read', resource: 'prod/app/db.primary', allowed: true },
  { desc: '. is not a regex wildcard', principal: who([literals]), capability: 'read', resource: 'prod/app/dbXprimary', allowed: false },
  { desc: '+ = @ are literal (exact)', principal: who([literals]), capability: 'update', resource: 'prod/app/a+b=c@d', allowed: true },
  { desc: '+ is not a regex quantifier', principal: who([literals]), capability: 'update', resource: 'prod/app/aab=c@d', allowed: false },
  // capability not listed
  { desc: 'matching rule without the capability denies', principal: who([etlRead]), capability: 'delete', resource: 'prod/etl/x', allowed: false },
  { desc: 'rotate granted, read not', principal: who([rotator]), capability: 'read', resource: 'prod/etl/x', allowed: false },
  { desc: 'rotate granted', principal: who([rotator]), capability: 'rotate', resource: 'prod/etl/x', allowed: true },
  // deny wins
  { desc: 'deny in another policy beats allow', principal: who([everySecret, denyProd]), capability: 'read', resource: 'prod/a', allowed: false },
  { desc: 'deny wins regardless of policy order', principal: who([denyProd, everySecret]), capability: 'read', resource: 'prod/a', allowed: false },
  { desc: 'deny applies only where it matches', principal: who([everySecret, denyProd]), capability: 'read', resource: 'dev/a', allowed: true },
  { desc: 'narrow deny beats broad allow', principal: who([etlRead, everySecret, denyPayments]), capability: 'read', resource: 'prod/payments/key', allowed: false },
  { desc: 'narrow deny leaves siblings allowed', principal: who([everySecret, denyPayments]), capability: 'read', resource: 'prod/payments/a/b', allowed: true },
  // root
  { desc: 'root may do anything on secrets', principal: who([], { isRoot: true }), capability: 'delete', resource: 'prod/x/y', allowed: true },
  { desc: 'root may do anything on sys resources', principal: who([], { isRoot: true }), capability: 'update', resource: 'sys:operator', allowed: true },
  // env binding
  { desc: 'env binding allows its own env', principal: who([everySecret], { env: 'dev' }), capability: 'read', resource: 'dev/a/b', allowed: true },
  { desc: 'env binding beats policies', principal: who([everySecret], { env: 'dev' }), capability: 'read', resource: 'prod/a/b', allowed: false },
  { desc: 'env binding beats root', principal: who([], { env: 'dev', isRoot: true }), capability: 'read', resource: 'prod/a', allowed: false },
  { desc: 'bound root still owns its env', principal: who([], { env: 'dev', isRoot: true }), capability: 'delete', resource: 'dev/a', allowed: true },
  { desc: 'env binding compares whole first segment', principal: who([everySecret], { env: 'dev' }), capability: 'read', resource: 'devops/a', allowed: false },
  { desc: 'env binding excludes sys resources that span every environment (audit)', principal: who([sysAll], { env: 'dev' }), capability: 'read', resource: 'sys:audit', allowed: false },
  { desc: 'env binding excludes policy writes even with sys:**', principal: who([sysAll], { env: 'dev' }), capability: 'update', resource: 'sys:policies/readers', allowed: false },
  { desc: 'env binding excludes operator actions even for root', principal: who([], { env: 'dev', isRoot: true }), capability: 'update', resource: 'sys:operator', allowed: false },
  { desc: 'env-bound principal may still create tokens (children inherit the binding)', principal: who([sysAll], { env: 'dev' }), capability: 'create', resource: 'sys:tokens', allowed: true },
  { desc: 'env-bound root may still manage access keys', principal: who([], { env: 'dev', isRoot: true }), capability: 'create', resource: 'sys:aws-keys', allowed: true },
  { desc: 'env binding alone grants nothing', principal: who([], { env: 'dev' }), capability: 'read', resource: 'dev/a', allowed: false },
  // sys resources
  { desc: '** grants no admin power', principal: who([everySecret]), capability: 'read', resource: 'sys:tokens', allowed: false },
  { desc: '** grants no policy admin', principal: who([everySecret]), capability: 'update', resource: 'sys:policies/readers', allowed: false },
  { desc: 'sys:** matches every admin resource', principal: who([sysAll]), capability: 'read', resource: 'sys:audit', allowed: true },
  { desc: 'sys:** matches nested admin resources', principal: who([sysAll]), capability: 'delete', resource: 'sys:policies/readers', allowed: true },
  { desc: 'sys:** grants no secrets', principal: who([sysAll]), capability: 'read', resource: 'prod/a', allowed: false },
  { desc: 'sys:policies/* matches one policy', principal: who([sysPolicies]), capability: 'update', resource: 'sys:policies/readers', allowed: true },
  { desc: 'sys:policies/* does not match tokens', principal: who([sysPolicies]), capability: 'read', resource: 'sys:tokens', allowed: false },
  { desc: 'sys:rotation/** matches rotation resources', principal: who([rotator]), capability: 'read', resource: 'sys:rotation/prod/a', allowed: true },
  // malformed input
  { desc: 'secret-looking resource with ":" is denied', principal: who([everySecret]), capability: 'read', resource: 'prod:a', allowed: false },
  { desc: 'empty resource is denied even for root', principal: who([], { isRoot: true }), capability: 'read', resource: '', allowed: false },
];

for (const c of evalCases) {
  test(`evaluate: ${c.desc}`, () => {
    const decision = evaluate(c.principal, c.capability, c.resource);
    assert.equal(decision.allowed, c.allowed, decision.reason);
    assert.equal(typeof decision.reason, 'string');
    assert.ok(decision.reason.length > 0);
  });
}

test('evaluate: table has at least 30 cases', () => {
  assert.ok(evalCases.length >= 30);
});

test('evaluate: reasons, matchedRule and the deciding policy', () => {
  assert.deepEqual(evaluate(who([etlRead]), 'read', 'prod/etl/x'), {
    allowed: true,
    reason: 'allowed by policy "etl-read" rule "prod/etl/**"',
    matchedRule: 'prod/etl/**',
    policy: 'etl-read',
  });
  assert.deepEqual(evaluate(who([everySecret, denyProd]), 'read', 'prod/a'), {
    allowed: false,
    reason: 'denied by policy "no-prod" rule "prod/**"',
    matchedRule: 'prod/**',
    policy: 'no-prod',
  });
  assert.deepEqual(evaluate(who([]), 'read', 'prod/a'), { allowed: false, reason: 'no policy grants "read" on "prod/a"' });
  assert.deepEqual(evaluate(who([everySecret], { env: 'dev', isRoot: true }), 'read', 'prod/a'), {
    allowed: false,
    reason: 'token is bound to environment "dev"',
  });
  const root = evaluate(who([], { isRoot: true }), 'read', 'prod/a');
  assert.equal(root.allowed, true);
  assert.equal(root.matchedRule, undefined);
});

// ---------------------------------------------------------------------------
// matchesPath
// ---------------------------------------------------------------------------

const matchCases: Array<[pattern: string, resource: string, expected: boolean]> = [
  ['prod/**', 'prod', true],
  ['prod/**', 'prod/a', true],
  ['prod/**', 'prod/a/b/c', true],
  ['prod/**', 'production/a', false],
  ['prod/*/db', 'prod/x/db', true],
  ['prod/*/db', 'prod/x/y/db', false],
  ['*/app/*', 'dev/app/x', true],
  ['**/db', 'db', true],
  ['**/db', 'a/b/db', true],
  ['a/**/b', 'a/b', true],
  ['a/**/b', 'a/x/y/b', true],
  ['a/**/b', 'a/x/y/c', false],
  ['prod/app-*', 'prod/app-web', true],
  ['prod/*-db', 'prod/app-web', false],
  ['prod/a.b', 'prod/aXb', false],
  ['**', 'sys:tokens', false],
  ['*', 'sys:audit', false],
  ['sys:**', 'sys:tokens', true],
  ['sys:**', 'sys:rotation/prod/a', true],
  ['sys:**', 'prod/a', false],
  ['sys:policies/*', 'sys:policies/readers', true],
  ['sys:policies/*', 'sys:policies', false],
  ['sys:tokens', 'sys:tokens', true],
];

for (const [pattern, resource, expected] of matchCases) {
  test(`matchesPath(${JSON.stringify(pattern)}, ${JSON.stringify(resource)}) === ${expected}`, () => {
    assert.equal(matchesPath(pattern, resource), expected);
  });
}

// A backtracking matcher would take exponential time here and never finish; the linear one
// answers at once. The runner's timeout is the guard, so no wall-clock assertion is needed.
test('matchesPath: many globstars do not backtrack exponentially', { timeout: 60_000 }, () => {
  const pattern = Array.from({ length: 100 }, () => '**').join('/') + '/z';
  const resource = Array.from({ length: 200 }, () => 'a').join('/');
  assert.equal(matchesPath(pattern, resource), false);
  assert.equal(matchesPath(pattern, resource + '/z'), true);
});

// ---------------------------------------------------------------------------
// parsePolicyDocument
// ---------------------------------------------------------------------------

function assertInvalidPolicy(fn: () => unknown, messageIncludes?: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof AppError, 'expected AppError');
    assert.equal(error.code, 'invalid_policy');
    if (messageIncludes !== undefined) assert.ok(error.message.includes(messageIncludes), `message was: ${error.message}`);
    return true;
  });
}

test('parsePolicyDocument: valid YAML', () => {
  const doc = parsePolicyDocument(
    'etl-read',
    ['rules:', '  - path: "prod/etl/**"', '    capabilities: [read, list]', '  - path: prod/etl/secret-key', '    deny: true', ''].join('\n'),
  );
  assert.deepEqual(doc, {
    name: 'etl-read',
    rules: [
      { path: 'prod/etl/**', capabilities: ['read', 'list'] },
      { path: 'prod/etl/secret-key', deny: true },
    ],
  });
});

test('parsePolicyDocument: valid JSON', () => {
  const doc = parsePolicyDocument(
    'admin',
    JSON.stringify({ rules: [{ path: 'sys:**', capabilities: ['read'] }, { path: 'prod/a+b=c@d.e', capabilities: ['update'] }] }),
  );
  assert.deepEqual(doc.rules, [
    { path: 'sys:**', capabilities: ['read'] },
    { path: 'prod/a+b=c@d.e', capabilities: ['update'] },
  ]);
  assert.equal(doc.name, 'admin');
});

const invalidDocs: Array<[desc: string, text: string, messageIncludes: string]> = [
  ['unknown rule key', '{"rules":[{"path":"a/b","capabilities":["read"],"effect":"allow"}]}', 'rules[0]'],
  ['unknown top-level key', '{"rules":[{"path":"a/b","capabilities":["read"]}],"version":1}', '"version"'],
  ['both capabilities and deny', '{"rules":[{"path":"a","capabilities":["read"]},{"path":"a/b","capabilities":["read"],"deny":true}]}', 'rules[1]'],
  ['neither capabilities nor deny', '{"rules":[{"path":"a/b"}]}', 'rules[0]'],
  ['deny: false', '{"rules":[{"path":"a/b","deny":false}]}', 'rules[0].deny'],
  ['unknown capability', 'rules:\n  - path: a/b\n    capabilities: [read, write]\n', 'rules[0].capabilities[1]'],
  ['empty capabilities', '{"rules":[{"path":"a/b","capabilities":[]}]}', 'rules[0].capabilities'],
  ['empty rules', '{"rules":[]}', 'rules'],
  ['missing rules', '{}', 'rules'],
  ['rules not an array', 'rules: prod/**\n', 'rules'],
  ['top level not a mapping', '- path: a\n', 'rules'],
  ['empty document', '', 'rules'],
  ['bad path chars (space)', '{"rules":[{"path":"prod/a b","capabilities":["read"]}]}', 'rules[0].path'],
  ['bad path chars (colon)', '{"rules":[{"path":"prod:a","capabilities":["read"]}]}', 'rules[0].path'],
  ['bad path chars (sys: not at start)', '{"rules":[{"path":"a/sys:b","capabilities":["read"]}]}', 'rules[0].path'],
  ['bare sys: prefix', '{"rules":[{"path":"sys:","capabilities":["read"]}]}', 'rules[0].path'],
  ['empty path', '{"rules":[{"path":"","capabilities":["read"]}]}', 'rules[0].path'],
  ['path too long', JSON.stringify({ rules: [{ path: 'a'.repeat(513), capabilities: ['read'] }] }), 'rules[0].path'],
  ['path not a string', '{"rules":[{"path":5,"capabilities":["read"]}]}', 'rules[0].path'],
  ['rule not an object', '{"rules":["prod/**"]}', 'rules[0]'],
  ['malformed YAML', 'rules: [\n', 'not valid YAML or JSON'],
  ['malformed JSON', '{"rules": [}', 'not valid YAML or JSON'],
  ['duplicate keys', 'rules: []\nrules: []\n', 'not valid YAML or JSON'],
];

for (const [desc, text, messageIncludes] of invalidDocs) {
  test(`parsePolicyDocument rejects: ${desc}`, () => {
    assertInvalidPolicy(() => parsePolicyDocument('p', text), messageIncludes);
  });
}

test('parsePolicyDocument: 512-character path is accepted', () => {
  const path = 'a'.repeat(512);
  assert.equal(parsePolicyDocument('p', JSON.stringify({ rules: [{ path, capabilities: ['read'] }] })).rules[0]?.path, path);
});

test('parsePolicyDocument: error details list issues with paths', () => {
  try {
    parsePolicyDocument('p', '{"rules":[{"path":"ok","capabilities":["read"]},{"path":"a b","capabilities":["nope"]}]}');
    assert.fail('expected to throw');
  } catch (error) {
    assert.ok(error instanceof AppError);
    const issues = error.details?.issues as Array<{ path: string; message: string }>;
    assert.ok(Array.isArray(issues));
    const paths = issues.map((i) => i.path).sort();
    assert.deepEqual(paths, ['rules[1].capabilities[0]', 'rules[1].path']);
  }
});

test('parsePolicyDocument: rejects an invalid policy name', () => {
  assertInvalidPolicy(() => parsePolicyDocument('root', '{"rules":[{"path":"a","capabilities":["read"]}]}'));
});

// ---------------------------------------------------------------------------
// validatePolicyName
// ---------------------------------------------------------------------------

const nameCases: Array<[name: string, valid: boolean]> = [
  ['readers', true],
  ['etl-read_v2.1', true],
  ['A', true],
  ['-dash-first', true],
  ['x'.repeat(128), true],
  ['', false],
  ['x'.repeat(129), false],
  ['.hidden', false],
  ['has space', false],
  ['slash/name', false],
  ['colon:name', false],
  ['root', false],
  ['ROOT', false],
  ['root2', true],
];

for (const [name, valid] of nameCases) {
  test(`validatePolicyName(${JSON.stringify(name.length > 20 ? `${name.slice(0, 10)}…(${name.length})` : name)}) ${valid ? 'accepts' : 'rejects'}`, () => {
    if (valid) assert.doesNotThrow(() => validatePolicyName(name));
    else assertInvalidPolicy(() => validatePolicyName(name));
  });
}

// ---------------------------------------------------------------------------
// mayAccessUnder
// ---------------------------------------------------------------------------

const underCases: Array<{ desc: string; principal: Principal; capability: Capability; prefix: string; expected: boolean }> = [
  { desc: 'no policies', principal: who([]), capability: 'list', prefix: '', expected: false },
  { desc: 'root, any prefix', principal: who([], { isRoot: true }), capability: 'list', prefix: 'prod/', expected: true },
  { desc: 'root bound to dev, prod prefix', principal: who([], { isRoot: true, env: 'dev' }), capability: 'list', prefix: 'prod/', expected: false },
  { desc: 'root bound to dev, empty prefix', principal: who([], { isRoot: true, env: 'dev' }), capability: 'list', prefix: '', expected: true },
  { desc: 'root bound to dev, partial env prefix', principal: who([], { isRoot: true, env: 'dev' }), capability: 'list', prefix: 'de', expected: true },
  { desc: 'root bound to dev, deeper dev prefix', principal: who([], { isRoot: true, env: 'dev' }), capability: 'list', prefix: 'dev/app/', expected: true },
  { desc: 'root bound to dev, devops prefix', principal: who([], { isRoot: true, env: 'dev' }), capability: 'list', prefix: 'devops/', expected: false },
  { desc: 'pattern under prefix', principal: who([etlRead]), capability: 'list', prefix: 'prod/', expected: true },
  { desc: 'prefix under pattern literal', principal: who([etlRead]), capability: 'list', prefix: 'prod/etl/a/', expected: true },
  { desc: 'empty prefix', principal: who([etlRead]), capability: 'list', prefix: '', expected: true },
  { desc: 'partial segment prefix', principal: who([etlRead]), capability: 'list', prefix: 'prod/e', expected: true },
  { desc: 'disjoint prefix', principal: who([etlRead]), capability: 'list', prefix: 'dev/', expected: false },
  { desc: 'capability not granted', principal: who([etlRead]), capability: 'delete', prefix: 'prod/', expected: false },
  { desc: 'leading * matches any env prefix', principal: who([literals]), capability: 'list', prefix: 'staging/app/', expected: true },
  { desc: 'leading * respects later literals', principal: who([literals]), capability: 'list', prefix: 'staging/web/', expected: false },
  { desc: 'deny rules grant nothing', principal: who([denyProd]), capability: 'list', prefix: '', expected: false },
  { desc: 'env binding excludes prefix', principal: who([everySecret], { env: 'dev' }), capability: 'list', prefix: 'prod/', expected: false },
  { desc: 'env binding intersects with patterns', principal: who([etlRead], { env: 'dev' }), capability: 'list', prefix: '', expected: false },
  { desc: 'env binding compatible', principal: who([everySecret], { env: 'dev' }), capability: 'list', prefix: '', expected: true },
  { desc: 'sys patterns do not grant secret listing', principal: who([sysAll]), capability: 'read', prefix: '', expected: false },
  { desc: 'secret patterns do not grant sys listing', principal: who([everySecret]), capability: 'read', prefix: 'sys:policies/', expected: false },
  { desc: 'sys prefix with sys pattern', principal: who([sysPolicies]), capability: 'read', prefix: 'sys:policies/', expected: true },
  { desc: 'sys prefix ignores env binding', principal: who([sysAll], { env: 'dev' }), capability: 'read', prefix: 'sys:', expected: true },
  { desc: 'exact-path rule under prefix', principal: who([literals]), capability: 'read', prefix: 'prod/app/', expected: true },
  { desc: 'exact-path rule not under deeper prefix', principal: who([literals]), capability: 'read', prefix: 'prod/app/db.primary/', expected: false },
];

for (const c of underCases) {
  test(`mayAccessUnder: ${c.desc}`, () => {
    assert.equal(mayAccessUnder(c.principal, c.capability, c.prefix), c.expected);
  });
}

test('mayAccessUnder agrees with evaluate: whenever evaluate allows, mayAccessUnder allows for every prefix of the resource', () => {
  for (const c of evalCases) {
    if (!evaluate(c.principal, c.capability, c.resource).allowed) continue;
    const startAt = c.resource.startsWith('sys:') ? 4 : 0;
    for (let i = startAt; i <= c.resource.length; i += 1) {
      const prefix = c.resource.slice(0, i);
      assert.equal(mayAccessUnder(c.principal, c.capability, prefix), true, `${c.desc} / prefix ${JSON.stringify(prefix)}`);
    }
  }
});

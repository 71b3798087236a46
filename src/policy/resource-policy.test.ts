import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decide, grantedCapabilities, isPublic, parseResourcePolicy, principalArn, validateResourcePolicy } from './resource-policy.js';

const ACCOUNT = '123456789012';
const ARN = `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:prod/db-AbCdEf`;
const doc = (...Statement: Record<string, unknown>[]) => JSON.stringify({ Version: '2012-10-17', Statement });
const me = principalArn(ACCOUNT, 'aws:AKCUALICE');

test('principals: access keys and native accessors become IAM user ARNs', () => {
  assert.equal(me, `arn:aws:iam::${ACCOUNT}:user/AKCUALICE`);
  assert.equal(principalArn(ACCOUNT, 'acc_123'), `arn:aws:iam::${ACCOUNT}:user/acc_123`);
});

test('an applicable Deny wins over an Allow; Deny covers every action of a capability, Allow only its first', () => {
  const policy = parseResourcePolicy(doc(
    { Effect: 'Allow', Principal: { AWS: me }, Action: 'secretsmanager:*', Resource: '*' },
    { Effect: 'Deny', Principal: { AWS: [me] }, Action: 'secretsmanager:DescribeSecret', Resource: ARN },
  ));
  const at = (capability: 'read' | 'list' | 'update') => decide(policy, { accountId: ACCOUNT, principal: me, capability, secretArn: ARN });
  assert.equal(at('read'), 'allow');
  assert.equal(at('list'), 'deny');
  assert.equal(decide(policy, { accountId: ACCOUNT, principal: principalArn(ACCOUNT, 'aws:AKCUBOB'), capability: 'read', secretArn: ARN }), null);
  const describeOnly = parseResourcePolicy(doc({ Effect: 'Allow', Principal: { AWS: me }, Action: 'secretsmanager:DescribeSecret', Resource: '*' }));
  assert.equal(decide(describeOnly, { accountId: ACCOUNT, principal: me, capability: 'list', secretArn: ARN }), 'allow');
  assert.equal(decide(describeOnly, { accountId: ACCOUNT, principal: me, capability: 'read', secretArn: ARN }), null, 'DescribeSecret never grants read');
  assert.deepEqual(grantedCapabilities(describeOnly), ['list']);
});

test('account principals: Deny applies to everyone in the account, Allow defers to their own policies; conditions fail closed', () => {
  const deny = parseResourcePolicy(doc({ Effect: 'Deny', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'secretsmanager:GetSecretValue', Resource: '*' }));
  assert.equal(decide(deny, { accountId: ACCOUNT, principal: me, capability: 'read', secretArn: ARN }), 'deny');
  const allow = parseResourcePolicy(doc({ Effect: 'Allow', Principal: { AWS: ACCOUNT }, Action: '*', Resource: '*' }));
  assert.equal(decide(allow, { accountId: ACCOUNT, principal: me, capability: 'read', secretArn: ARN }), null);
  const conditional = parseResourcePolicy(doc(
    { Effect: 'Allow', Principal: '*', Action: '*', Resource: '*', Condition: { Bool: { 'aws:SecureTransport': 'true' } } },
    { Effect: 'Deny', Principal: { AWS: me }, Action: 'secretsmanager:PutSecretValue', Resource: '*', Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } } },
  ));
  assert.equal(decide(conditional, { accountId: ACCOUNT, principal: me, capability: 'read', secretArn: ARN }), null, 'a conditional Allow grants nothing');
  assert.equal(decide(conditional, { accountId: ACCOUNT, principal: me, capability: 'update', secretArn: ARN }), 'deny', 'a conditional Deny applies');
  assert.equal(isPublic(conditional), false);
});

test('statements for another resource do not apply; documents Custos cannot evaluate are refused', () => {
  const elsewhere = parseResourcePolicy(doc({ Effect: 'Deny', Principal: '*', Action: '*', Resource: `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:other-*` }));
  assert.equal(decide(elsewhere, { accountId: ACCOUNT, principal: me, capability: 'read', secretArn: ARN }), null);
  for (const bad of ['', '{', '[]', doc(), doc({ Effect: 'Allow', Action: '*' }), doc({ Effect: 'Allow', Principal: '*', NotAction: 'x', Resource: '*' }),
    doc({ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: '*' }), doc({ Effect: 'Permit', Principal: '*', Action: '*' })]) {
    assert.throws(() => parseResourcePolicy(bad), (e: { code?: string }) => e.code === 'invalid_policy', bad);
  }
  assert.deepEqual(validateResourcePolicy(doc({ Effect: 'Allow', Principal: { AWS: '*' }, Action: 'secretsmanager:GetSecretValue' })).map((e) => e.CheckName), ['PUBLIC_ACCESS_CHECK']);
});

test('"Action": "*" grants only Secrets Manager capabilities: never admin or a transit operation', () => {
  const everything = parseResourcePolicy(doc({ Effect: 'Allow', Principal: { AWS: me }, Action: '*', Resource: '*' }));
  for (const capability of ['admin', 'encrypt', 'decrypt', 'rewrap', 'sign', 'verify'] as const) {
    assert.equal(decide(everything, { accountId: ACCOUNT, principal: me, capability, secretArn: ARN }), null, capability);
  }
  assert.equal(decide(everything, { accountId: ACCOUNT, principal: me, capability: 'read', secretArn: ARN }), 'allow');
  assert.deepEqual(grantedCapabilities(everything).sort(), ['create', 'delete', 'list', 'read', 'rotate', 'stage', 'update']);
});

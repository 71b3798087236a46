import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  BatchGetSecretValueCommand, CreateSecretCommand, DeleteResourcePolicyCommand, DeleteSecretCommand, DescribeSecretCommand, GetRandomPasswordCommand,
  GetResourcePolicyCommand, GetSecretValueCommand, ListSecretsCommand, PutResourcePolicyCommand, PutSecretValueCommand, RestoreSecretCommand,
  TagResourceCommand, ValidateResourcePolicyCommand, type ListSecretsCommandInput,
} from '@aws-sdk/client-secrets-manager';
import { api, startServer, type RunningServer } from '../support/custos-server.js';
import { awsClient, awsError, createAwsKey } from '../support/aws.js';
import { createToken, writePolicy } from '../support/http-helpers.js';

const ACCOUNT = '123456789012';
const token = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const policy = (...statements: Record<string, unknown>[]) => JSON.stringify({ Version: '2012-10-17', Statement: statements });
type SmClient = ReturnType<typeof awsClient>;
const keyPrincipal = (accessKeyId: string) => `arn:aws:iam::${ACCOUNT}:user/${accessKeyId}`;

/** Edge semantics as AWS Secrets Manager answers them, through the AWS SDK for JavaScript v3. */
describe('AWS parity: messages, error codes, idempotent deletes, filters, resource policies', () => {
  let server: RunningServer;
  let sm: ReturnType<typeof awsClient>;

  before(async () => {
    server = await startServer();
    sm = awsClient(server);
  });
  after(async () => {
    sm?.destroy();
    await server?.stop();
    server?.cleanup();
  });

  test("error messages in AWS's words", async () => {
    const missing = await awsError(sm.send(new GetSecretValueCommand({ SecretId: 'par/none' })));
    assert.deepEqual([missing.name, missing.message], ['ResourceNotFoundException', "Secrets Manager can't find the specified secret."]);
    const created = await sm.send(new CreateSecretCommand({ Name: 'par/msg', SecretString: 'one', ClientRequestToken: token(1) }));
    const exists = await awsError(sm.send(new CreateSecretCommand({ Name: 'par/msg', SecretString: 'x' })));
    assert.deepEqual([exists.name, exists.message], ['ResourceExistsException', 'The operation failed because the secret par/msg already exists.']);
    const reused = await awsError(sm.send(new PutSecretValueCommand({ SecretId: 'par/msg', SecretString: 'other', ClientRequestToken: token(1) })));
    assert.deepEqual([reused.name, reused.message], ['ResourceExistsException', `You can't use ClientRequestToken ${token(1)} because that value is already in use for a version of secret ${created.ARN}.`]);
    const window = await awsError(sm.send(new DeleteSecretCommand({ SecretId: 'par/msg', RecoveryWindowInDays: 3 })));
    assert.deepEqual([window.name, window.message], ['InvalidParameterException', 'The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).']);
    const both = await awsError(sm.send(new DeleteSecretCommand({ SecretId: 'par/msg', RecoveryWindowInDays: 7, ForceDeleteWithoutRecovery: true })));
    assert.deepEqual([both.name, both.message], ['InvalidParameterException', "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays."]);
    await sm.send(new DeleteSecretCommand({ SecretId: 'par/msg', RecoveryWindowInDays: 7 }));
    const marked = await awsError(sm.send(new GetSecretValueCommand({ SecretId: 'par/msg' })));
    assert.deepEqual([marked.name, marked.message], ['InvalidRequestException', "You can't perform this operation on the secret because it was marked for deletion."]);
    const recreate = await awsError(sm.send(new CreateSecretCommand({ Name: 'par/msg', SecretString: 'again' })));
    assert.deepEqual([recreate.name, recreate.message], ['InvalidRequestException', "You can't create this secret because a secret with this name is already scheduled for deletion."]);
    // Per-secret batch errors are worded the same way.
    const batch = await sm.send(new BatchGetSecretValueCommand({ SecretIdList: ['par/none'] }));
    assert.deepEqual(batch.Errors!.map((e) => [e.ErrorCode, e.Message]), [['ResourceNotFoundException', "Secrets Manager can't find the specified secret."]]);
  });

  test('error codes: invalid filter keys, out-of-range password lengths, a write without a value, resource policies on unknown secrets', async () => {
    const badKey = await awsError(sm.send(new ListSecretsCommand({ Filters: [{ Key: 'color' as 'name', Values: ['x'] }] })));
    assert.equal(badKey.name, 'ValidationException');
    assert.match(badKey.message, /Value 'color' at 'filters\.1\.member\.key' failed to satisfy constraint/);
    assert.equal((await awsError(sm.send(new BatchGetSecretValueCommand({ Filters: [{ Key: 'colour' as 'name', Values: ['x'] }] })))).name, 'ValidationException');
    const noKey = await awsError(sm.send(new ListSecretsCommand({ Filters: [{ Values: ['x'] }] })));
    assert.deepEqual([noKey.name, noKey.message], ['InvalidParameterException', 'Invalid filter key']);
    const noValues = await awsError(sm.send(new ListSecretsCommand({ Filters: [{ Key: 'name' }] })));
    assert.deepEqual([noValues.name, noValues.message], ['InvalidParameterException', 'Invalid filter values for key: name']);
    for (const length of [5000, 0]) {
      const tooLong = await awsError(sm.send(new GetRandomPasswordCommand({ PasswordLength: length })));
      assert.equal(tooLong.name, 'ValidationException', `PasswordLength ${length}`);
      assert.match(tooLong.message, /at 'passwordLength' failed to satisfy constraint/);
    }
    assert.equal((await sm.send(new GetRandomPasswordCommand({ PasswordLength: 4096 }))).RandomPassword!.length, 4096);
    await sm.send(new CreateSecretCommand({ Name: 'par/novalue', SecretString: 'v' }));
    const noValue = await awsError(sm.send(new PutSecretValueCommand({ SecretId: 'par/novalue' })));
    assert.deepEqual([noValue.name, noValue.message], ['InvalidRequestException', 'You must provide either SecretString or SecretBinary.']);
    for (const command of [new GetResourcePolicyCommand({ SecretId: 'par/ghost' }), new DeleteResourcePolicyCommand({ SecretId: 'par/ghost' }),
      new PutResourcePolicyCommand({ SecretId: 'par/ghost', ResourcePolicy: policy({ Effect: 'Deny', Principal: '*', Action: 'secretsmanager:*', Resource: '*' }) })]) {
      const e = await awsError(sm.send(command as never));
      assert.deepEqual([e.name, e.message], ['ResourceNotFoundException', "Secrets Manager can't find the specified secret."]);
    }
  });

  test('force-deleting a missing secret and restoring a secret that is not deleted succeed, as in AWS', async () => {
    const gone = await sm.send(new DeleteSecretCommand({ SecretId: 'par/never-was', ForceDeleteWithoutRecovery: true }));
    assert.equal(gone.Name, 'par/never-was');
    assert.match(gone.ARN!, /^arn:aws:secretsmanager:us-east-1:123456789012:secret:par\/never-was-[A-Za-z0-9]{6}$/);
    assert.ok(gone.DeletionDate instanceof Date);
    assert.equal((await awsError(sm.send(new DeleteSecretCommand({ SecretId: 'par/never-was' })))).name, 'ResourceNotFoundException', 'without force it is still not found');
    const live = await sm.send(new CreateSecretCommand({ Name: 'par/alive', SecretString: 'v' }));
    const restored = await sm.send(new RestoreSecretCommand({ SecretId: 'par/alive' }));
    assert.deepEqual([restored.ARN, restored.Name], [live.ARN, 'par/alive']);
    assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: 'par/alive' }))).SecretString, 'v');
    // Forcing the deletion of a secret already scheduled for deletion removes it at once.
    await sm.send(new DeleteSecretCommand({ SecretId: 'par/alive', RecoveryWindowInDays: 7 }));
    await sm.send(new DeleteSecretCommand({ SecretId: 'par/alive', ForceDeleteWithoutRecovery: true }));
    assert.equal((await awsError(sm.send(new DescribeSecretCommand({ SecretId: 'par/alive' })))).name, 'ResourceNotFoundException');
    // A caller without `delete` is refused before anything is looked up: no answer tells it whether a name exists.
    await writePolicy(server, 'par-read-only', JSON.stringify({ rules: [{ path: 'par/**', capabilities: ['read', 'list'] }] }));
    const reader = awsClient(server, await createAwsKey(server, ['par-read-only']));
    try {
      assert.equal((await awsError(reader.send(new DeleteSecretCommand({ SecretId: 'par/never-was', ForceDeleteWithoutRecovery: true })))).name, 'AccessDeniedException');
    } finally {
      reader.destroy();
    }
  });

  test('reserved aws: tag keys can be neither set nor removed', async () => {
    await sm.send(new CreateSecretCommand({ Name: 'par/reserved', SecretString: 'v' }));
    assert.equal((await awsError(sm.send(new TagResourceCommand({ SecretId: 'par/reserved', Tags: [{ Key: 'aws:secretsmanager:owningService', Value: 'x' }] })))).name, 'InvalidParameterException');
    const { UntagResourceCommand } = await import('@aws-sdk/client-secrets-manager');
    assert.equal((await awsError(sm.send(new UntagResourceCommand({ SecretId: 'par/reserved', TagKeys: ['AWS:anything'] })))).name, 'InvalidParameterException');
  });

  test('Tags is [] when a secret has none, in DescribeSecret and ListSecrets', async () => {
    await sm.send(new CreateSecretCommand({ Name: 'par/untagged', SecretString: 'v' }));
    assert.deepEqual((await sm.send(new DescribeSecretCommand({ SecretId: 'par/untagged' }))).Tags, []);
    const listed = await sm.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['par/untagged'] }] }));
    assert.deepEqual(listed.SecretList!.map((s) => s.Tags), [[]]);
  });

  test('ListSecrets filters: negation, all, values with special characters', async () => {
    const eu = awsClient(server, { region: 'eu-south-1' });
    try {
      await eu.send(new CreateSecretCommand({ Name: 'app/db+main=1@x.y', SecretString: 'a', Description: 'Primary database', Tags: [{ Key: 'team', Value: 'data-eng' }] }));
      await eu.send(new CreateSecretCommand({ Name: 'app/cache', SecretString: 'b', Description: 'Redis cache', Tags: [{ Key: 'team', Value: 'platform' }] }));
      await eu.send(new CreateSecretCommand({ Name: 'ops/pager', SecretString: 'c' }));
      const names = async (input: ListSecretsCommandInput) => (await eu.send(new ListSecretsCommand(input))).SecretList!.map((s) => s.Name).sort();
      assert.deepEqual(await names({ Filters: [{ Key: 'name', Values: ['app/db+main=1@x.y'] }] }), ['app/db+main=1@x.y'], 'special characters match literally');
      assert.deepEqual(await names({ Filters: [{ Key: 'name', Values: ['app/db+'] }] }), ['app/db+main=1@x.y']);
      assert.deepEqual(await names({ Filters: [{ Key: 'name', Values: ['app/db.'] }] }), [], '. is not a wildcard');
      assert.deepEqual(await names({ Filters: [{ Key: 'name', Values: ['!app/'] }] }), ['ops/pager']);
      assert.deepEqual(await names({ Filters: [{ Key: 'name', Values: ['app/', '!app/cache'] }] }), ['app/db+main=1@x.y'], 'alternatives minus exclusions');
      assert.deepEqual(await names({ Filters: [{ Key: 'tag-value', Values: ['!platform'] }] }), ['app/db+main=1@x.y', 'ops/pager'], 'a secret without the tag is not excluded');
      assert.deepEqual(await names({ Filters: [{ Key: 'all', Values: ['!redis'] }] }), ['app/db+main=1@x.y', 'ops/pager']);
      assert.deepEqual(await names({ Filters: [{ Key: 'all', Values: ['DATABASE'] }] }), ['app/db+main=1@x.y']);
      assert.deepEqual(await names({ Filters: [{ Key: 'all', Values: ['eng'] }] }), ['app/db+main=1@x.y'], 'all splits data-eng into words');
      assert.deepEqual(await names({ Filters: [{ Key: 'description', Values: ['!primary'] }] }), ['app/cache', 'ops/pager']);
      assert.deepEqual(await names({ Filters: [{ Key: 'name', Values: ['app/'] }, { Key: 'tag-value', Values: ['data'] }] }), ['app/db+main=1@x.y'], 'filters combine with AND');
      assert.equal((await awsError(eu.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['app/#'] }] })))).name, 'InvalidParameterException', '# is outside the value pattern');
    } finally {
      eu.destroy();
    }
  });

  test('resource policies are stored, returned, validated and deleted', async () => {
    await sm.send(new CreateSecretCommand({ Name: 'par/rp', SecretString: 'v' }));
    const none = await sm.send(new GetResourcePolicyCommand({ SecretId: 'par/rp' }));
    assert.equal(none.ResourcePolicy, undefined);
    const document = policy({ Effect: 'Deny', Principal: { AWS: keyPrincipal('AKCUNOBODY0000000000') }, Action: 'secretsmanager:GetSecretValue', Resource: '*' });
    const put = await sm.send(new PutResourcePolicyCommand({ SecretId: 'par/rp', ResourcePolicy: document }));
    assert.equal(put.Name, 'par/rp');
    assert.equal((await sm.send(new GetResourcePolicyCommand({ SecretId: 'par/rp' }))).ResourcePolicy, document);
    const malformed = await awsError(sm.send(new PutResourcePolicyCommand({ SecretId: 'par/rp', ResourcePolicy: '{"Statement": [{"Effect": "Maybe"}]}' })));
    assert.equal(malformed.name, 'MalformedPolicyDocumentException');
    const notJson = await awsError(sm.send(new PutResourcePolicyCommand({ SecretId: 'par/rp', ResourcePolicy: 'nope' })));
    assert.equal(notJson.name, 'MalformedPolicyDocumentException');
    const publicPolicy = policy({ Effect: 'Allow', Principal: '*', Action: 'secretsmanager:GetSecretValue', Resource: '*' });
    assert.equal((await awsError(sm.send(new PutResourcePolicyCommand({ SecretId: 'par/rp', ResourcePolicy: publicPolicy, BlockPublicPolicy: true })))).name, 'PublicPolicyException');
    assert.equal((await sm.send(new GetResourcePolicyCommand({ SecretId: 'par/rp' }))).ResourcePolicy, document, 'a refused policy replaced nothing');
    const ok = await sm.send(new ValidateResourcePolicyCommand({ SecretId: 'par/rp', ResourcePolicy: document }));
    assert.deepEqual([ok.PolicyValidationPassed, ok.ValidationErrors], [true, []]);
    const broad = await sm.send(new ValidateResourcePolicyCommand({ ResourcePolicy: publicPolicy }));
    assert.equal(broad.PolicyValidationPassed, false);
    assert.deepEqual(broad.ValidationErrors!.map((e) => e.CheckName), ['PUBLIC_ACCESS_CHECK']);
    const syntax = await sm.send(new ValidateResourcePolicyCommand({ ResourcePolicy: '{' }));
    assert.deepEqual(syntax.ValidationErrors!.map((e) => e.CheckName), ['SYNTAX_CHECK']);
    await sm.send(new DeleteResourcePolicyCommand({ SecretId: 'par/rp' }));
    assert.equal((await sm.send(new GetResourcePolicyCommand({ SecretId: 'par/rp' }))).ResourcePolicy, undefined);
    await sm.send(new DeleteResourcePolicyCommand({ SecretId: 'par/rp' }));
  });

  test('resource policy statements are evaluated: explicit Deny denies (AWS and native API), Allow grants within the environment', async () => {
    await sm.send(new CreateSecretCommand({ Name: 'team/db', SecretString: 'team-db-value' }));
    await sm.send(new CreateSecretCommand({ Name: 'other/db', SecretString: 'other-value' }));
    await writePolicy(server, 'team-read', JSON.stringify({ rules: [{ path: 'team/**', capabilities: ['read', 'list'] }] }));
    await writePolicy(server, 'team-write', JSON.stringify({ rules: [{ path: 'team/**', capabilities: ['update', 'list'] }] }));
    const alice = await createAwsKey(server, ['team-read']);
    const bob = await createAwsKey(server, ['team-read']);
    const writer = await createAwsKey(server, ['team-write']);
    const nobody = await createAwsKey(server, ['team-write']);
    const [a, b, w, n] = [alice, bob, writer, nobody].map((k) => awsClient(server, k)) as [SmClient, SmClient, SmClient, SmClient];
    const native = await createToken(server, { policies: ['team-read'] });
    try {
      assert.equal((await a.send(new GetSecretValueCommand({ SecretId: 'team/db' }))).SecretString, 'team-db-value');
      await sm.send(new PutResourcePolicyCommand({
        SecretId: 'team/db',
        ResourcePolicy: policy(
          { Effect: 'Deny', Principal: { AWS: [keyPrincipal(alice.accessKeyId), keyPrincipal(native.accessor)] }, Action: 'secretsmanager:GetSecretValue', Resource: '*' },
          { Effect: 'Allow', Principal: { AWS: keyPrincipal(nobody.accessKeyId) }, Action: ['secretsmanager:GetSecretValue'], Resource: '*' },
        ),
      }));
      const denied = await awsError(a.send(new GetSecretValueCommand({ SecretId: 'team/db' })));
      assert.equal(denied.name, 'AccessDeniedException', 'explicit Deny wins over the Custos policy that allows');
      assert.match(denied.message, /resource policy/);
      assert.equal((await b.send(new GetSecretValueCommand({ SecretId: 'team/db' }))).SecretString, 'team-db-value', 'another principal is unaffected');
      // The native API asks the same authorizer: the same principal is denied there too.
      const nativeRead = await api(server, 'GET', '/v1/values/team/db', { token: native.token });
      assert.equal(nativeRead.status, 403, JSON.stringify(nativeRead.body));
      assert.equal(nativeRead.body.error.code, 'permission_denied');
      // Allow grants what the key's own policies do not (read), but only on this secret.
      assert.equal((await n.send(new GetSecretValueCommand({ SecretId: 'team/db' }))).SecretString, 'team-db-value');
      assert.equal((await awsError(n.send(new GetSecretValueCommand({ SecretId: 'other/db' })))).name, 'AccessDeniedException');
      // An Allow does not lift an environment binding: a key bound to `team` stays out of `other/`.
      const bound = await createAwsKey(server, ['team-read'], 'team');
      await sm.send(new PutResourcePolicyCommand({ SecretId: 'other/db', ResourcePolicy: policy({ Effect: 'Allow', Principal: { AWS: [keyPrincipal(bound.accessKeyId), keyPrincipal(nobody.accessKeyId)] }, Action: 'secretsmanager:GetSecretValue', Resource: '*' }) }));
      const boundClient = awsClient(server, bound);
      try {
        assert.equal((await awsError(boundClient.send(new GetSecretValueCommand({ SecretId: 'other/db' })))).name, 'AccessDeniedException');
      } finally {
        boundClient.destroy();
      }
      assert.equal((await n.send(new GetSecretValueCommand({ SecretId: 'other/db' }))).SecretString, 'other-value', 'the unbound key named beside it is let in');
      await sm.send(new DeleteResourcePolicyCommand({ SecretId: 'other/db' }));
      // Root is not subject to resource policies (it can always repair them).
      assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: 'team/db' }))).SecretString, 'team-db-value');
      // A policy may only grant what its author holds: the writer cannot read, so cannot grant read.
      const widen = await awsError(w.send(new PutResourcePolicyCommand({
        SecretId: 'team/db', ResourcePolicy: policy({ Effect: 'Allow', Principal: { AWS: keyPrincipal(writer.accessKeyId) }, Action: 'secretsmanager:GetSecretValue', Resource: '*' }),
      })));
      assert.equal(widen.name, 'AccessDeniedException');
      // An account principal in an Allow defers to each identity's own policies (grants nothing);
      // in a Deny it denies everyone in the account; a conditional Deny applies (conditions are not evaluated).
      await sm.send(new PutResourcePolicyCommand({ SecretId: 'other/db', ResourcePolicy: policy({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'secretsmanager:*', Resource: '*' }) }));
      assert.equal((await awsError(n.send(new GetSecretValueCommand({ SecretId: 'other/db' })))).name, 'AccessDeniedException');
      await sm.send(new PutResourcePolicyCommand({
        SecretId: 'team/db',
        ResourcePolicy: policy({ Effect: 'Deny', Principal: { AWS: ACCOUNT }, Action: 'secretsmanager:Get*', Resource: '*', Condition: { StringEquals: { 'aws:PrincipalTag/x': 'y' } } }),
      }));
      assert.equal((await awsError(b.send(new GetSecretValueCommand({ SecretId: 'team/db' })))).name, 'AccessDeniedException');
      // The refusal names the resource policy only to a caller who could read it (GetResourcePolicy needs list).
      await writePolicy(server, 'team-read-only', JSON.stringify({ rules: [{ path: 'team/**', capabilities: ['read'] }] }));
      const readOnly = await createToken(server, { policies: ['team-read-only'] });
      const blind = await api(server, 'GET', '/v1/values/team/db', { token: readOnly.token });
      assert.equal(blind.status, 403, JSON.stringify(blind.body));
      assert.equal(blind.body.error.message, 'permission denied: "read" on "team/db"');
      // A policy goes with its secret: a new secret of the same name starts without it.
      await sm.send(new DeleteSecretCommand({ SecretId: 'team/db', ForceDeleteWithoutRecovery: true }));
      await sm.send(new CreateSecretCommand({ Name: 'team/db', SecretString: 'new-db' }));
      assert.equal((await b.send(new GetSecretValueCommand({ SecretId: 'team/db' }))).SecretString, 'new-db');
      assert.equal((await sm.send(new GetResourcePolicyCommand({ SecretId: 'team/db' }))).ResourcePolicy, undefined);
      // Every change is audited with the AWS operation name.
      const events = (await api(server, 'GET', '/v1/audit/events?secret=team/db&operation=aws.PutResourcePolicy&limit=50', { token: server.token })).body.events as { outcome: string }[];
      assert.deepEqual(events.map((e) => e.outcome), ['success', 'denied', 'success']);
    } finally {
      for (const c of [a, b, w, n]) c.destroy();
    }
  });

  test('resource policies and rotation on replicas: policies are managed on the primary, replicas refuse with the replica error', async () => {
    const west = awsClient(server, { region: 'eu-west-3' });
    try {
      await sm.send(new CreateSecretCommand({ Name: 'par/replicated', SecretString: 'v', AddReplicaRegions: [{ Region: 'eu-west-3' }] }));
      const document = policy({ Effect: 'Deny', Principal: { AWS: keyPrincipal('AKCUNOBODY0000000000') }, Action: 'secretsmanager:*', Resource: '*' });
      await sm.send(new PutResourcePolicyCommand({ SecretId: 'par/replicated', ResourcePolicy: document }));
      assert.equal((await west.send(new GetResourcePolicyCommand({ SecretId: 'par/replicated' }))).ResourcePolicy, document, 'a replica answers with its primary\'s policy');
      const replicaMessage = "Operation not permitted on a replica secret. Call must be made in primary secret's region.";
      for (const command of [new PutResourcePolicyCommand({ SecretId: 'par/replicated', ResourcePolicy: document }), new PutSecretValueCommand({ SecretId: 'par/replicated', SecretString: 'x' }),
        new TagResourceCommand({ SecretId: 'par/replicated', Tags: [{ Key: 'a', Value: 'b' }] })]) {
        const e = await awsError(west.send(command as never));
        assert.deepEqual([e.name, e.message], ['InvalidParameterException', replicaMessage]);
      }
      const { RotateSecretCommand } = await import('@aws-sdk/client-secrets-manager');
      const rotate = await awsError(west.send(new RotateSecretCommand({ SecretId: 'par/replicated' })));
      assert.deepEqual([rotate.name, rotate.message], ['InvalidParameterException', replicaMessage]);
      const { ReplicateSecretToRegionsCommand } = await import('@aws-sdk/client-secrets-manager');
      const own = await awsError(sm.send(new ReplicateSecretToRegionsCommand({ SecretId: 'par/replicated', AddReplicaRegions: [{ Region: 'us-east-1' }] })));
      assert.deepEqual([own.name, own.message], ['InvalidParameterException', 'Invalid replica region.']);
    } finally {
      west.destroy();
    }
  });
});

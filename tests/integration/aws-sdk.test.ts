import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  BatchGetSecretValueCommand, CancelRotateSecretCommand, CreateSecretCommand, DeleteResourcePolicyCommand, DeleteSecretCommand, DescribeSecretCommand,
  GetRandomPasswordCommand, GetResourcePolicyCommand, GetSecretValueCommand, ListSecretsCommand, ListSecretVersionIdsCommand, PutResourcePolicyCommand,
  PutSecretValueCommand, RestoreSecretCommand, RotateSecretCommand, TagResourceCommand, UntagResourceCommand, UpdateSecretCommand,
  UpdateSecretVersionStageCommand, ValidateResourcePolicyCommand, type GetRandomPasswordCommandInput, type ListSecretsCommandInput,
} from '@aws-sdk/client-secrets-manager';
import { api, startServer, type RunningServer } from '../support/custos-server.js';
import { awsClient, awsError } from '../support/aws.js';

/** Every Secrets Manager operation through the real AWS SDK v3, against the real server process. */
describe('AWS Secrets Manager API via @aws-sdk/client-secrets-manager', () => {
  let server: RunningServer;
  let sm: ReturnType<typeof awsClient>;
  const token = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

  before(async () => {
    server = await startServer();
    sm = awsClient(server);
  });
  after(async () => {
    sm?.destroy();
    await server?.stop();
    server?.cleanup();
  });

  test('CreateSecret / GetSecretValue with ClientRequestToken idempotency and the AWS errors', async () => {
    const created = await sm.send(new CreateSecretCommand({ Name: 'prod/app/db', SecretString: '{"user":"etl"}', Description: 'warehouse', ClientRequestToken: token(1), Tags: [{ Key: 'team', Value: 'data' }] }));
    assert.equal(created.VersionId, token(1));
    assert.match(created.ARN!, /^arn:aws:secretsmanager:us-east-1:123456789012:secret:prod\/app\/db-[A-Za-z0-9]{6}$/);
    const retried = await sm.send(new CreateSecretCommand({ Name: 'prod/app/db', SecretString: '{"user":"etl"}', ClientRequestToken: token(1) }));
    assert.equal(retried.VersionId, token(1), 'same token + same value is the same version');
    assert.equal((await awsError(sm.send(new CreateSecretCommand({ Name: 'prod/app/db', SecretString: 'x' })))).name, 'ResourceExistsException');
    const got = await sm.send(new GetSecretValueCommand({ SecretId: 'prod/app/db' }));
    assert.equal(got.SecretString, '{"user":"etl"}');
    assert.deepEqual(got.VersionStages, ['AWSCURRENT']);
    assert.ok(got.CreatedDate instanceof Date && Math.abs(got.CreatedDate.getTime() - Date.now()) < 60_000, 'epoch-second timestamps');
    const missing = await awsError(sm.send(new GetSecretValueCommand({ SecretId: 'prod/none' })));
    assert.equal(missing.name, 'ResourceNotFoundException');
    assert.equal(missing.status, 400);
    assert.equal((await awsError(sm.send(new CreateSecretCommand({ Name: 'bad name!', SecretString: 'x' })))).name, 'InvalidParameterException');
    assert.equal((await awsError(sm.send(new CreateSecretCommand({ Name: 'prod/both', SecretString: 'x', SecretBinary: Buffer.from('y') })))).name, 'InvalidParameterException');
    assert.equal((await awsError(sm.send(new GetSecretValueCommand({ SecretId: 'prod/app/db', VersionStage: 'AWSPENDING' })))).name, 'ResourceNotFoundException');
  });

  test('SecretId as name, full ARN and partial ARN; SecretBinary round-trips as bytes', async () => {
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    const created = await sm.send(new CreateSecretCommand({ Name: 'prod/app/cert', SecretBinary: bytes }));
    for (const id of [created.ARN!, created.ARN!.slice(0, -7), 'prod/app/cert']) {
      const got = await sm.send(new GetSecretValueCommand({ SecretId: id }));
      assert.equal(got.Name, 'prod/app/cert');
      assert.deepEqual(Buffer.from(got.SecretBinary!), bytes);
      assert.equal(got.SecretString, undefined);
    }
    assert.equal((await awsError(sm.send(new GetSecretValueCommand({ SecretId: created.ARN!.slice(0, -6) + 'ZZZZZZ' })))).name, 'ResourceNotFoundException');
  });

  test('PutSecretValue with VersionStages, promotion with UpdateSecretVersionStage: plain GetSecretValue returns the new AWSCURRENT', async () => {
    await sm.send(new CreateSecretCommand({ Name: 'prod/rotating', SecretString: 'old-password', ClientRequestToken: token(10) }));
    const pending = await sm.send(new PutSecretValueCommand({ SecretId: 'prod/rotating', SecretString: 'new-password', VersionStages: ['AWSPENDING'], ClientRequestToken: token(11) }));
    assert.deepEqual(pending.VersionStages, ['AWSPENDING']);
    assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: 'prod/rotating' }))).SecretString, 'old-password');
    assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: 'prod/rotating', VersionStage: 'AWSPENDING' }))).SecretString, 'new-password');
    const conflict = await awsError(sm.send(new PutSecretValueCommand({ SecretId: 'prod/rotating', SecretString: 'different', ClientRequestToken: token(11) })));
    assert.equal(conflict.name, 'ResourceExistsException', 'same token + different value');
    const again = await sm.send(new PutSecretValueCommand({ SecretId: 'prod/rotating', SecretString: 'new-password', VersionStages: ['AWSPENDING'], ClientRequestToken: token(11) }));
    assert.equal(again.VersionId, token(11));
    // Moving AWSCURRENT away from its holder must name it in RemoveFromVersionId.
    const noRemove = await awsError(sm.send(new UpdateSecretVersionStageCommand({ SecretId: 'prod/rotating', VersionStage: 'AWSCURRENT', MoveToVersionId: token(11) })));
    assert.equal(noRemove.name, 'InvalidParameterException');
    // Told in AWS's words: the native API's label and parameter names mean nothing to an AWS client.
    assert.equal(noRemove.message, `The staging label AWSCURRENT is currently attached to version ${token(10)}, so you must explicitly reference that version in RemoveFromVersionId.`);
    const neither = await awsError(sm.send(new UpdateSecretVersionStageCommand({ SecretId: 'prod/rotating', VersionStage: 'AWSPENDING' })));
    assert.equal(neither.name, 'InvalidParameterException');
    assert.match(neither.message, /MoveToVersionId, RemoveFromVersionId/);
    const noSuchStage = await awsError(sm.send(new GetSecretValueCommand({ SecretId: 'prod/rotating', VersionStage: 'AWSPREVIOUS' })));
    assert.equal(noSuchStage.name, 'ResourceNotFoundException');
    assert.equal(noSuchStage.message, "Secrets Manager can't find the specified secret value for staging label: AWSPREVIOUS");
    const notThatStage = await awsError(sm.send(new GetSecretValueCommand({ SecretId: 'prod/rotating', VersionId: token(10), VersionStage: 'AWSPENDING' })));
    assert.equal(notThatStage.message, `Secrets Manager can't find the specified secret value for VersionId: ${token(10)} and staging label: AWSPENDING`);
    await sm.send(new UpdateSecretVersionStageCommand({ SecretId: 'prod/rotating', VersionStage: 'AWSCURRENT', MoveToVersionId: token(11), RemoveFromVersionId: token(10) }));
    const now = await sm.send(new GetSecretValueCommand({ SecretId: 'prod/rotating' }));
    assert.equal(now.SecretString, 'new-password', 'the moto emulator keeps serving the old value here');
    assert.deepEqual([...now.VersionStages!].sort(), ['AWSCURRENT', 'AWSPENDING']);
    const described = await sm.send(new DescribeSecretCommand({ SecretId: 'prod/rotating' }));
    assert.deepEqual(described.VersionIdsToStages![token(10)], ['AWSPREVIOUS']);
    assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: 'prod/rotating', VersionStage: 'AWSPREVIOUS' }))).SecretString, 'old-password');
    assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: 'prod/rotating', VersionId: token(10) }))).SecretString, 'old-password');
    // Finishing the rotation: AWSPENDING removed from the new version.
    await sm.send(new UpdateSecretVersionStageCommand({ SecretId: 'prod/rotating', VersionStage: 'AWSPENDING', RemoveFromVersionId: token(11) }));
    assert.deepEqual((await sm.send(new GetSecretValueCommand({ SecretId: 'prod/rotating' }))).VersionStages, ['AWSCURRENT']);
    const removeCurrent = await awsError(sm.send(new UpdateSecretVersionStageCommand({ SecretId: 'prod/rotating', VersionStage: 'AWSCURRENT', RemoveFromVersionId: token(11) })));
    assert.equal(removeCurrent.name, 'InvalidParameterException');
    assert.match(removeCurrent.message, /^The staging label AWSCURRENT can't be removed/);
    const notAttached = await awsError(sm.send(new UpdateSecretVersionStageCommand({ SecretId: 'prod/rotating', VersionStage: 'AWSPENDING', RemoveFromVersionId: token(10) })));
    assert.equal(notAttached.message, `The staging label AWSPENDING is not attached to version ${token(10)} (RemoveFromVersionId).`);
    for (const error of [noRemove, neither, noSuchStage, notThatStage, removeCurrent, notAttached]) {
      assert.doesNotMatch(error.message, /\b(CURRENT|PENDING|PREVIOUS)\b|_version_id/, 'no native label or parameter names');
    }
  });

  test('ListSecretVersionIds hides deprecated versions unless asked', async () => {
    await sm.send(new CreateSecretCommand({ Name: 'prod/versions', SecretString: 'v1' }));
    for (const v of ['v2', 'v3', 'v4']) await sm.send(new PutSecretValueCommand({ SecretId: 'prod/versions', SecretString: v }));
    const labelled = await sm.send(new ListSecretVersionIdsCommand({ SecretId: 'prod/versions' }));
    assert.equal(labelled.Versions!.length, 2, 'AWSCURRENT and AWSPREVIOUS only');
    const all = await sm.send(new ListSecretVersionIdsCommand({ SecretId: 'prod/versions', IncludeDeprecated: true }));
    assert.equal(all.Versions!.length, 4);
    const page = await sm.send(new ListSecretVersionIdsCommand({ SecretId: 'prod/versions', IncludeDeprecated: true, MaxResults: 3 }));
    assert.equal(page.Versions!.length, 3);
    const rest = await sm.send(new ListSecretVersionIdsCommand({ SecretId: 'prod/versions', IncludeDeprecated: true, MaxResults: 3, NextToken: page.NextToken }));
    assert.equal(rest.Versions!.length, 1);
    assert.equal(rest.NextToken, undefined);
    assert.equal((await awsError(sm.send(new ListSecretVersionIdsCommand({ SecretId: 'prod/versions', NextToken: 'zzz' })))).name, 'InvalidNextTokenException');
  });

  test('ListSecrets: filters, negation, sort order, pagination, planned deletions', async () => {
    const region = awsClient(server, { region: 'ap-southeast-2' });
    try {
      await region.send(new CreateSecretCommand({ Name: 'dev/alpha', SecretString: 'a', Description: 'Kafka broker', Tags: [{ Key: 'team', Value: 'streaming' }] }));
      await region.send(new CreateSecretCommand({ Name: 'dev/beta', SecretString: 'b', Description: 'warehouse', Tags: [{ Key: 'owner', Value: 'bi' }] }));
      await region.send(new CreateSecretCommand({ Name: 'prod/gamma', SecretString: 'c' }));
      await region.send(new CreateSecretCommand({ Name: 'dev/gone', SecretString: 'd' }));
      await region.send(new DeleteSecretCommand({ SecretId: 'dev/gone', RecoveryWindowInDays: 7 }));
      const names = async (input: ListSecretsCommandInput) => (await region.send(new ListSecretsCommand(input))).SecretList!.map((s) => s.Name);
      assert.deepEqual(await names({}), ['dev/alpha', 'dev/beta', 'prod/gamma']);
      assert.deepEqual(await names({ SortOrder: 'desc' }), ['prod/gamma', 'dev/beta', 'dev/alpha']);
      assert.deepEqual(await names({ IncludePlannedDeletion: true }), ['dev/alpha', 'dev/beta', 'prod/gamma', 'dev/gone']);
      assert.deepEqual(await names({ Filters: [{ Key: 'name', Values: ['dev/'] }] }), ['dev/alpha', 'dev/beta']);
      assert.deepEqual(await names({ Filters: [{ Key: 'name', Values: ['!dev/'] }] }), ['prod/gamma']);
      assert.deepEqual(await names({ Filters: [{ Key: 'name', Values: ['!dev/alpha', '!prod/'] }] }), ['dev/beta'], 'each ! value excludes');
      assert.deepEqual(await names({ Filters: [{ Key: 'description', Values: ['kafka'] }] }), ['dev/alpha']);
      assert.deepEqual(await names({ Filters: [{ Key: 'tag-key', Values: ['owner'] }] }), ['dev/beta']);
      assert.deepEqual(await names({ Filters: [{ Key: 'tag-value', Values: ['stream'] }] }), ['dev/alpha']);
      assert.deepEqual(await names({ Filters: [{ Key: 'all', Values: ['warehouse'] }] }), ['dev/beta']);
      assert.deepEqual(await names({ Filters: [{ Key: 'name', Values: ['dev/'] }, { Key: 'tag-key', Values: ['team'] }] }), ['dev/alpha']);
      const first = await region.send(new ListSecretsCommand({ MaxResults: 2 }));
      assert.equal(first.SecretList!.length, 2);
      const second = await region.send(new ListSecretsCommand({ MaxResults: 2, NextToken: first.NextToken }));
      assert.deepEqual(second.SecretList!.map((s) => s.Name), ['prod/gamma']);
      assert.equal(second.NextToken, undefined);
      const listed = (await region.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['dev/alpha'] }] }))).SecretList![0]!;
      assert.deepEqual(Object.values(listed.SecretVersionsToStages!), [['AWSCURRENT']]);
      assert.deepEqual(listed.Tags, [{ Key: 'team', Value: 'streaming' }]);
      assert.equal((await awsError(region.send(new ListSecretsCommand({ Filters: [{ Key: 'color' as 'name', Values: ['x'] }] })))).name, 'ValidationException', 'a key outside the enum, as AWS validates it');
      assert.equal((await awsError(region.send(new ListSecretsCommand({ MaxResults: 500 })))).name, 'InvalidParameterException');
      // Matching as AWS documents it: name, tag-key and tag-value are case-sensitive prefixes;
      // description matches words, not case-sensitive; all breaks the value into words.
      assert.deepEqual(await names({ Filters: [{ Key: 'name', Values: ['Dev/'] }] }), []);
      assert.deepEqual(await names({ Filters: [{ Key: 'tag-key', Values: ['Team'] }] }), []);
      assert.deepEqual(await names({ Filters: [{ Key: 'description', Values: ['broker'] }] }), ['dev/alpha']);
      assert.deepEqual(await names({ Filters: [{ Key: 'description', Values: ['Broker kafka'] }] }), ['dev/alpha']);
      assert.deepEqual(await names({ Filters: [{ Key: 'description', Values: ['broker warehouse'] }] }), [], 'every word of a description filter');
      assert.deepEqual(await names({ Filters: [{ Key: 'all', Values: ['Streaming'] }] }), ['dev/alpha']);
      assert.deepEqual(await names({ Filters: [{ Key: 'all', Values: ['GAMMA'] }] }), ['prod/gamma']);
      assert.deepEqual(await names({ Filters: [{ Key: 'all', Values: ['alpha warehouse'] }] }), ['dev/alpha', 'dev/beta'], 'any word of an all filter');
      assert.equal((await awsError(region.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['a*b'] }] })))).name, 'InvalidParameterException');
      // Paging tokens this server did not give out, and sorting by another attribute.
      assert.equal((await awsError(region.send(new ListSecretsCommand({ NextToken: 'garbage!!' })))).name, 'InvalidNextTokenException');
      assert.equal((await awsError(region.send(new ListSecretsCommand({ SortBy: 'size' as 'name' })))).name, 'InvalidParameterException');
      await region.send(new PutSecretValueCommand({ SecretId: 'dev/alpha', SecretString: 'a2' }));
      assert.deepEqual(await names({ SortBy: 'last-changed-date' }), ['dev/beta', 'prod/gamma', 'dev/alpha']);
      assert.deepEqual(await names({ SortBy: 'name', SortOrder: 'desc' }), ['prod/gamma', 'dev/beta', 'dev/alpha']);
    } finally {
      region.destroy();
    }
  });

  test('regions are separate namespaces taken from the credential scope', async () => {
    const eu = awsClient(server, { region: 'eu-central-1' });
    try {
      assert.equal((await awsError(eu.send(new GetSecretValueCommand({ SecretId: 'prod/app/db' })))).name, 'ResourceNotFoundException');
      const created = await eu.send(new CreateSecretCommand({ Name: 'prod/app/db', SecretString: 'eu-value' }));
      assert.match(created.ARN!, /:eu-central-1:/);
      assert.equal((await eu.send(new GetSecretValueCommand({ SecretId: 'prod/app/db' }))).SecretString, 'eu-value');
      assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: 'prod/app/db' }))).SecretString, '{"user":"etl"}');
    } finally {
      eu.destroy();
    }
  });

  test('UpdateSecret, TagResource, UntagResource, DescribeSecret', async () => {
    await sm.send(new CreateSecretCommand({ Name: 'prod/meta', SecretString: 'one', Tags: [{ Key: 'a', Value: '1' }] }));
    await sm.send(new UpdateSecretCommand({ SecretId: 'prod/meta', Description: 'described', KmsKeyId: 'alias/custos' }));
    const updated = await sm.send(new UpdateSecretCommand({ SecretId: 'prod/meta', SecretString: 'two' }));
    assert.ok(updated.VersionId);
    assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: 'prod/meta' }))).SecretString, 'two');
    await sm.send(new TagResourceCommand({ SecretId: 'prod/meta', Tags: [{ Key: 'b', Value: '2' }, { Key: 'c', Value: '3' }] }));
    await sm.send(new UntagResourceCommand({ SecretId: 'prod/meta', TagKeys: ['a'] }));
    const d = await sm.send(new DescribeSecretCommand({ SecretId: 'prod/meta' }));
    assert.equal(d.Description, 'described');
    assert.equal(d.KmsKeyId, 'alias/custos');
    assert.deepEqual(d.Tags, [{ Key: 'b', Value: '2' }, { Key: 'c', Value: '3' }]);
    assert.ok(d.CreatedDate instanceof Date && d.LastChangedDate instanceof Date);
    assert.equal(Object.keys(d.VersionIdsToStages!).length, 2);
    assert.equal((await awsError(sm.send(new TagResourceCommand({ SecretId: 'prod/meta', Tags: [{ Key: 'aws:reserved', Value: 'x' }] })))).name, 'InvalidParameterException');
  });

  test('DeleteSecret / RestoreSecret: reading a secret scheduled for deletion is an InvalidRequestException', async () => {
    await sm.send(new CreateSecretCommand({ Name: 'prod/temp', SecretString: 'bye' }));
    assert.equal((await awsError(sm.send(new DeleteSecretCommand({ SecretId: 'prod/temp', RecoveryWindowInDays: 3 })))).name, 'InvalidParameterException');
    assert.equal((await awsError(sm.send(new DeleteSecretCommand({ SecretId: 'prod/temp', RecoveryWindowInDays: 7, ForceDeleteWithoutRecovery: true })))).name, 'InvalidParameterException');
    const deleted = await sm.send(new DeleteSecretCommand({ SecretId: 'prod/temp', RecoveryWindowInDays: 7 }));
    assert.ok(Math.abs(deleted.DeletionDate!.getTime() - (Date.now() + 7 * 86_400_000)) < 60_000);
    const read = await awsError(sm.send(new GetSecretValueCommand({ SecretId: 'prod/temp' })));
    assert.equal(read.name, 'InvalidRequestException');
    assert.equal((await awsError(sm.send(new PutSecretValueCommand({ SecretId: 'prod/temp', SecretString: 'x' })))).name, 'InvalidRequestException');
    assert.ok((await sm.send(new DescribeSecretCommand({ SecretId: 'prod/temp' }))).DeletedDate instanceof Date);
    await sm.send(new RestoreSecretCommand({ SecretId: 'prod/temp' }));
    assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: 'prod/temp' }))).SecretString, 'bye');
    await sm.send(new DeleteSecretCommand({ SecretId: 'prod/temp', ForceDeleteWithoutRecovery: true }));
    assert.equal((await awsError(sm.send(new GetSecretValueCommand({ SecretId: 'prod/temp' })))).name, 'ResourceNotFoundException');
    assert.equal((await awsError(sm.send(new RestoreSecretCommand({ SecretId: 'prod/temp' })))).name, 'ResourceNotFoundException');
  });

  test('GetRandomPassword honours every parameter', async () => {
    const pw = async (input: GetRandomPasswordCommandInput) => (await sm.send(new GetRandomPasswordCommand(input))).RandomPassword!;
    assert.equal((await pw({})).length, 32);
    assert.equal((await pw({ PasswordLength: 100 })).length, 100);
    assert.match(await pw({ PasswordLength: 64, ExcludeNumbers: true, ExcludePunctuation: true, ExcludeUppercase: true }), /^[a-z]{64}$/);
    assert.match(await pw({ PasswordLength: 64, ExcludeLowercase: true, ExcludePunctuation: true, ExcludeNumbers: true }), /^[A-Z]{64}$/);
    assert.match(await pw({ PasswordLength: 64, ExcludeCharacters: 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ', ExcludePunctuation: true }), /^[0-9]{64}$/);
    const spaced = await pw({ PasswordLength: 5, IncludeSpace: true, ExcludeLowercase: true, ExcludeUppercase: true, ExcludeNumbers: true, ExcludePunctuation: true });
    assert.equal(spaced, '     ');
    const each = await pw({ PasswordLength: 4, RequireEachIncludedType: true });
    assert.ok(/[a-z]/.test(each) && /[A-Z]/.test(each) && /[0-9]/.test(each) && /[^A-Za-z0-9]/.test(each), 'one of each type');
    assert.equal((await awsError(pw({ PasswordLength: 5000 }))).name, 'ValidationException', 'over 4096, as AWS validates it');
  });

  test('BatchGetSecretValue by ids (with per-secret errors) and by filters', async () => {
    await sm.send(new CreateSecretCommand({ Name: 'batch/one', SecretString: '1' }));
    await sm.send(new CreateSecretCommand({ Name: 'batch/two', SecretString: '2' }));
    const byId = await sm.send(new BatchGetSecretValueCommand({ SecretIdList: ['batch/one', 'batch/two', 'batch/missing'] }));
    assert.deepEqual(byId.SecretValues!.map((v) => [v.Name, v.SecretString]), [['batch/one', '1'], ['batch/two', '2']]);
    assert.deepEqual(byId.Errors!.map((e) => [e.SecretId, e.ErrorCode]), [['batch/missing', 'ResourceNotFoundException']]);
    // Each secret is audited as its own read, so "who read batch/two" finds batch reads too.
    const itemEvents = (await api(server, 'GET', '/v1/audit/events?secret=batch/two&operation=aws.GetSecretValue&limit=50', { token: server.token })).body.events as { operation: string; outcome: string; version_id: string | null; detail: Record<string, unknown> | null }[];
    assert.deepEqual(itemEvents.map((e) => [e.outcome, e.version_id === byId.SecretValues![1]!.VersionId, e.detail?.batch]), [['success', true, true]]);
    const missing = (await api(server, 'GET', '/v1/audit/events?secret=batch/missing&operation=aws.GetSecretValue&limit=50', { token: server.token })).body.events as { outcome: string; error_code: string }[];
    assert.deepEqual(missing.map((e) => [e.outcome, e.error_code]), [['failure', 'secret_not_found']]);
    const byFilter = await sm.send(new BatchGetSecretValueCommand({ Filters: [{ Key: 'name', Values: ['batch/'] }] }));
    assert.deepEqual(byFilter.SecretValues!.map((v) => v.SecretString), ['1', '2']);
    // A per-secret error is worded as GetSecretValue words it to an AWS client.
    await sm.send(new CreateSecretCommand({ Name: 'nobatch/empty' }));
    const noValue = await sm.send(new BatchGetSecretValueCommand({ SecretIdList: ['nobatch/empty'] }));
    assert.deepEqual(noValue.Errors!.map((e) => [e.ErrorCode, e.Message]), [['ResourceNotFoundException', "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT"]]);
    assert.equal((await awsError(sm.send(new BatchGetSecretValueCommand({})))).name, 'InvalidParameterException');
    assert.equal((await awsError(sm.send(new BatchGetSecretValueCommand({ Filters: [{ Key: 'name', Values: ['batch/'] }], MaxResults: 21 })))).name, 'InvalidParameterException', 'at most 20 per page, as in AWS');
  });

  test('rotation without a configured rotator answers clear errors, not fake successes; resource policies round-trip', async () => {
    const rotate = await awsError(sm.send(new RotateSecretCommand({ SecretId: 'prod/app/db', RotationLambdaARN: 'arn:aws:lambda:us-east-1:123456789012:function:x' })));
    assert.equal(rotate.name, 'InvalidRequestException');
    assert.match(rotate.message, /does not run Lambda functions/);
    const cancel = await awsError(sm.send(new CancelRotateSecretCommand({ SecretId: 'prod/app/db' })));
    assert.equal(cancel.name, 'InvalidRequestException');
    assert.match(cancel.message, /no rotator/);
    assert.equal((await awsError(sm.send(new PutResourcePolicyCommand({ SecretId: 'prod/app/db', ResourcePolicy: '{}' })))).name, 'MalformedPolicyDocumentException');
    assert.equal((await sm.send(new ValidateResourcePolicyCommand({ ResourcePolicy: '{}' }))).PolicyValidationPassed, false);
    const policy = await sm.send(new GetResourcePolicyCommand({ SecretId: 'prod/app/db' }));
    assert.equal(policy.Name, 'prod/app/db');
    assert.equal(policy.ResourcePolicy, undefined, 'none attached yet');
    const document = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Principal: { AWS: 'arn:aws:iam::123456789012:user/AKCUNOBODY0000000000' }, Action: 'secretsmanager:*', Resource: '*' }] });
    await sm.send(new PutResourcePolicyCommand({ SecretId: 'prod/app/db', ResourcePolicy: document }));
    assert.equal((await sm.send(new GetResourcePolicyCommand({ SecretId: 'prod/app/db' }))).ResourcePolicy, document);
    assert.equal((await sm.send(new DeleteResourcePolicyCommand({ SecretId: 'prod/app/db' }))).Name, 'prod/app/db');
    assert.equal((await sm.send(new GetResourcePolicyCommand({ SecretId: 'prod/app/db' }))).ResourcePolicy, undefined);
  });

  test('every AWS call is audited exactly once, with its operation, secret and version', async () => {
    const created = await sm.send(new CreateSecretCommand({ Name: 'prod/audited', SecretString: 'audit-me' }));
    await sm.send(new GetSecretValueCommand({ SecretId: 'prod/audited' }));
    await awsError(sm.send(new GetSecretValueCommand({ SecretId: 'prod/audited', VersionStage: 'NOPE' })));
    const events = (await api(server, 'GET', '/v1/audit/events?secret=prod/audited&limit=50', { token: server.token })).body.events as { operation: string; outcome: string; version_id: string | null; accessor: string; error_code: string | null }[];
    assert.deepEqual(events.map((e) => e.operation), ['aws.CreateSecret', 'aws.GetSecretValue', 'aws.GetSecretValue']);
    assert.equal(events[1]!.version_id, created.VersionId);
    assert.equal(events[1]!.accessor, 'aws:test');
    assert.equal(events[2]!.outcome, 'failure');
    assert.equal(events[2]!.error_code, 'version_not_found');
  });

  test('unknown operations and unsigned requests get AWS error types', async () => {
    const unsigned = await fetch(server.address + '/', { method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'secretsmanager.ListSecrets' }, body: '{}' });
    assert.equal(unsigned.status, 403);
    assert.equal(((await unsigned.json()) as { __type: string }).__type, 'MissingAuthenticationTokenException');
    const garbled = await fetch(server.address + '/', { method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'secretsmanager.ListSecrets', authorization: 'AWS4-HMAC-SHA256 nonsense' }, body: '{}' });
    assert.equal(((await garbled.json()) as { __type: string }).__type, 'IncompleteSignature');
    const plainJson = await fetch(server.address + '/', { method: 'POST', headers: { 'content-type': 'application/json', 'x-amz-target': 'secretsmanager.ListSecrets' }, body: '{}' });
    assert.equal(((await plainJson.json()) as { __type: string }).__type, 'InvalidRequestException');
    const unknownOp = await fetch(server.address + '/', { method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'secretsmanager.FlyToTheMoon' }, body: '{}' });
    assert.equal(unknownOp.status, 403, 'authentication comes first, as with AWS');
  });
});

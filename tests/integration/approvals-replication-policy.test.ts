import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CreateSecretCommand, DeleteResourcePolicyCommand, DeleteSecretCommand, DescribeSecretCommand, GetResourcePolicyCommand, GetSecretValueCommand, PutResourcePolicyCommand,
  RemoveRegionsFromReplicationCommand, ReplicateSecretToRegionsCommand, RestoreSecretCommand, RotateSecretCommand, StopReplicationToReplicaCommand, ValidateResourcePolicyCommand, type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { api, runCli, startServer, type RunningServer } from '../support/custos-server.js';
import { assertErrorBody, createToken, eventually, writePolicy } from '../support/http-helpers.js';
import { awsClient, awsError, createAwsKey } from '../support/aws.js';

/**
 * The last writes an approval rule used to refuse rather than hold: replication
 * (ReplicateSecretToRegions, RemoveRegionsFromReplication, StopReplicationToReplica), resource
 * policies (Put/DeleteResourcePolicy) and restore (RestoreSecret, native restore). Abuse cases
 * first: self-approval, one approver counted twice, an approver who may not read the secret, and
 * requests whose secret changed before approval, which must fail with a stable code and write
 * nothing. Then break-glass for every held kind, native and over SigV4.
 */
describe('change requests for replication, resource policies and restore', () => {
  let server: RunningServer;
  let configDir = '';
  const canary = `CANARY-${randomBytes(12).toString('hex')}`;
  let dataEng: { token: string; accessor: string };
  let platform: { token: string; accessor: string };
  let platform2: { token: string; accessor: string };
  let east: SecretsManagerClient;
  let west: SecretsManagerClient;
  let rootEast: SecretsManagerClient;
  let rootWest: SecretsManagerClient;
  let north: SecretsManagerClient;
  let rootNorth: SecretsManagerClient;
  let keyAccessor = '';

  const root = (method: string, url: string, body?: unknown) => api(server, method, url, { token: server.token, body });
  const approve = (token: string, id: string) => api(server, 'POST', `/v1/requests/${id}/approve`, { token });
  const show = async (id: string) => (await root('GET', `/v1/requests/${id}`)).body.change_request;
  const events = async () => (await root('GET', '/v1/audit/events?limit=500&order=desc')).body.events as any[];
  const policyDoc = (action: string) => JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Principal: { AWS: 'arn:aws:iam::000000000000:root' }, Action: action, Resource: '*' }] });
  /** The change request an AWS call was held as: AccessDeniedException naming it, the secret's value nowhere. */
  const heldAws = async (promise: Promise<unknown>, operation: string) => {
    const e = await awsError(promise);
    assert.equal(e.name, 'AccessDeniedException', e.message);
    assert.ok(!e.message.includes(canary));
    const id = /held as change request (chr_[A-Za-z0-9_-]{22})/.exec(e.message)?.[1];
    assert.ok(id, e.message);
    const cr = await show(id);
    assert.deepEqual([cr.state, cr.operation, cr.requester.accessor], ['pending', operation, keyAccessor]);
    return cr;
  };
  /** Approved by a platform member: applied once, its audit event names the request and approver and ran as the requester. */
  const applied = async (id: string) => {
    assertErrorBody(await approve(dataEng.token, id), 403, 'self_approval_denied');
    const ok = await approve(platform.token, id);
    assert.equal(ok.body.change_request.state, 'applied', JSON.stringify(ok.body));
    assertErrorBody(await approve(platform2.token, id), 409, 'change_request_closed');
    const found = (await events()).filter((e) => e.detail?.change_request === id && e.detail?.approved_by);
    assert.equal(found.length, 1, 'one applied event');
    assert.deepEqual([found[0].accessor, found[0].outcome, found[0].operation, found[0].detail.approved_by], [keyAccessor, 'success', ok.body.change_request.operation, platform.accessor]);
    return ok.body.change_request;
  };
  /** Approved after its secret changed: failed with `code`, audited as a failure naming the request. */
  const failsWith = async (id: string, code: string) => {
    const r = await approve(platform.token, id);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual([r.body.change_request.state, r.body.change_request.error_code], ['failed', code]);
    const found = (await events()).filter((e) => e.detail?.change_request === id && e.detail?.approved_by);
    assert.deepEqual(found.map((e) => [e.outcome, e.error_code]), [['failure', code]]);
  };
  const replicaRegions = async (name: string) => ((await rootEast.send(new DescribeSecretCommand({ SecretId: name }))).ReplicationStatus ?? []).map((r) => r.Region).sort();
  const create = async (name: string) => assert.equal((await root('POST', '/v1/secrets', { name, value: `${canary}-${name}` })).status, 201);

  before(async () => {
    configDir = mkdtempSync(path.join(os.tmpdir(), 'custos-approvals-rest-'));
    writeFileSync(path.join(configDir, 'custos.json'), JSON.stringify({ alerts: { evaluate_interval_seconds: 0.1, rules: { off_hours: { enabled: false } } } }));
    server = await startServer({ env: { CUSTOS_TESTING_CLOCK: '1' }, logLevel: 'trace', args: ['--config', path.join(configDir, 'custos.json')] });
    const caps = ['read', 'list', 'create', 'update', 'delete', 'stage', 'rotate'];
    const approval = { approvers: ['group:platform'], min: 1 };
    await writePolicy(server, 'data-eng', JSON.stringify({ rules: [
      { path: 'prod/**', capabilities: caps, approval },
      { path: 'prod/critical/**', capabilities: caps, approval: { approvers: ['group:platform'], min: 2 } },
      { path: 'sys:aws-keys', capabilities: ['create'] },
      { path: 'sys:tokens', capabilities: ['create'] },
    ] }));
    await writePolicy(server, 'oncall', JSON.stringify({ rules: [{ path: 'prod/**', capabilities: caps, approval, break_glass: true }, { path: 'sys:aws-keys', capabilities: ['create'] }] }));
    // Approvers who may read nothing under prod/: approving needs group membership, not access.
    await writePolicy(server, 'approver', JSON.stringify({ rules: [{ path: 'elsewhere/**', capabilities: ['read'] }] }));
    dataEng = await createToken(server, { policies: ['data-eng'], display_name: 'dana' });
    platform = await createToken(server, { policies: ['approver'], display_name: 'pat' });
    platform2 = await createToken(server, { policies: ['approver'], display_name: 'paula' });
    assert.equal((await root('PUT', '/v1/groups/platform', { policies: ['approver'] })).status, 200);
    for (const member of [platform, platform2]) assert.equal((await root('POST', '/v1/groups/platform/members', { kind: 'accessor', value: member.accessor })).status, 200);
    const key = await api(server, 'POST', '/v1/aws/keys', { token: dataEng.token, body: { policies: ['data-eng'] } });
    assert.equal(key.status, 201, JSON.stringify(key.body));
    keyAccessor = `aws:${key.body.access_key_id}`;
    const credentials = { accessKeyId: key.body.access_key_id, secretAccessKey: key.body.secret_access_key };
    east = awsClient(server, credentials);
    west = awsClient(server, { ...credentials, region: 'eu-west-1' });
    const rootKey = await createAwsKey(server, ['root']);
    rootEast = awsClient(server, rootKey);
    rootWest = awsClient(server, { ...rootKey, region: 'eu-west-1' });
    north = awsClient(server, { ...credentials, region: 'eu-north-1' });
    rootNorth = awsClient(server, { ...rootKey, region: 'eu-north-1' });
    for (const name of ['prod/rep/a', 'prod/rep/stale', 'prod/rep/gone', 'prod/pol/a', 'prod/pol/stale', 'prod/del/aws', 'prod/del/native', 'prod/del/stale', 'prod/del/purged', 'prod/critical/rep']) await create(name);
  });
  after(async () => {
    await server.stop();
    server.cleanup();
    rmSync(configDir, { recursive: true, force: true });
  });

  test('abuse: the requester cannot approve, one approver twice counts once, an approver who may not read the secret sees no value', async () => {
    const cr = await heldAws(east.send(new ReplicateSecretToRegionsCommand({ SecretId: 'prod/critical/rep', AddReplicaRegions: [{ Region: 'eu-west-1' }] })), 'replication.add');
    assertErrorBody(await approve(dataEng.token, cr.id), 403, 'self_approval_denied');
    // A child token of the requester is the same person.
    const child = await createToken(server, { policies: ['data-eng'] }, dataEng.token);
    assertErrorBody(await approve(child.token, cr.id), 403, 'self_approval_denied');
    assert.equal((await approve(platform.token, cr.id)).body.change_request.state, 'pending');
    const twice = await approve(platform.token, cr.id);
    assert.deepEqual([twice.body.change_request.state, twice.body.change_request.approvals.length], ['pending', 1]);
    assert.deepEqual(await replicaRegions('prod/critical/rep'), []);
    // The approver may not read the secret: the request shows the change, never the value.
    assertErrorBody(await api(server, 'GET', '/v1/values/prod/critical/rep', { token: platform2.token }), 403, 'permission_denied');
    const seen = await api(server, 'GET', `/v1/requests/${cr.id}`, { token: platform2.token });
    assert.equal(seen.status, 200);
    assert.deepEqual(seen.body.change_request.changes, [{ field: 'replica:eu-west-1', from: null, to: 'replica' }]);
    assert.ok(!JSON.stringify(seen.body).includes(canary));
    const done = await approve(platform2.token, cr.id);
    assert.deepEqual([done.body.change_request.state, done.body.change_request.approvals.length], ['applied', 2]);
    assert.deepEqual(await replicaRegions('prod/critical/rep'), ['eu-west-1']);
    assert.equal((await rootWest.send(new GetSecretValueCommand({ SecretId: 'prod/critical/rep' }))).SecretString, `${canary}-prod/critical/rep`);
  });

  test('ReplicateSecretToRegions, RemoveRegionsFromReplication and StopReplicationToReplica: held, diffed, applied once as the requester', async () => {
    const add = await heldAws(east.send(new ReplicateSecretToRegionsCommand({ SecretId: 'prod/rep/a', AddReplicaRegions: [{ Region: 'eu-west-1' }, { Region: 'eu-north-1', KmsKeyId: 'alias/north' }] })), 'replication.add');
    assert.equal(add.summary, 'replicate prod/rep/a to eu-west-1, eu-north-1');
    assert.deepEqual(add.changes, [{ field: 'replica:eu-west-1', from: null, to: 'replica' }, { field: 'replica:eu-north-1', from: null, to: 'replica (kms key alias/north)' }]);
    assert.deepEqual(await replicaRegions('prod/rep/a'), []);
    assert.deepEqual((await applied(add.id)).result.replicas, 'eu-west-1,eu-north-1');
    assert.deepEqual(await replicaRegions('prod/rep/a'), ['eu-north-1', 'eu-west-1']);

    const remove = await heldAws(east.send(new RemoveRegionsFromReplicationCommand({ SecretId: 'prod/rep/a', RemoveReplicaRegions: ['eu-north-1'] })), 'replication.remove');
    assert.deepEqual(remove.changes, [{ field: 'replica:eu-north-1', from: 'replica', to: null }]);
    assert.deepEqual(await replicaRegions('prod/rep/a'), ['eu-north-1', 'eu-west-1']);
    await applied(remove.id);
    assert.deepEqual(await replicaRegions('prod/rep/a'), ['eu-west-1']);

    const stop = await heldAws(west.send(new StopReplicationToReplicaCommand({ SecretId: 'prod/rep/a' })), 'replication.promote');
    assert.deepEqual([stop.summary, stop.changes], ['promote the replica prod/rep/a in eu-west-1 to a standalone secret', [{ field: 'primary_region', from: 'us-east-1', to: null }]]);
    assert.equal((await rootWest.send(new DescribeSecretCommand({ SecretId: 'prod/rep/a' }))).PrimaryRegion, 'us-east-1');
    await applied(stop.id);
    assert.equal((await rootWest.send(new DescribeSecretCommand({ SecretId: 'prod/rep/a' }))).PrimaryRegion, undefined);
    assert.deepEqual(await replicaRegions('prod/rep/a'), []);
  });

  test('CreateSecret with AddReplicaRegions: held as one request; approved, the secret is created and then replicated', async () => {
    const cr = await heldAws(east.send(new CreateSecretCommand({ Name: 'prod/rep/created', SecretString: `${canary}-created`, AddReplicaRegions: [{ Region: 'eu-west-1' }] })), 'secret.create');
    assert.match(cr.summary, /^create prod\/rep\/created with a first value \(labels CURRENT, version [0-9a-f-]{36}\), replicated to eu-west-1$/);
    assert.deepEqual(cr.changes, [{ field: 'value', to: '(new value, sealed), labels CURRENT' }, { field: 'replica:eu-west-1', from: null, to: 'replica' }]);
    assertErrorBody(await root('GET', '/v1/secrets/prod/rep/created'), 404, 'secret_not_found');
    assert.equal((await applied(cr.id)).result.replicas, 'eu-west-1');
    assert.deepEqual(await replicaRegions('prod/rep/created'), ['eu-west-1']);
    assert.equal((await rootWest.send(new GetSecretValueCommand({ SecretId: 'prod/rep/created' }))).SecretString, `${canary}-created`);
    // Replicating to its own region is refused at once, nothing held.
    const own = await awsError(east.send(new CreateSecretCommand({ Name: 'prod/rep/own', SecretString: 'x', AddReplicaRegions: [{ Region: 'us-east-1' }] })));
    assert.equal(own.name, 'InvalidParameterException', own.message);
  });

  test('rotation of a secret outside the default region: held for that region\'s secret, natively and over the AWS API', async () => {
    const status = async (region?: string) => (await root('GET', `/v1/rotation-status/prod/rot/regional${region ? `?region=${region}` : ''}`)).body.settings;
    await create('prod/rot/regional');
    await rootWest.send(new CreateSecretCommand({ Name: 'prod/rot/regional', SecretString: 'west' }));
    for (const query of ['', '?region=eu-west-1']) assert.equal((await root('PUT', `/v1/rotation/prod/rot/regional${query}`, { settings: { rotator: 'postgres', every_seconds: 3600 } })).status, 200);
    const native = await api(server, 'PUT', '/v1/rotation/prod/rot/regional?region=eu-west-1', { token: dataEng.token, body: { settings: { rotator: 'postgres', every_seconds: 7200 } } });
    assert.equal(native.status, 202, JSON.stringify(native.body));
    assert.deepEqual(native.body.change_request.changes, [{ field: 'rotation.every_seconds', from: '3600', to: '7200' }]);
    assert.equal((await approve(platform.token, native.body.change_request.id)).body.change_request.state, 'applied');
    assert.deepEqual([(await status('eu-west-1')).every_seconds, (await status()).every_seconds], [7200, 3600]);
    const viaAws = await heldAws(west.send(new RotateSecretCommand({ SecretId: 'prod/rot/regional', RotationRules: { AutomaticallyAfterDays: 7 }, RotateImmediately: false })), 'rotation.schedule');
    assert.deepEqual(viaAws.changes.find((c: any) => c.field === 'rotation.every_seconds'), { field: 'rotation.every_seconds', from: '7200', to: '604800' });
    await applied(viaAws.id);
    assert.deepEqual([(await status('eu-west-1')).every_seconds, (await status()).every_seconds], [604800, 3600]);
    // A replica is rotated through its primary: refused at once, nothing held.
    const pending = (await root('GET', '/v1/requests?state=pending')).body.requests.length;
    const replica = await awsError(west.send(new RotateSecretCommand({ SecretId: 'prod/critical/rep', RotationRules: { AutomaticallyAfterDays: 7 } })));
    assert.deepEqual([replica.name, replica.message], ['InvalidParameterException', "Operation not permitted on a replica secret. Call must be made in primary secret's region."]);
    assert.equal((await root('GET', '/v1/requests?state=pending')).body.requests.length, pending);
  });

  test('replication requests whose secret changed meanwhile fail with a stable code and write nothing, not even half', async () => {
    // One of two regions gained a replica meanwhile: neither is added.
    const add = await heldAws(east.send(new ReplicateSecretToRegionsCommand({ SecretId: 'prod/rep/stale', AddReplicaRegions: [{ Region: 'ap-south-1' }, { Region: 'eu-north-1' }] })), 'replication.add');
    await rootEast.send(new ReplicateSecretToRegionsCommand({ SecretId: 'prod/rep/stale', AddReplicaRegions: [{ Region: 'eu-north-1' }] }));
    await failsWith(add.id, 'replication_conflict');
    assert.deepEqual(await replicaRegions('prod/rep/stale'), ['eu-north-1']);
    // Another secret of the name appeared in the target region (no overwrite asked): not replaced.
    const clash = await heldAws(east.send(new ReplicateSecretToRegionsCommand({ SecretId: 'prod/rep/gone', AddReplicaRegions: [{ Region: 'eu-west-1' }] })), 'replication.add');
    await rootWest.send(new CreateSecretCommand({ Name: 'prod/rep/gone', SecretString: 'standalone' }));
    await failsWith(clash.id, 'replication_conflict');
    assert.equal((await rootWest.send(new GetSecretValueCommand({ SecretId: 'prod/rep/gone' }))).SecretString, 'standalone');
    // A replica promoted meanwhile is no longer one.
    const stop = await heldAws(north.send(new StopReplicationToReplicaCommand({ SecretId: 'prod/rep/stale' })), 'replication.promote');
    await rootNorth.send(new StopReplicationToReplicaCommand({ SecretId: 'prod/rep/stale' }));
    await failsWith(stop.id, 'invalid_request');
    // Of two replicas to remove, one was removed meanwhile: the other stays.
    await rootEast.send(new ReplicateSecretToRegionsCommand({ SecretId: 'prod/rep/stale', AddReplicaRegions: [{ Region: 'ap-south-1' }, { Region: 'eu-west-1' }] }));
    const remove = await heldAws(east.send(new RemoveRegionsFromReplicationCommand({ SecretId: 'prod/rep/stale', RemoveReplicaRegions: ['eu-west-1', 'ap-south-1'] })), 'replication.remove');
    await rootEast.send(new RemoveRegionsFromReplicationCommand({ SecretId: 'prod/rep/stale', RemoveReplicaRegions: ['ap-south-1'] }));
    await failsWith(remove.id, 'secret_not_found');
    assert.deepEqual(await replicaRegions('prod/rep/stale'), ['eu-west-1']);
  });

  test('PutResourcePolicy and DeleteResourcePolicy: held with the document diffed; a policy changed meanwhile fails the request', async () => {
    const doc = policyDoc('secretsmanager:DeleteSecret');
    // Validating changes nothing: the requester may check a document before asking for it, nothing is held.
    const pending = (await root('GET', '/v1/requests?state=pending')).body.requests.length;
    const checked = await east.send(new ValidateResourcePolicyCommand({ SecretId: 'prod/pol/a', ResourcePolicy: doc }));
    assert.deepEqual([checked.PolicyValidationPassed, checked.ValidationErrors], [true, []]);
    assert.equal((await root('GET', '/v1/requests?state=pending')).body.requests.length, pending);
    const put = await heldAws(east.send(new PutResourcePolicyCommand({ SecretId: 'prod/pol/a', ResourcePolicy: doc })), 'policy.put');
    assert.deepEqual(put.changes, [{ field: 'resource_policy', from: null, to: doc }]);
    assert.equal((await rootEast.send(new GetResourcePolicyCommand({ SecretId: 'prod/pol/a' }))).ResourcePolicy, undefined);
    await applied(put.id);
    assert.equal((await rootEast.send(new GetResourcePolicyCommand({ SecretId: 'prod/pol/a' }))).ResourcePolicy, doc);
    const del = await heldAws(east.send(new DeleteResourcePolicyCommand({ SecretId: 'prod/pol/a' })), 'policy.delete');
    assert.deepEqual(del.changes, [{ field: 'resource_policy', from: doc, to: null }]);
    await applied(del.id);
    assert.equal((await rootEast.send(new GetResourcePolicyCommand({ SecretId: 'prod/pol/a' }))).ResourcePolicy, undefined);

    // Approvers reviewed "from A": after root attached B, neither the put nor the delete applies.
    await rootEast.send(new PutResourcePolicyCommand({ SecretId: 'prod/pol/stale', ResourcePolicy: policyDoc('secretsmanager:TagResource') }));
    const stalePut = await heldAws(east.send(new PutResourcePolicyCommand({ SecretId: 'prod/pol/stale', ResourcePolicy: doc })), 'policy.put');
    const staleDelete = await heldAws(east.send(new DeleteResourcePolicyCommand({ SecretId: 'prod/pol/stale' })), 'policy.delete');
    const replaced = policyDoc('secretsmanager:UntagResource');
    await rootEast.send(new PutResourcePolicyCommand({ SecretId: 'prod/pol/stale', ResourcePolicy: replaced }));
    await failsWith(stalePut.id, 'resource_policy_changed');
    await failsWith(staleDelete.id, 'resource_policy_changed');
    assert.equal((await rootEast.send(new GetResourcePolicyCommand({ SecretId: 'prod/pol/stale' }))).ResourcePolicy, replaced);
    // The secret was scheduled for deletion meanwhile: nothing attached.
    const onDeleted = await heldAws(east.send(new PutResourcePolicyCommand({ SecretId: 'prod/pol/a', ResourcePolicy: doc })), 'policy.put');
    await rootEast.send(new DeleteSecretCommand({ SecretId: 'prod/pol/a', RecoveryWindowInDays: 7 }));
    await failsWith(onDeleted.id, 'secret_scheduled_for_deletion');
    assert.equal((await root('POST', '/v1/restore/prod/pol/a')).status, 200);
    assert.equal((await rootEast.send(new GetResourcePolicyCommand({ SecretId: 'prod/pol/a' }))).ResourcePolicy, undefined);
    // A malformed document is refused at once, nothing held.
    const bad = await awsError(east.send(new PutResourcePolicyCommand({ SecretId: 'prod/pol/a', ResourcePolicy: '{"Statement": 5}' })));
    assert.equal(bad.name, 'MalformedPolicyDocumentException');
  });

  test('restore, over the AWS API and natively: held while the secret stays deleted; restored once approved', async () => {
    for (const name of ['prod/del/aws', 'prod/del/native', 'prod/del/stale', 'prod/del/purged']) assert.equal((await root('DELETE', `/v1/secrets/${name}?recovery_days=7`)).status, 200);
    const viaAws = await heldAws(east.send(new RestoreSecretCommand({ SecretId: 'prod/del/aws' })), 'secret.restore');
    assert.match(viaAws.changes[0].from, /^scheduled, purged at /);
    assert.deepEqual([viaAws.changes[0].field, viaAws.changes[0].to], ['deletion', 'cancelled']);
    const native = await api(server, 'POST', '/v1/restore/prod/del/native', { token: dataEng.token });
    assert.equal(native.status, 202, JSON.stringify(native.body));
    assert.equal(native.body.change_request.operation, 'secret.restore');
    for (const name of ['prod/del/aws', 'prod/del/native']) assertErrorBody(await root('GET', `/v1/values/${name}`), 409, 'secret_scheduled_for_deletion');
    await applied(viaAws.id);
    assert.equal((await approve(platform.token, native.body.change_request.id)).body.change_request.state, 'applied');
    for (const name of ['prod/del/aws', 'prod/del/native']) assert.equal((await root('GET', `/v1/values/${name}`)).body.value, `${canary}-${name}`);
    // The CLI says it is held, and the secret stays deleted.
    assert.equal((await root('DELETE', '/v1/secrets/prod/del/native?recovery_days=7')).status, 200);
    const cli = await runCli(['secret', 'restore', 'prod/del/native'], { server, env: { CUSTOS_TOKEN: dataEng.token } });
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /^held for approval: change request chr_/);
    assertErrorBody(await root('GET', '/v1/values/prod/del/native'), 409, 'secret_scheduled_for_deletion');
    // Restored meanwhile, or purged meanwhile: the request fails, nothing changes.
    const restoredMeanwhile = await heldAws(east.send(new RestoreSecretCommand({ SecretId: 'prod/del/stale' })), 'secret.restore');
    assert.equal((await root('POST', '/v1/restore/prod/del/stale')).status, 200);
    await failsWith(restoredMeanwhile.id, 'secret_not_deleted');
    const purgedMeanwhile = await heldAws(east.send(new RestoreSecretCommand({ SecretId: 'prod/del/purged' })), 'secret.restore');
    assert.equal((await root('DELETE', '/v1/secrets/prod/del/purged?force=true')).status, 200);
    await failsWith(purgedMeanwhile.id, 'secret_not_found');
    assertErrorBody(await root('GET', '/v1/secrets/prod/del/purged'), 404, 'secret_not_found');
  });

});

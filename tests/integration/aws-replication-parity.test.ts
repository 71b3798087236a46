import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CreateSecretCommand, DeleteSecretCommand, DescribeSecretCommand, GetSecretValueCommand, ListSecretsCommand, PutSecretValueCommand,
  RemoveRegionsFromReplicationCommand, ReplicateSecretToRegionsCommand, StopReplicationToReplicaCommand, TagResourceCommand, UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { api, startServer, type RunningServer } from '../support/custos-server.js';
import { awsClient, awsError } from '../support/aws.js';
import { startPostgresCluster, type PostgresCluster } from '../support/postgres-cluster.js';

// Replication does row locking and multi-row copies in one transaction: run it on both engines.
for (const engine of ['sqlite', 'postgres'] as const) describe(`AWS API on ${engine}: replication and parity with the native API`, () => {
  let server: RunningServer;
  let east: ReturnType<typeof awsClient>;
  let west: ReturnType<typeof awsClient>;
  let north: ReturnType<typeof awsClient>;

  let cluster: PostgresCluster | undefined;

  before(async () => {
    if (engine === 'postgres') {
      cluster = await startPostgresCluster();
      const database = await cluster.createDatabase();
      server = await startServer({ args: ['--storage', database.url], env: { CUSTOS_STORAGE_PASSWORD: database.password } });
    } else {
      server = await startServer();
    }
    east = awsClient(server, { region: 'us-east-1' });
    west = awsClient(server, { region: 'eu-west-1' });
    north = awsClient(server, { region: 'eu-north-1' });
  });
  after(async () => {
    for (const c of [east, west, north]) c?.destroy();
    await server?.stop();
    server?.cleanup();
    await cluster?.stop();
  });

  test('replicas are read-only mirrors kept in step with their primary', async () => {
    const created = await east.send(new CreateSecretCommand({ Name: 'prod/replicated', SecretString: 'v1', Description: 'primary', AddReplicaRegions: [{ Region: 'eu-west-1' }] }));
    assert.deepEqual(created.ReplicationStatus!.map((s) => [s.Region, s.Status]), [['eu-west-1', 'InSync']]);
    const replica = await west.send(new GetSecretValueCommand({ SecretId: 'prod/replicated' }));
    assert.equal(replica.SecretString, 'v1');
    assert.equal(replica.VersionId, created.VersionId, 'replicas keep the version ids');
    assert.equal(replica.ARN, created.ARN!.replace(':us-east-1:', ':eu-west-1:'));

    // Writes to the primary reach the replica in the same transaction, labels included.
    const pending = await east.send(new PutSecretValueCommand({ SecretId: 'prod/replicated', SecretString: 'v2', VersionStages: ['AWSPENDING'] }));
    await east.send(new UpdateSecretVersionStageCommand({ SecretId: 'prod/replicated', VersionStage: 'AWSCURRENT', MoveToVersionId: pending.VersionId, RemoveFromVersionId: created.VersionId }));
    await east.send(new TagResourceCommand({ SecretId: 'prod/replicated', Tags: [{ Key: 'tier', Value: 'gold' }] }));
    const mirrored = await west.send(new GetSecretValueCommand({ SecretId: 'prod/replicated' }));
    assert.equal(mirrored.SecretString, 'v2');
    assert.deepEqual([...mirrored.VersionStages!].sort(), ['AWSCURRENT', 'AWSPENDING']);
    const westDescribed = await west.send(new DescribeSecretCommand({ SecretId: 'prod/replicated' }));
    assert.equal(westDescribed.PrimaryRegion, 'us-east-1');
    assert.deepEqual(westDescribed.Tags, [{ Key: 'tier', Value: 'gold' }]);
    assert.deepEqual(westDescribed.VersionIdsToStages![created.VersionId!], ['AWSPREVIOUS']);

    // Replicas refuse writes with AWS's replica error; the primary reports its replicas.
    const replicaWrite = await awsError(west.send(new PutSecretValueCommand({ SecretId: 'prod/replicated', SecretString: 'x' })));
    assert.deepEqual([replicaWrite.name, replicaWrite.message], ['InvalidParameterException', "Operation not permitted on a replica secret. Call must be made in primary secret's region."]);
    assert.equal((await awsError(west.send(new DeleteSecretCommand({ SecretId: 'prod/replicated' })))).name, 'InvalidParameterException');
    const eastDescribed = await east.send(new DescribeSecretCommand({ SecretId: 'prod/replicated' }));
    assert.equal(eastDescribed.PrimaryRegion, 'us-east-1');
    assert.deepEqual(eastDescribed.ReplicationStatus!.map((s) => [s.Region, s.Status]), [['eu-west-1', 'InSync']]);
    const listed = (await east.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['prod/replicated'] }] }))).SecretList![0]!;
    assert.equal(listed.PrimaryRegion, 'us-east-1');
    assert.equal((await awsError(east.send(new DeleteSecretCommand({ SecretId: 'prod/replicated' })))).name, 'InvalidRequestException', 'remove replicas before deleting');

    // A second region, then removal.
    const more = await east.send(new ReplicateSecretToRegionsCommand({ SecretId: 'prod/replicated', AddReplicaRegions: [{ Region: 'eu-north-1', KmsKeyId: 'alias/north' }] }));
    assert.deepEqual(more.ReplicationStatus!.map((s) => s.Region), ['eu-north-1']);
    assert.equal((await north.send(new GetSecretValueCommand({ SecretId: 'prod/replicated' }))).SecretString, 'v2');
    const removed = await east.send(new RemoveRegionsFromReplicationCommand({ SecretId: 'prod/replicated', RemoveReplicaRegions: ['eu-north-1'] }));
    assert.deepEqual(removed.ReplicationStatus!.map((s) => s.Region), ['eu-west-1']);
    assert.equal((await awsError(north.send(new GetSecretValueCommand({ SecretId: 'prod/replicated' })))).name, 'ResourceNotFoundException');

    // Promotion: the replica becomes a standalone, writable primary that no longer follows.
    const stopped = await west.send(new StopReplicationToReplicaCommand({ SecretId: 'prod/replicated' }));
    assert.match(stopped.ARN!, /:eu-west-1:/);
    await west.send(new PutSecretValueCommand({ SecretId: 'prod/replicated', SecretString: 'west-own' }));
    await east.send(new PutSecretValueCommand({ SecretId: 'prod/replicated', SecretString: 'east-v3' }));
    assert.equal((await west.send(new GetSecretValueCommand({ SecretId: 'prod/replicated' }))).SecretString, 'west-own');
    assert.equal((await east.send(new DescribeSecretCommand({ SecretId: 'prod/replicated' }))).ReplicationStatus, undefined);
    assert.equal((await awsError(west.send(new StopReplicationToReplicaCommand({ SecretId: 'prod/replicated' })))).name, 'InvalidRequestException');
  });

  test('replicating onto an existing secret fails without ForceOverwriteReplicaSecret and replaces it with it', async () => {
    await east.send(new CreateSecretCommand({ Name: 'prod/clash', SecretString: 'primary' }));
    await north.send(new CreateSecretCommand({ Name: 'prod/clash', SecretString: 'local' }));
    const failed = await east.send(new ReplicateSecretToRegionsCommand({ SecretId: 'prod/clash', AddReplicaRegions: [{ Region: 'eu-north-1' }] }));
    assert.equal(failed.ReplicationStatus![0]!.Status, 'Failed');
    assert.equal((await north.send(new GetSecretValueCommand({ SecretId: 'prod/clash' }))).SecretString, 'local');
    await east.send(new ReplicateSecretToRegionsCommand({ SecretId: 'prod/clash', AddReplicaRegions: [{ Region: 'eu-north-1' }], ForceOverwriteReplicaSecret: true }));
    assert.equal((await north.send(new GetSecretValueCommand({ SecretId: 'prod/clash' }))).SecretString, 'primary');
  });

  test('the native API and the AWS API see the same secrets, versions and labels', async () => {
    // Native write with PENDING, AWS read as AWSPENDING.
    const auth = { token: server.token };
    assert.equal((await api(server, 'POST', '/v1/secrets', { ...auth, body: { name: 'prod/shared', value: 'native-1' } })).status, 201);
    const pending = await api(server, 'POST', '/v1/values/prod/shared', { ...auth, body: { value: 'native-2', labels: ['PENDING'] } });
    assert.equal(pending.status, 201);
    const viaAws = await east.send(new GetSecretValueCommand({ SecretId: 'prod/shared', VersionStage: 'AWSPENDING' }));
    assert.equal(viaAws.SecretString, 'native-2');
    assert.equal(viaAws.VersionId, pending.body.version_id);
    assert.deepEqual(viaAws.VersionStages, ['AWSPENDING']);
    assert.equal((await east.send(new GetSecretValueCommand({ SecretId: 'prod/shared' }))).SecretString, 'native-1');

    // AWS promotion, native read: CURRENT moved, PREVIOUS set.
    const d = await east.send(new DescribeSecretCommand({ SecretId: 'prod/shared' }));
    const current = Object.entries(d.VersionIdsToStages!).find(([, s]) => s.includes('AWSCURRENT'))![0];
    await east.send(new UpdateSecretVersionStageCommand({ SecretId: 'prod/shared', VersionStage: 'AWSCURRENT', MoveToVersionId: pending.body.version_id, RemoveFromVersionId: current }));
    const native = await api(server, 'GET', '/v1/values/prod/shared', auth);
    assert.equal(native.body.value, 'native-2');
    assert.deepEqual([...native.body.labels].sort(), ['CURRENT', 'PENDING']);
    const previous = await api(server, 'GET', '/v1/values/prod/shared?label=PREVIOUS', auth);
    assert.equal(previous.body.value, 'native-1');

    // AWS write of a binary value and a custom label, native read.
    const binary = await east.send(new PutSecretValueCommand({ SecretId: 'prod/shared', SecretBinary: Buffer.from([9, 8, 7]), VersionStages: ['canary'] }));
    const nativeBinary = await api(server, 'GET', '/v1/values/prod/shared?label=canary', auth);
    assert.equal(nativeBinary.body.value_base64, Buffer.from([9, 8, 7]).toString('base64'));
    assert.equal(nativeBinary.body.version_id, binary.VersionId);
    const described = await api(server, 'GET', '/v1/secrets/prod/shared', auth);
    assert.equal(described.body.arn, d.ARN);
  });
});

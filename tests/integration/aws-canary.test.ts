import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import {
  BatchGetSecretValueCommand, CreateSecretCommand, GetSecretValueCommand, PutSecretValueCommand, UpdateSecretCommand, ReplicateSecretToRegionsCommand,
} from '@aws-sdk/client-secrets-manager';
import { api, startServer } from '../support/custos-server.js';
import { awsClient, awsError, createAwsKey } from '../support/aws.js';

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = path.join(dir, entry);
    return statSync(full).isDirectory() ? filesUnder(full) : [full];
  });
}

test('values and secret keys written through the AWS API never reach logs, audit or the database files', async () => {
  const server = await startServer({ logLevel: 'trace' });
  const canary = `CANARY-${randomUUID()}`;
  const binaryCanary = Buffer.from(`BINCANARY-${randomUUID()}`);
  try {
    const key = await createAwsKey(server, ['root']);
    const sm = awsClient(server, key);
    await sm.send(new CreateSecretCommand({ Name: 'prod/canary', SecretString: canary }));
    await sm.send(new PutSecretValueCommand({ SecretId: 'prod/canary', SecretBinary: binaryCanary, VersionStages: ['AWSPENDING'] }));
    await sm.send(new UpdateSecretCommand({ SecretId: 'prod/canary', SecretString: canary + '-2' }));
    await sm.send(new ReplicateSecretToRegionsCommand({ SecretId: 'prod/canary', AddReplicaRegions: [{ Region: 'eu-west-1' }] }));
    assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: 'prod/canary' }))).SecretString, canary + '-2');
    assert.equal((await sm.send(new BatchGetSecretValueCommand({ SecretIdList: ['prod/canary'] }))).SecretValues![0]!.SecretString, canary + '-2');
    // Failing requests that carry the value: the error message must not echo it.
    const failed = await awsError(sm.send(new CreateSecretCommand({ Name: 'bad name!', SecretString: canary })));
    assert.equal(failed.name, 'InvalidParameterException');
    assert.ok(!failed.message.includes(canary));
    const conflict = await awsError(sm.send(new CreateSecretCommand({ Name: 'prod/canary', SecretString: canary })));
    assert.ok(!conflict.message.includes(canary));
    const badSig = awsClient(server, { accessKeyId: key.accessKeyId, secretAccessKey: 'wrong' });
    await awsError(badSig.send(new PutSecretValueCommand({ SecretId: 'prod/canary', SecretString: canary })));
    badSig.destroy();
    sm.destroy();

    const audit = JSON.stringify((await api(server, 'GET', '/v1/audit/events?limit=1000', { token: server.token })).body);
    assert.ok(audit.includes('aws.PutSecretValue'), 'the audit log recorded the calls');
    assert.ok(!audit.includes(canary), 'no value in audit events');
    await server.stop();

    const forms = [canary, Buffer.from(canary).toString('base64'), binaryCanary.toString('utf8'), binaryCanary.toString('base64'), key.secretAccessKey];
    const output = server.output();
    for (const form of forms) assert.ok(!output.includes(form), 'no value or secret key in the server output');
    const files = filesUnder(server.dataDir);
    assert.ok(files.some((f) => f.endsWith('custos.db')));
    for (const file of files) {
      const bytes = readFileSync(file);
      for (const form of forms) assert.equal(bytes.indexOf(Buffer.from(form)), -1, `${path.basename(file)} holds a plaintext value or secret key`);
      assert.equal(bytes.indexOf(binaryCanary), -1);
    }
  } finally {
    await server.stop();
    server.cleanup();
  }
});

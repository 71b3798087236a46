import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CreateSecretCommand, DeleteResourcePolicyCommand, DescribeSecretCommand, GetResourcePolicyCommand, PutResourcePolicyCommand, RemoveRegionsFromReplicationCommand,
  ReplicateSecretToRegionsCommand, RestoreSecretCommand, StopReplicationToReplicaCommand, TagResourceCommand, type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { api, startServer, type RunningServer } from '../support/custos-server.js';
import { assertErrorBody, createToken, eventually, writePolicy } from '../support/http-helpers.js';
import { awsClient, awsError, createAwsKey } from '../support/aws.js';

const HEADER = 'x-custos-break-glass';

/** Sends `reason` in the break-glass header: before SigV4 signs the request (`signed`) or after it. */
function withBreakGlass(client: SecretsManagerClient, reason: string, signed = true): SecretsManagerClient {
  client.middlewareStack.add((next) => async (args) => {
    (args.request as { headers: Record<string, string> }).headers[HEADER] = reason;
    return next(args);
  }, { step: (signed ? 'build' : 'deserialize') as 'deserialize', name: 'breakGlassHeader' });
  return client;
}

/**
 * Break-glass for every kind of write an approval rule holds: with a reason, under a rule that
 * allows it, the write happens at once (no change request), its audit event carries the reason
 * and the `break_glass` marker, and the alerts engine raises a critical alert for it. Natively
 * (the header) and over the AWS API (the header, signed by SigV4). Abuse first: a reason under a
 * rule without break-glass, and an unsigned header, change nothing.
 */
describe('break-glass for every held write', () => {
  let server: RunningServer;
  let configDir = '';
  const reason = `INC-${randomBytes(3).toString('hex')} primary database down`;
  let oncall: { token: string; accessor: string };
  let dataEng: { token: string; accessor: string };
  let keyAccessor = '';
  let credentials = { accessKeyId: '', secretAccessKey: '' };
  let dataEngCredentials = { accessKeyId: '', secretAccessKey: '' };
  /** Request id of each break-glass write, with the secret it names and who made it. */
  const writes: { requestId: string; secret: string; accessor: string }[] = [];

  const root = (method: string, url: string, body?: unknown) => api(server, method, url, { token: server.token, body });
  const asOncall = (method: string, url: string, body?: unknown) => api(server, method, url, { token: oncall.token, body, headers: { [HEADER]: reason } });
  const native = async (method: string, url: string, body: unknown, secret: string) => {
    const r = await asOncall(method, url, body);
    assert.ok(r.status >= 200 && r.status < 300, `${method} ${url}: ${r.status} ${JSON.stringify(r.body)}`);
    assert.equal(r.body.change_request, undefined, 'not held');
    writes.push({ requestId: r.headers.get('x-request-id')!, secret, accessor: oncall.accessor });
    return r;
  };
  const viaAws = async (client: SecretsManagerClient, command: unknown, secret: string) => {
    const out = (await client.send(command as never)) as { $metadata: { requestId?: string } };
    writes.push({ requestId: out.$metadata.requestId!, secret, accessor: keyAccessor });
    return out;
  };
  const requestCount = async () => (await root('GET', '/v1/requests')).body.requests.length as number;
  const replicaRegions = async (client: SecretsManagerClient, name: string) => ((await client.send(new DescribeSecretCommand({ SecretId: name }))).ReplicationStatus ?? []).map((r) => r.Region).sort();

  before(async () => {
    configDir = mkdtempSync(path.join(os.tmpdir(), 'custos-break-glass-'));
    writeFileSync(path.join(configDir, 'custos.json'), JSON.stringify({ alerts: { evaluate_interval_seconds: 0.1, rules: { off_hours: { enabled: false } } } }));
    server = await startServer({ env: { CUSTOS_TESTING_CLOCK: '1' }, logLevel: 'trace', args: ['--config', path.join(configDir, 'custos.json')] });
    const caps = ['read', 'list', 'create', 'update', 'delete', 'stage', 'rotate'];
    const approval = { approvers: ['group:platform'], min: 1 };
    await writePolicy(server, 'oncall', JSON.stringify({ rules: [{ path: 'prod/**', capabilities: caps, approval, break_glass: true }, { path: 'sys:aws-keys', capabilities: ['create'] }] }));
    await writePolicy(server, 'data-eng', JSON.stringify({ rules: [{ path: 'prod/**', capabilities: caps, approval }, { path: 'sys:aws-keys', capabilities: ['create'] }] }));
    oncall = await createToken(server, { policies: ['oncall'], display_name: 'oscar' });
    dataEng = await createToken(server, { policies: ['data-eng'], display_name: 'dana' });
    const key = await api(server, 'POST', '/v1/aws/keys', { token: oncall.token, body: { policies: ['oncall'] } });
    assert.equal(key.status, 201, JSON.stringify(key.body));
    credentials = { accessKeyId: key.body.access_key_id, secretAccessKey: key.body.secret_access_key };
    keyAccessor = `aws:${key.body.access_key_id}`;
    const dataKey = await api(server, 'POST', '/v1/aws/keys', { token: dataEng.token, body: { policies: ['data-eng'] } });
    dataEngCredentials = { accessKeyId: dataKey.body.access_key_id, secretAccessKey: dataKey.body.secret_access_key };
    for (const name of ['prod/bg/meta', 'prod/bg/rot', 'prod/bg/del', 'prod/bg/rep', 'prod/bg/pol', 'prod/bg/del-aws', 'prod/bg/tags-aws']) {
      assert.equal((await root('POST', '/v1/secrets', { name, value: 'v0', tags: { team: 'data' } })).status, 201);
    }
    assert.equal((await root('PUT', '/v1/rotation/prod/bg/rot', { settings: { rotator: 'postgres', every_seconds: 3600 } })).status, 200);
    for (const name of ['prod/bg/del', 'prod/bg/del-aws']) assert.equal((await root('DELETE', `/v1/secrets/${name}?recovery_days=7`)).status, 200);
  });
  after(async () => {
    await server.stop();
    server.cleanup();
    rmSync(configDir, { recursive: true, force: true });
  });

  test('abuse: a reason under a rule without break-glass, or a header SigV4 did not sign, changes nothing', async () => {
    const before = await requestCount();
    assertErrorBody(await api(server, 'PATCH', '/v1/secrets/prod/bg/meta', { token: dataEng.token, body: { description: 'nope' }, headers: { [HEADER]: reason } }), 403, 'break_glass_not_allowed');
    const notAllowed = await awsError(withBreakGlass(awsClient(server, dataEngCredentials), reason).send(new ReplicateSecretToRegionsCommand({ SecretId: 'prod/bg/rep', AddReplicaRegions: [{ Region: 'eu-west-1' }] })));
    assert.equal(notAllowed.name, 'AccessDeniedException');
    assert.match(notAllowed.message, /no rule allows break-glass/);
    const unsigned = await awsError(withBreakGlass(awsClient(server, credentials), reason, false).send(new ReplicateSecretToRegionsCommand({ SecretId: 'prod/bg/rep', AddReplicaRegions: [{ Region: 'eu-west-1' }] })));
    assert.equal(unsigned.name, 'InvalidParameterException');
    assert.match(unsigned.message, /must be one of the headers SigV4 signs/);
    const rootClient = awsClient(server, await createAwsKey(server, ['root']));
    assert.deepEqual(await replicaRegions(rootClient, 'prod/bg/rep'), []);
    assert.equal((await root('GET', '/v1/secrets/prod/bg/meta')).body.description, null);
    assert.equal(await requestCount(), before, 'nothing held either');
  });

  test('natively: create, metadata, tags, rotation settings, rotate-now and restore go through at once', async () => {
    const before = await requestCount();
    await native('POST', '/v1/secrets', { name: 'prod/bg/new', value: 'bg-created' }, 'prod/bg/new');
    assert.equal((await root('GET', '/v1/values/prod/bg/new')).body.value, 'bg-created');
    await native('PATCH', '/v1/secrets/prod/bg/meta', { description: 'changed in an incident' }, 'prod/bg/meta');
    assert.equal((await root('GET', '/v1/secrets/prod/bg/meta')).body.description, 'changed in an incident');
    await native('POST', '/v1/tags/prod/bg/meta', { tags: { incident: 'yes' } }, 'prod/bg/meta');
    assert.deepEqual((await root('GET', '/v1/secrets/prod/bg/meta')).body.tags, { team: 'data', incident: 'yes' });
    await native('PUT', '/v1/rotation/prod/bg/rot', { settings: { rotator: 'postgres', every_seconds: 7200 } }, 'prod/bg/rot');
    assert.equal((await root('GET', '/v1/rotation-status/prod/bg/rot')).body.settings.every_seconds, 7200);
    const runs = (await root('GET', '/v1/rotation-history/prod/bg/rot')).body.rotations.length as number;
    await native('POST', '/v1/rotate/prod/bg/rot', undefined, 'prod/bg/rot');
    assert.equal((await root('GET', '/v1/rotation-history/prod/bg/rot')).body.rotations.length, runs + 1);
    await native('POST', '/v1/restore/prod/bg/del', undefined, 'prod/bg/del');
    assert.equal((await root('GET', '/v1/values/prod/bg/del')).body.value, 'v0');
    assert.equal(await requestCount(), before, 'no change request');
  });

  test('over the AWS API: replication, resource policies, restore, create and tags go through at once', async () => {
    const before = await requestCount();
    // Reads check results as root: the oncall rule puts reads under approval as well.
    const rootEast = awsClient(server, await createAwsKey(server, ['root']));
    const rootWest = awsClient(server, { ...(await createAwsKey(server, ['root'])), region: 'eu-west-1' });
    const east = withBreakGlass(awsClient(server, credentials), reason);
    const west = withBreakGlass(awsClient(server, { ...credentials, region: 'eu-west-1' }), reason);
    await viaAws(east, new ReplicateSecretToRegionsCommand({ SecretId: 'prod/bg/rep', AddReplicaRegions: [{ Region: 'eu-west-1' }, { Region: 'eu-north-1' }] }), 'prod/bg/rep');
    assert.deepEqual(await replicaRegions(rootEast, 'prod/bg/rep'), ['eu-north-1', 'eu-west-1']);
    await viaAws(east, new RemoveRegionsFromReplicationCommand({ SecretId: 'prod/bg/rep', RemoveReplicaRegions: ['eu-north-1'] }), 'prod/bg/rep');
    assert.deepEqual(await replicaRegions(rootEast, 'prod/bg/rep'), ['eu-west-1']);
    await viaAws(west, new StopReplicationToReplicaCommand({ SecretId: 'prod/bg/rep' }), 'prod/bg/rep');
    assert.equal((await rootWest.send(new DescribeSecretCommand({ SecretId: 'prod/bg/rep' }))).PrimaryRegion, undefined);
    const doc = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Principal: { AWS: 'arn:aws:iam::000000000000:root' }, Action: 'secretsmanager:DeleteSecret', Resource: '*' }] });
    await viaAws(east, new PutResourcePolicyCommand({ SecretId: 'prod/bg/pol', ResourcePolicy: doc }), 'prod/bg/pol');
    assert.equal((await rootEast.send(new GetResourcePolicyCommand({ SecretId: 'prod/bg/pol' }))).ResourcePolicy, doc);
    await viaAws(east, new DeleteResourcePolicyCommand({ SecretId: 'prod/bg/pol' }), 'prod/bg/pol');
    assert.equal((await rootEast.send(new GetResourcePolicyCommand({ SecretId: 'prod/bg/pol' }))).ResourcePolicy, undefined);
    await viaAws(east, new RestoreSecretCommand({ SecretId: 'prod/bg/del-aws' }), 'prod/bg/del-aws');
    assert.equal((await root('GET', '/v1/values/prod/bg/del-aws')).body.value, 'v0');
    await viaAws(east, new CreateSecretCommand({ Name: 'prod/bg/new-aws', SecretString: 'bg-aws' }), 'prod/bg/new-aws');
    assert.equal((await root('GET', '/v1/values/prod/bg/new-aws')).body.value, 'bg-aws');
    await viaAws(east, new TagResourceCommand({ SecretId: 'prod/bg/tags-aws', Tags: [{ Key: 'incident', Value: 'yes' }] }), 'prod/bg/tags-aws');
    assert.deepEqual((await root('GET', '/v1/secrets/prod/bg/tags-aws')).body.tags, { team: 'data', incident: 'yes' });
    assert.equal(await requestCount(), before, 'no change request');
  });

  test('each break-glass write is audited with the marker and reason, and raises a critical alert', async () => {
    assert.equal(writes.length, 14);
    const events = (await root('GET', '/v1/audit/events?limit=1000&order=desc')).body.events as any[];
    const audited = writes.map((w) => {
      const mine = events.filter((e) => e.request_id === w.requestId);
      assert.equal(mine.length, 1, `one event for ${w.secret} (${w.requestId})`);
      const [e] = mine;
      assert.deepEqual([e.outcome, e.accessor, e.secret, e.detail.alert, e.detail.break_glass, e.detail.break_glass_reason], ['success', w.accessor, w.secret, 'break_glass', true, reason], JSON.stringify(e));
      return `${e.operation}|${e.secret}`;
    });
    let alerts: any[] = [];
    await eventually('a break-glass alert for every write', async () => {
      alerts = ((await root('GET', '/v1/alerts?rule=integrity&limit=200')).body.alerts as any[]).filter((a) => a.facts.kind === 'break_glass');
      return alerts.length >= writes.length;
    });
    assert.deepEqual(alerts.map((a) => `${a.facts.operation}|${a.secret}`).sort(), [...audited].sort());
    for (const a of alerts) assert.equal(a.severity, 'critical');
  });
});

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { CancelRotateSecretCommand, CreateSecretCommand, RotateSecretCommand, TagResourceCommand, UntagResourceCommand, UpdateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { api, runCli, startServer, type RunningServer } from '../support/custos-server.js';
import { assertErrorBody, createToken, writePolicy } from '../support/http-helpers.js';
import { advanceClock } from '../support/auth-helpers.js';
import { awsClient, awsError } from '../support/aws.js';

/**
 * The writes beyond values, deletes and labels that an approval rule holds as change requests:
 * creating a secret (with a first value), metadata and tag changes, rotation settings and
 * rotate-now, natively and over the AWS API. Each: held, not made; the requester cannot approve
 * it; approved once it applies once; denied nothing changes; the approver sees a diff of
 * metadata and never a value; the held value leaks nowhere.
 */
describe('change requests for creates, metadata, tags and rotation', () => {
  let server: RunningServer;
  const canary = `CANARY-${randomBytes(12).toString('hex')}`;
  let dataEng: { token: string; accessor: string };
  let platform: { token: string; accessor: string };
  let platform2: { token: string; accessor: string };

  const as = (token: string) => ({ server, env: { CUSTOS_TOKEN: token } });
  const root = (method: string, url: string, body?: unknown) => api(server, method, url, { token: server.token, body });
  const approve = (token: string, id: string) => api(server, 'POST', `/v1/requests/${id}/approve`, { token });
  const deny = (token: string, id: string) => api(server, 'POST', `/v1/requests/${id}/deny`, { token, body: { reason: 'not now' } });
  const show = async (id: string) => (await root('GET', `/v1/requests/${id}`)).body.change_request;
  const describeSecret = async (name: string) => (await root('GET', `/v1/secrets/${name}`)).body;
  const held = (r: { status: number; body: any; headers: Headers }, operation: string) => {
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const cr = r.body.change_request;
    assert.deepEqual([cr.state, cr.operation], ['pending', operation]);
    assert.equal(r.headers.get('location'), `/v1/requests/${cr.id}`);
    return cr;
  };
  /** Self-approval refused, then approved by a platform member: applied, and the applied event ran as the requester. */
  const approvedOnce = async (id: string, requester = dataEng) => {
    assertErrorBody(await approve(dataEng.token, id), 403, 'self_approval_denied');
    const ok = await approve(platform.token, id);
    assert.equal(ok.body.change_request.state, 'applied', JSON.stringify(ok.body));
    assertErrorBody(await approve(platform2.token, id), 409, 'change_request_closed');
    const events = (await root('GET', '/v1/audit/events?limit=300&order=desc')).body.events as any[];
    const applied = events.filter((e) => e.detail?.change_request === id && e.detail?.approved_by);
    assert.equal(applied.length, 1, 'one applied event');
    assert.deepEqual([applied[0].accessor, applied[0].outcome, applied[0].operation], [requester.accessor, 'success', ok.body.change_request.operation]);
    return ok.body.change_request;
  };

  before(async () => {
    server = await startServer({ env: { CUSTOS_TESTING_CLOCK: '1' }, logLevel: 'trace' });
    const approval = { approvers: ['group:platform'], min: 1 };
    await writePolicy(server, 'data-eng', JSON.stringify({ rules: [
      { path: 'prod/**', capabilities: ['read', 'list', 'create', 'update', 'delete', 'stage', 'rotate'], approval },
      // May change metadata with approval, but not see it: the diff must not show the current values.
      { path: 'blind/**', capabilities: ['update'], approval },
      { path: 'sys:aws-keys', capabilities: ['create'] },
    ] }));
    await writePolicy(server, 'platform-read', JSON.stringify({ rules: [{ path: 'prod/**', capabilities: ['read'] }] }));
    dataEng = await createToken(server, { policies: ['data-eng'], display_name: 'dana' });
    platform = await createToken(server, { policies: ['platform-read'], display_name: 'pat' });
    platform2 = await createToken(server, { policies: ['platform-read'], display_name: 'paula' });
    assert.equal((await root('PUT', '/v1/groups/platform', { policies: ['platform-read'] })).status, 200);
    for (const member of [platform, platform2]) assert.equal((await root('POST', '/v1/groups/platform/members', { kind: 'accessor', value: member.accessor })).status, 200);
    for (const name of ['prod/app/meta', 'prod/app/tags', 'prod/rot/db', 'prod/rot/aws', 'blind/x', 'prod/aws/upd', 'prod/aws/tags']) {
      assert.equal((await root('POST', '/v1/secrets', { name, value: 'v0', description: 'old', tags: { team: 'data', cost: 'c1' } })).status, 201);
    }
    for (const name of ['prod/rot/db', 'prod/rot/aws']) assert.equal((await root('PUT', `/v1/rotation/${name}`, { settings: { rotator: 'postgres', every_seconds: 3600 } })).status, 200);
  });
  after(async () => {
    await server.stop();
    server.cleanup();
  });

  test('create with a value: held, nothing created; approvals racing apply it once, as the requester', async () => {
    const cr = held(await api(server, 'POST', '/v1/secrets', { token: dataEng.token, body: { name: 'prod/new/one', value: `${canary}-create`, description: 'warehouse', tags: { team: 'data' } } }), 'secret.create');
    assert.match(cr.summary, /^create prod\/new\/one with a first value/);
    assert.deepEqual(cr.changes, [
      { field: 'value', to: '(new value, sealed), labels CURRENT' }, { field: 'description', from: null, to: 'warehouse' }, { field: 'tag:team', from: null, to: 'data' },
    ]);
    assertErrorBody(await root('GET', '/v1/secrets/prod/new/one'), 404, 'secret_not_found');
    assertErrorBody(await approve(dataEng.token, cr.id), 403, 'self_approval_denied');
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => approve(i % 2 ? platform.token : platform2.token, cr.id)));
    for (const r of results) assert.ok(r.status === 200 || r.body.error.code === 'change_request_closed', JSON.stringify(r.body));
    assert.ok(results.some((r) => r.body.change_request?.state === 'applied'));
    assert.equal((await root('GET', '/v1/values/prod/new/one')).body.value, `${canary}-create`);
    const described = await describeSecret('prod/new/one');
    assert.deepEqual([described.description, described.tags, described.versions.length], ['warehouse', { team: 'data' }, 1]);
    const events = (await root('GET', '/v1/audit/events?limit=300&order=desc')).body.events as any[];
    const applied = events.filter((e) => e.detail?.change_request === cr.id && e.detail?.approved_by);
    assert.deepEqual(applied.map((e) => [e.operation, e.accessor]), [['secret.create', dataEng.accessor]]);
    // A create without a value is held too; an invalid one is refused at once, nothing held.
    held(await api(server, 'POST', '/v1/secrets', { token: dataEng.token, body: { name: 'prod/new/empty' } }), 'secret.create');
    assertErrorBody(await api(server, 'POST', '/v1/secrets', { token: dataEng.token, body: { name: 'prod/new/bad', tags: { 'aws:x': 'y' } } }), 400, 'validation_failed');
  });

  test('a metadata change: the diff shows old → new; approved it applies, denied nothing changes', async () => {
    const cr = held(await api(server, 'PATCH', '/v1/secrets/prod/app/meta', { token: dataEng.token, body: { description: 'new', owner: 'platform' } }), 'secret.update');
    assert.deepEqual(cr.changes, [{ field: 'description', from: 'old', to: 'new' }, { field: 'owner', from: null, to: 'platform' }]);
    assert.equal((await describeSecret('prod/app/meta')).description, 'old');
    await approvedOnce(cr.id);
    const after = await describeSecret('prod/app/meta');
    assert.deepEqual([after.description, after.owner], ['new', 'platform']);

    const denied = held(await api(server, 'PATCH', '/v1/secrets/prod/app/meta', { token: dataEng.token, body: { description: 'denied' } }), 'secret.update');
    assert.equal((await deny(platform.token, denied.id)).body.change_request.state, 'denied');
    assertErrorBody(await approve(platform2.token, denied.id), 409, 'change_request_closed');
    assert.equal((await describeSecret('prod/app/meta')).description, 'new');
  });

  test('the diff leaves out current metadata the requester may not see', async () => {
    const cr = held(await api(server, 'PATCH', '/v1/secrets/blind/x', { token: dataEng.token, body: { description: 'n' } }), 'secret.update');
    assert.deepEqual(cr.changes, [{ field: 'description', to: 'n' }]);
  });

  test('tags and untags: held, diffed, applied once; a denied tag change changes nothing', async () => {
    const tag = held(await api(server, 'POST', '/v1/tags/prod/app/tags', { token: dataEng.token, body: { tags: { team: 'platform', env: 'prod' } } }), 'secret.tag');
    assert.deepEqual(tag.changes, [{ field: 'tag:team', from: 'data', to: 'platform' }, { field: 'tag:env', from: null, to: 'prod' }]);
    const denied = held(await api(server, 'POST', '/v1/tags/prod/app/tags', { token: dataEng.token, body: { tags: { team: 'nobody' } } }), 'secret.tag');
    assert.equal((await deny(platform2.token, denied.id)).body.change_request.state, 'denied');
    assert.deepEqual((await describeSecret('prod/app/tags')).tags, { team: 'data', cost: 'c1' });
    await approvedOnce(tag.id);
    const untag = held(await api(server, 'DELETE', '/v1/tags/prod/app/tags?keys=cost', { token: dataEng.token }), 'secret.untag');
    assert.deepEqual(untag.changes, [{ field: 'tag:cost', from: 'c1', to: null }]);
    await approvedOnce(untag.id);
    assert.deepEqual((await describeSecret('prod/app/tags')).tags, { team: 'platform', env: 'prod' });
  });

  test('rotation settings and rotate-now: held with a diff of the settings; applied once, as the requester', async () => {
    assertErrorBody(await api(server, 'PUT', '/v1/rotation/prod/rot/db', { token: dataEng.token, body: { settings: { rotator: 'nope' } } }), 400, 'validation_failed');
    const set = held(await api(server, 'PUT', '/v1/rotation/prod/rot/db', { token: dataEng.token, body: { settings: { rotator: 'postgres', every_seconds: 86400 } } }), 'rotation.configure');
    assert.deepEqual(set.changes, [{ field: 'rotation.every_seconds', from: '3600', to: '86400' }]);
    assert.equal((await root('GET', '/v1/rotation-status/prod/rot/db')).body.settings.every_seconds, 3600);
    await approvedOnce(set.id);
    assert.equal((await root('GET', '/v1/rotation-status/prod/rot/db')).body.settings.every_seconds, 86400);

    const runsBefore = (await root('GET', '/v1/rotation-history/prod/rot/db')).body.rotations.length;
    const rotate = held(await api(server, 'POST', '/v1/rotate/prod/rot/db', { token: dataEng.token }), 'rotation.rotate');
    assert.equal((await root('GET', '/v1/rotation-history/prod/rot/db')).body.rotations.length, runsBefore);
    const applied = await approvedOnce(rotate.id);
    const runs = (await root('GET', '/v1/rotation-history/prod/rot/db')).body.rotations as any[];
    assert.equal(runs.length, runsBefore + 1, 'exactly one run started');
    assert.deepEqual([runs[0].id, runs[0].requested_by], [applied.result.rotation, dataEng.accessor]);
  });

  test('denied, a request of each new kind changes nothing and cannot be approved afterwards', async () => {
    const rotationNow = async () => (await root('GET', '/v1/rotation-status/prod/rot/db')).body.settings;
    const runs = async () => (await root('GET', '/v1/rotation-history/prod/rot/db')).body.rotations.length as number;
    const before = { meta: await describeSecret('prod/app/meta'), rotation: await rotationNow(), runs: await runs() };
    const as = (method: string, url: string, body?: unknown) => api(server, method, url, { token: dataEng.token, body });
    const requests = [
      held(await as('POST', '/v1/secrets', { name: 'prod/new/denied', value: `${canary}-denied` }), 'secret.create'),
      held(await as('PATCH', '/v1/secrets/prod/app/meta', { owner: 'nobody' }), 'secret.update'),
      held(await as('POST', '/v1/tags/prod/app/meta', { tags: { denied: 'yes' } }), 'secret.tag'),
      held(await as('DELETE', '/v1/tags/prod/app/meta?keys=team'), 'secret.untag'),
      held(await as('PUT', '/v1/rotation/prod/rot/db', { settings: { rotator: 'postgres', every_seconds: 7200 } }), 'rotation.configure'),
      held(await as('POST', '/v1/rotate/prod/rot/db'), 'rotation.rotate'),
    ];
    for (const cr of requests) {
      assertErrorBody(await deny(dataEng.token, cr.id), 403, 'self_approval_denied');
      assert.equal((await deny(platform.token, cr.id)).body.change_request.state, 'denied', cr.operation);
      assertErrorBody(await approve(platform2.token, cr.id), 409, 'change_request_closed');
    }
    assertErrorBody(await root('GET', '/v1/secrets/prod/new/denied'), 404, 'secret_not_found');
    const meta = await describeSecret('prod/app/meta');
    assert.deepEqual([meta.owner, meta.tags, meta.updated_at], [before.meta.owner, before.meta.tags, before.meta.updated_at]);
    assert.deepEqual([await rotationNow(), await runs()], [before.rotation, before.runs]);
  });

  test('over the AWS API: CreateSecret, UpdateSecret with metadata, TagResource and UntagResource are held, named in the error', async () => {
    const key = await api(server, 'POST', '/v1/aws/keys', { token: dataEng.token, body: { policies: ['data-eng'] } });
    assert.equal(key.status, 201, JSON.stringify(key.body));
    const client = awsClient(server, { accessKeyId: key.body.access_key_id, secretAccessKey: key.body.secret_access_key });
    const idOf = (e: { name: string; message: string }) => {
      assert.equal(e.name, 'AccessDeniedException');
      assert.ok(!e.message.includes(canary), 'the error names the request, never the value');
      const id = /held as change request (chr_[A-Za-z0-9_-]{22})/.exec(e.message)?.[1];
      assert.ok(id, e.message);
      return id;
    };
    const create = idOf(await awsError(client.send(new CreateSecretCommand({ Name: 'prod/aws/new', SecretString: `${canary}-aws-create`, Description: 'from boto', Tags: [{ Key: 'team', Value: 'data' }] }))));
    const update = idOf(await awsError(client.send(new UpdateSecretCommand({ SecretId: 'prod/aws/upd', Description: 'upd', SecretString: `${canary}-aws-update` }))));
    const tag = idOf(await awsError(client.send(new TagResourceCommand({ SecretId: 'prod/aws/tags', Tags: [{ Key: 'env', Value: 'prod' }] }))));
    const untag = idOf(await awsError(client.send(new UntagResourceCommand({ SecretId: 'prod/aws/tags', TagKeys: ['cost'] }))));
    const deniedId = idOf(await awsError(client.send(new UpdateSecretCommand({ SecretId: 'prod/aws/upd', Description: 'never' }))));
    assert.deepEqual([(await show(create)).operation, (await show(update)).operation, (await show(tag)).operation, (await show(untag)).operation], ['secret.create', 'secret.update', 'secret.tag', 'secret.untag']);
    assert.deepEqual((await show(update)).changes, [{ field: 'value', to: '(new value, sealed), labels CURRENT' }, { field: 'description', from: 'old', to: 'upd' }]);
    assertErrorBody(await root('GET', '/v1/secrets/prod/aws/new'), 404, 'secret_not_found');
    assert.equal((await deny(platform.token, deniedId)).body.change_request.state, 'denied');
    for (const id of [create, update, tag, untag]) {
      assertErrorBody(await approve(dataEng.token, id), 403, 'self_approval_denied');
      assert.equal((await approve(platform.token, id)).body.change_request.state, 'applied', id);
    }
    assert.equal((await root('GET', '/v1/values/prod/aws/new')).body.value, `${canary}-aws-create`);
    assert.deepEqual([(await describeSecret('prod/aws/new')).description, (await describeSecret('prod/aws/new')).tags], ['from boto', { team: 'data' }]);
    assert.equal((await root('GET', '/v1/values/prod/aws/upd')).body.value, `${canary}-aws-update`);
    assert.equal((await describeSecret('prod/aws/upd')).description, 'upd');
    assert.deepEqual((await describeSecret('prod/aws/tags')).tags, { team: 'data', env: 'prod' });
  });

  test('over the AWS API: RotateSecret with RotationRules and CancelRotateSecret are held; approved, they change only the schedule', async () => {
    const key = await api(server, 'POST', '/v1/aws/keys', { token: dataEng.token, body: { policies: ['data-eng'] } });
    const client = awsClient(server, { accessKeyId: key.body.access_key_id, secretAccessKey: key.body.secret_access_key });
    const requester = { token: dataEng.token, accessor: `aws:${key.body.access_key_id}` };
    const status = async () => (await root('GET', '/v1/rotation-status/prod/rot/aws')).body.settings;
    const runs = async () => (await root('GET', '/v1/rotation-history/prod/rot/aws')).body.rotations.length as number;
    const runsBefore = await runs();
    const rules = await awsError(client.send(new RotateSecretCommand({ SecretId: 'prod/rot/aws', RotationRules: { AutomaticallyAfterDays: 7 }, RotateImmediately: false })));
    const rulesId = /held as change request (chr_[A-Za-z0-9_-]{22})/.exec(rules.message)?.[1];
    assert.ok(rulesId, rules.message);
    const cr = await show(rulesId);
    assert.deepEqual([cr.operation, cr.summary], ['rotation.schedule', 'set the rotation schedule of prod/rot/aws (every 604800 s)']);
    assert.deepEqual(cr.changes.find((c: any) => c.field === 'rotation.every_seconds'), { field: 'rotation.every_seconds', from: '3600', to: '604800' });
    assert.equal((await status()).every_seconds, 3600);
    await approvedOnce(rulesId, requester);
    assert.deepEqual([(await status()).every_seconds, (await status()).rotator, await runs()], [604800, 'postgres', runsBefore]);

    const cancel = await awsError(client.send(new CancelRotateSecretCommand({ SecretId: 'prod/rot/aws' })));
    const cancelId = /held as change request (chr_[A-Za-z0-9_-]{22})/.exec(cancel.message)![1]!;
    assert.equal((await show(cancelId)).summary, 'turn off automatic rotation of prod/rot/aws');
    await approvedOnce(cancelId, requester);
    assert.deepEqual([(await status()).every_seconds, (await status()).rotator], [undefined, 'postgres']);
    // Cancelling again changes nothing; the request still closes, once.
    const noop = await awsError(client.send(new CancelRotateSecretCommand({ SecretId: 'prod/rot/aws' })));
    await approvedOnce(/held as change request (chr_[A-Za-z0-9_-]{22})/.exec(noop.message)![1]!, requester);
  });

  const hasBoto3 = spawnSync('python3', ['-c', 'import boto3'], { stdio: 'ignore' }).status === 0;
  test('boto3: a held CreateSecret is an AccessDeniedException naming the request, also in a header', { skip: hasBoto3 || process.env.CI ? false : 'python3 boto3 is not installed' }, async () => {
    const key = await api(server, 'POST', '/v1/aws/keys', { token: dataEng.token, body: { policies: ['data-eng'] } });
    const script = [
      'import boto3, botocore, json, sys',
      'c = boto3.client("secretsmanager")',
      'try:',
      '    c.create_secret(Name="prod/boto/new", SecretString=sys.argv[1])',
      '    print(json.dumps({"created": True}))',
      'except botocore.exceptions.ClientError as e:',
      '    print(json.dumps({"code": e.response["Error"]["Code"], "message": e.response["Error"]["Message"], "header": e.response["ResponseMetadata"]["HTTPHeaders"].get("x-custos-change-request")}))',
    ].join('\n');
    const env = {
      PATH: process.env.PATH, HOME: server.home, AWS_ENDPOINT_URL: server.address, AWS_ACCESS_KEY_ID: key.body.access_key_id, AWS_SECRET_ACCESS_KEY: key.body.secret_access_key,
      AWS_DEFAULT_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true', AWS_MAX_ATTEMPTS: '1',
    };
    const run = spawnSync('python3', ['-c', script, `${canary}-boto`], { env, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const out = JSON.parse(run.stdout);
    assert.equal(out.code, 'AccessDeniedException');
    assert.match(out.header, /^chr_/);
    assert.ok(out.message.includes(out.header), out.message);
    assert.equal((await approve(platform.token, out.header)).body.change_request.state, 'applied');
    assert.equal((await root('GET', '/v1/values/prod/boto/new')).body.value, `${canary}-boto`);
  });

  test('the CLI shows the new kinds legibly: list names the operation, show prints the diff, rotation commands say held', async () => {
    const set = await runCli(['rotation', 'set', 'prod/rot/db', '--rotator', 'postgres', '--every', '2d'], as(dataEng.token));
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /^held for approval: change request (chr_\S+)/);
    const id = /change request (chr_[A-Za-z0-9_-]{22})/.exec(set.stdout)![1]!;
    const rotate = await runCli(['rotate', 'prod/rot/db'], as(dataEng.token));
    assert.match(rotate.stdout, /^held for approval: change request chr_/);
    const list = await runCli(['request', 'list', '--state', 'pending'], as(platform.token));
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /OPERATION/);
    assert.match(list.stdout, new RegExp(`${id}\\s+pending\\s+rotation\\.configure\\s+dana`));
    assert.match(list.stdout, /rotation\.rotate/);
    const shown = await runCli(['request', 'show', id], as(platform.token));
    assert.match(shown.stdout, /change: rotation\.every_seconds\s+"86400" → "172800"/);
    const meta = JSON.parse((await runCli(['request', 'list', '--json'], as(platform.token))).stdout).find((r: any) => r.resource === 'prod/app/meta' && r.state === 'applied' && r.changes.some((c: any) => c.to === 'new'));
    assert.match((await runCli(['request', 'show', meta.id], as(platform.token))).stdout, /change: description\s+"old" → "new"/);
    const ok = await runCli(['request', 'approve', id], as(platform.token));
    assert.match(ok.stdout, new RegExp(`approved ${id}: applied \\(set the rotation of prod/rot/db`));
  });

  test('held values are in no list, show, audit event, log line or database file', async () => {
    held(await api(server, 'POST', '/v1/secrets', { token: dataEng.token, body: { name: 'prod/new/pending', value: `${canary}-pending` } }), 'secret.create');
    const needles = [canary, Buffer.from(canary).toString('hex'), ...[0, 1, 2].map((pad) => Buffer.concat([Buffer.alloc(pad), Buffer.from(canary)]).toString('base64').slice(Math.ceil((pad * 4) / 3) + 1, -4))];
    const leaks = (text: string) => needles.some((n) => text.includes(n));
    // Positive control: the search finds the value as a held operation carries it before sealing.
    assert.ok(leaks(JSON.stringify({ value: { kind: 'string', base64: Buffer.from(`${canary}-pending`).toString('base64') } })));
    for (const token of [dataEng.token, platform.token, server.token]) {
      const requests = (await api(server, 'GET', '/v1/requests', { token })).body.requests as any[];
      assert.ok(requests.length > 0);
      assert.ok(!leaks(JSON.stringify(requests)));
      for (const r of requests) assert.ok(!leaks(JSON.stringify((await api(server, 'GET', `/v1/requests/${r.id}`, { token })).body)));
    }
    const cli = await runCli(['request', 'list', '--json'], as(platform.token));
    assert.ok(!leaks(cli.stdout + cli.stderr));
    assert.ok(!leaks(JSON.stringify((await root('GET', '/v1/audit/events?limit=10000')).body)));
    const files = (dir: string): string[] => readdirSync(dir).flatMap((e) => (statSync(path.join(dir, e)).isDirectory() ? files(path.join(dir, e)) : [path.join(dir, e)]));
    for (const file of files(server.dataDir)) assert.ok(!leaks(readFileSync(file).toString('latin1')), `${file} holds the canary`);
    assert.ok(!leaks(server.output()), 'the server log holds the canary');
  });

  // Last: moving the clock a day on also expires the tokens made above.
  test('a held create and a held tag change expire', async () => {
    const approver = await createToken(server, { policies: ['platform-read'], ttl: '72h', max_ttl: '72h' });
    assert.equal((await root('POST', '/v1/groups/platform/members', { kind: 'accessor', value: approver.accessor })).status, 200);
    const requester = await createToken(server, { policies: ['data-eng'], ttl: '72h', max_ttl: '72h' });
    const create = held(await api(server, 'POST', '/v1/secrets', { token: requester.token, body: { name: 'prod/new/late', value: 'late' } }), 'secret.create');
    const tag = held(await api(server, 'POST', '/v1/tags/prod/app/meta', { token: requester.token, body: { tags: { late: 'yes' } } }), 'secret.tag');
    await advanceClock(server, '25h');
    for (const id of [create.id, tag.id]) assertErrorBody(await approve(approver.token, id), 409, 'change_request_expired');
    assertErrorBody(await root('GET', '/v1/secrets/prod/new/late'), 404, 'secret_not_found');
    assert.equal((await describeSecret('prod/app/meta')).tags.late, undefined);
  });
});

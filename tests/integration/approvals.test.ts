import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { api, runCli, startServer, type RunningServer } from '../support/custos-server.js';
import { assertErrorBody, createSecret, createToken, eventually, writePolicy } from '../support/http-helpers.js';
import { advanceClock, enableMount, login, writeRole } from '../support/auth-helpers.js';
import { DeleteSecretCommand, PutSecretValueCommand, UpdateSecretCommand, UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import { awsClient, awsError } from '../support/aws.js';

/**
 * Separation of duties: a data engineer's write to prod/… is held as a change request; only
 * another person in the approver group can approve it, and it then runs exactly once, as the
 * requester. Abuse cases first: self-approval (directly, via a child token, via a second login
 * of the same role), double approval, concurrent approvals, expiry, denial and cancellation,
 * env-bound approvers, approvers outside the group, break-glass without the rule, and the
 * held value leaking anywhere.
 */
describe('change requests', () => {
  let server: RunningServer;
  const canary = `CANARY-${randomBytes(12).toString('hex')}`;
  let dataEng: { token: string; accessor: string };
  let platform: { token: string; accessor: string };
  let platform2: { token: string; accessor: string };
  let outsider: { token: string; accessor: string };
  let devApprover: { token: string; accessor: string };
  let configDir = '';

  const write = (token: string, name: string, value: string, headers?: Record<string, string>) =>
    api(server, 'POST', `/v1/values/${name}`, { token, body: { value }, headers });
  const approve = (token: string, id: string) => api(server, 'POST', `/v1/requests/${id}/approve`, { token });
  const read = async (name: string) => (await api(server, 'GET', `/v1/values/${name}`, { token: server.token })).body.value as string;
  const versions = async (name: string) => (await api(server, 'GET', `/v1/versions/${name}`, { token: server.token })).body.versions.length as number;
  const held = async (token: string, name: string, value: string): Promise<string> => {
    const r = await write(token, name, value);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(r.body.change_request.state, 'pending');
    return r.body.change_request.id as string;
  };
  const loginRole = async (role: string) => {
    const roleId = (await api(server, 'GET', `/v1/auth/approle/role/${role}/role-id`, { token: server.token })).body.role_id;
    const sid = (await api(server, 'POST', `/v1/auth/approle/role/${role}/secret-id`, { token: server.token, body: {} })).body.secret_id;
    const r = await login(server, 'approle', { role_id: roleId, secret_id: sid });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body as { token: string; accessor: string };
  };

  before(async () => {
    // Alerts evaluated often, so the break-glass alert is seen without waiting a minute.
    configDir = mkdtempSync(path.join(os.tmpdir(), 'custos-approvals-'));
    writeFileSync(path.join(configDir, 'custos.json'), JSON.stringify({ alerts: { evaluate_interval_seconds: 0.1, rules: { off_hours: { enabled: false } } } }));
    server = await startServer({ env: { CUSTOS_TESTING_CLOCK: '1' }, logLevel: 'trace', args: ['--config', path.join(configDir, 'custos.json')] });
    const approval = { approvers: ['group:platform'], min: 1 };
    await writePolicy(server, 'data-eng', JSON.stringify({ rules: [
      { path: 'prod/**', capabilities: ['read', 'create', 'update', 'delete', 'stage'], approval },
      { path: 'prod/critical/**', capabilities: ['read', 'update'], approval: { approvers: ['group:platform'], min: 2 } },
      { path: 'dev/**', capabilities: ['read', 'update'] },
      { path: 'sys:tokens', capabilities: ['create'] },
      { path: 'sys:aws-keys', capabilities: ['create'] },
    ] }));
    await writePolicy(server, 'oncall', JSON.stringify({ rules: [{ path: 'prod/**', capabilities: ['update'], approval, break_glass: true }] }));
    await writePolicy(server, 'platform-read', JSON.stringify({ rules: [{ path: 'prod/**', capabilities: ['read'] }] }));
    for (const name of ['dev/app/db', 'prod/app/db', 'prod/app/api', 'prod/app/race', 'prod/app/old', 'prod/critical/key', 'prod/app/denied']) await createSecret(server, name, 'v0');
    dataEng = await createToken(server, { policies: ['data-eng'], display_name: 'dana' });
    platform = await createToken(server, { policies: ['platform-read'], display_name: 'pat' });
    outsider = await createToken(server, { policies: ['platform-read'], display_name: 'olga' });
    devApprover = await createToken(server, { policies: ['platform-read'], env: 'dev', display_name: 'devon' });
    await enableMount(server, 'approle', 'approle');
    await writeRole(server, 'approle', 'platform', { policies: ['platform-read'] });
    await writeRole(server, 'approle', 'data', { policies: ['data-eng'] });
    assert.equal((await api(server, 'PUT', '/v1/groups/platform', { token: server.token, body: { policies: ['platform-read'] } })).status, 200);
    for (const [kind, value] of [['accessor', platform.accessor], ['accessor', devApprover.accessor], ['role', 'approle/platform']]) {
      const r = await api(server, 'POST', '/v1/groups/platform/members', { token: server.token, body: { kind, value } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    platform2 = await loginRole('platform');
  });
  after(async () => {
    await server.stop();
    server.cleanup();
    rmSync(configDir, { recursive: true, force: true });
  });

  test('a write under an approval rule is held (202), not made; writes elsewhere are unaffected', async () => {
    const r = await write(dataEng.token, 'prod/app/db', 'v1');
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const cr = r.body.change_request;
    assert.match(cr.id, /^chr_/);
    assert.equal(r.headers.get('location'), `/v1/requests/${cr.id}`);
    assert.deepEqual([cr.operation, cr.resource, cr.approvers, cr.min_approvals, cr.requester.accessor], ['secret.write', 'prod/app/db', ['group:platform'], 1, dataEng.accessor]);
    assert.equal(await read('prod/app/db'), 'v0');
    assert.equal((await write(dataEng.token, 'dev/app/db', 'dev-value')).status, 201);
    // A delete is held too; a caller without any grant is refused, not queued.
    const del = await api(server, 'DELETE', '/v1/secrets/prod/app/old', { token: dataEng.token });
    assert.equal(del.status, 202, JSON.stringify(del.body));
    assertErrorBody(await write(outsider.token, 'prod/app/db', 'x'), 403, 'permission_denied');
    // So are a label move and a metadata change (approvals-operations.test.ts covers the other kinds).
    const current = (await api(server, 'GET', '/v1/versions/prod/app/old', { token: server.token })).body.versions[0].version_id;
    const label = await api(server, 'POST', '/v1/labels/prod/app/old', { token: dataEng.token, body: { label: 'PENDING', move_to_version_id: current } });
    assert.equal(label.status, 202, JSON.stringify(label.body));
    assert.equal(label.body.change_request.operation, 'secret.label');
    const patch = await api(server, 'PATCH', '/v1/secrets/prod/app/old', { token: dataEng.token, body: { description: 'x' } });
    assert.equal(patch.status, 202, JSON.stringify(patch.body));
    assert.equal(patch.body.change_request.operation, 'secret.update');
    const approved = await approve(platform.token, label.body.change_request.id);
    assert.equal(approved.body.change_request.state, 'applied', JSON.stringify(approved.body));
    const labels = (await api(server, 'GET', '/v1/versions/prod/app/old', { token: server.token })).body.versions[0].labels;
    assert.ok(labels.includes('PENDING'));
  });

  test('self-approval is refused: the same token, a child token, a second login of the same role', async () => {
    const id = await held(dataEng.token, 'prod/app/api', 'v1');
    assertErrorBody(await approve(dataEng.token, id), 403, 'self_approval_denied');
    const child = await createToken(server, { policies: ['data-eng'] }, dataEng.token);
    assertErrorBody(await approve(child.token, id), 403, 'self_approval_denied');
    // A platform member's own request: a second login of the same role is the same person.
    await writeRole(server, 'approle', 'platform', { policies: ['platform-read', 'data-eng'] });
    const a = await loginRole('platform');
    const b = await loginRole('platform');
    const own = await held(a.token, 'prod/app/api', 'v-own');
    assertErrorBody(await approve(b.token, own), 403, 'self_approval_denied');
    await writeRole(server, 'approle', 'platform', { policies: ['platform-read'] });
    const show = await api(server, 'GET', `/v1/requests/${id}`, { token: server.token });
    assert.equal(show.body.change_request.state, 'pending');
    assert.equal(show.body.change_request.approvals.length, 0);
  });

  test('an approver without the group, and an env-bound approver outside its env, are refused', async () => {
    const id = await held(dataEng.token, 'prod/app/api', 'v2');
    assertErrorBody(await approve(outsider.token, id), 403, 'not_an_approver');
    assertErrorBody(await approve(devApprover.token, id), 403, 'environment_denied');
    assertErrorBody(await api(server, 'POST', `/v1/requests/${id}/deny`, { token: outsider.token, body: {} }), 403, 'not_an_approver');
    // Neither sees the request in its list; the group member does.
    assert.equal((await api(server, 'GET', '/v1/requests', { token: outsider.token })).body.requests.length, 0);
    assert.ok((await api(server, 'GET', '/v1/requests', { token: platform.token })).body.requests.some((r: any) => r.id === id));
    assertErrorBody(await api(server, 'GET', `/v1/requests/${id}`, { token: outsider.token }), 404, 'change_request_not_found');
  });

  test('two approvals by the same identity count once (same token, or two logins of one role)', async () => {
    const before = await versions('prod/critical/key');
    const id = await held(dataEng.token, 'prod/critical/key', 'v-critical');
    const first = await approve(platform2.token, id);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.change_request.state, 'pending');
    assert.equal((await approve(platform2.token, id)).body.change_request.approvals.length, 1);
    const sameRole = await loginRole('platform');
    const again = await approve(sameRole.token, id);
    assert.equal(again.body.change_request.approvals.length, 1, 'a second login of the same role is the same approver');
    assert.equal(again.body.change_request.state, 'pending');
    assert.equal(await versions('prod/critical/key'), before);
    const last = await approve(platform.token, id);
    assert.equal(last.body.change_request.state, 'applied', JSON.stringify(last.body));
    assert.equal(await read('prod/critical/key'), 'v-critical');
    assert.equal(await versions('prod/critical/key'), before + 1);
  });

  test('concurrent approvals apply the write exactly once', async () => {
    const before = await versions('prod/app/race');
    const id = await held(dataEng.token, 'prod/app/race', 'v-race');
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => approve(i % 2 ? platform.token : platform2.token, id)));
    const applied = results.filter((r) => r.status === 200 && r.body.change_request.state === 'applied');
    assert.ok(applied.length >= 1, JSON.stringify(results.map((r) => r.body)));
    for (const r of results) assert.ok(r.status === 200 || r.body.error.code === 'change_request_closed', JSON.stringify(r.body));
    assert.equal(await versions('prod/app/race'), before + 1);
    const events = (await api(server, 'GET', '/v1/audit/events?limit=1000&order=desc', { token: server.token })).body.events as any[];
    const writes = events.filter((e) => e.detail?.change_request === id && e.operation === 'secret.write' && e.accessor === dataEng.accessor && e.outcome === 'success');
    assert.equal(writes.length, 2, 'one held request event and one applied write event');
  });

  test('a denied or cancelled request cannot be approved', async () => {
    const denied = await held(dataEng.token, 'prod/app/denied', 'v-deny');
    const d = await api(server, 'POST', `/v1/requests/${denied}/deny`, { token: platform.token, body: { reason: 'not in a change window' } });
    assert.equal(d.body.change_request.state, 'denied', JSON.stringify(d.body));
    assertErrorBody(await approve(platform2.token, denied), 409, 'change_request_closed');

    const cancelled = await held(dataEng.token, 'prod/app/denied', 'v-cancel');
    assertErrorBody(await api(server, 'POST', `/v1/requests/${cancelled}/cancel`, { token: platform.token, body: {} }), 403, 'permission_denied');
    assert.equal((await api(server, 'POST', `/v1/requests/${cancelled}/cancel`, { token: dataEng.token, body: {} })).body.change_request.state, 'cancelled');
    assertErrorBody(await approve(platform.token, cancelled), 409, 'change_request_closed');
    assert.equal(await read('prod/app/denied'), 'v0');
  });

  test('break-glass: refused without the rule; with it, the write happens, audited with an alert', async () => {
    assertErrorBody(await write(dataEng.token, 'prod/app/api', 'bg', { 'x-custos-break-glass': 'INC-1 outage' }), 403, 'break_glass_not_allowed');
    const oncall = await createToken(server, { policies: ['oncall', 'platform-read'], display_name: 'oscar' });
    const held2 = await write(oncall.token, 'prod/app/api', 'bg-held');
    assert.equal(held2.status, 202, 'without a reason the oncall write is held like any other');
    const r = await write(oncall.token, 'prod/app/api', 'bg-value', { 'x-custos-break-glass': 'INC-42 database down' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(await read('prod/app/api'), 'bg-value');
    const events = (await api(server, 'GET', '/v1/audit/events?limit=50&order=desc', { token: server.token })).body.events as any[];
    const event = events.find((e) => e.request_id === r.headers.get('x-request-id'));
    assert.equal(event.detail.alert, 'break_glass');
    assert.equal(event.detail.break_glass_reason, 'INC-42 database down');
    assert.equal(event.accessor, oncall.accessor);
    // The alerts engine raises a critical integrity alert for it, naming the principal and secret.
    let alert: any;
    await eventually('the break-glass alert fires', async () => {
      const alerts = (await api(server, 'GET', '/v1/alerts?rule=integrity', { token: server.token })).body.alerts as any[];
      alert = alerts.find((a) => a.facts.kind === 'break_glass');
      return alert !== undefined;
    });
    assert.deepEqual([alert.severity, alert.principal, alert.secret], ['critical', oncall.accessor, 'prod/app/api']);
  });

  test('end to end through the CLI: held, self-approval refused, approved once, applied as the requester', async () => {
    const as = (token: string) => ({ server, env: { CUSTOS_TOKEN: token } });
    const put = await runCli(['secret', 'put', 'prod/app/db', '--value', canary, '--json'], as(dataEng.token));
    assert.equal(put.code, 0, put.stderr);
    const id = JSON.parse(put.stdout).change_request.id as string;
    const text = await runCli(['secret', 'put', 'prod/app/db', '--value', `${canary}-2`], as(dataEng.token));
    assert.match(text.stdout, /^held for approval: change request chr_/);
    const self = await runCli(['request', 'approve', id], as(dataEng.token));
    assert.equal(self.code, 1);
    assert.match(self.stderr, /^error: self_approval_denied: /);
    const list = await runCli(['request', 'list', '--state', 'pending', '--json'], as(platform.token));
    assert.equal(list.code, 0, list.stderr);
    assert.ok((JSON.parse(list.stdout) as any[]).some((r) => r.id === id));
    const shown = await runCli(['request', 'show', id], as(platform.token));
    assert.match(shown.stdout, /write a new version of prod\/app\/db/);
    const ok = await runCli(['request', 'approve', id, '--json'], as(platform.token));
    assert.equal(ok.code, 0, ok.stderr);
    const applied = JSON.parse(ok.stdout);
    assert.equal(applied.state, 'applied');
    assert.equal(await read('prod/app/db'), canary);
    const twice = await runCli(['request', 'approve', id], as(platform2.token));
    assert.match(twice.stderr, /^error: change_request_closed: /);
    const events = (await api(server, 'GET', '/v1/audit/events?limit=200&order=desc', { token: server.token })).body.events as any[];
    const appliedEvent = events.find((e) => e.detail?.change_request === id && e.detail?.approved_by);
    assert.equal(appliedEvent.accessor, dataEng.accessor, 'the write ran as the requester');
    assert.equal(appliedEvent.detail.approved_by, platform.accessor);
    assert.equal(appliedEvent.version_id, applied.result.version_id);
    const other = JSON.parse((await runCli(['request', 'list', '--json'], as(dataEng.token))).stdout).find((r: any) => r.state === 'pending' && r.resource === 'prod/app/db');
    const cancel = await runCli(['request', 'cancel', other.id, '--json'], as(dataEng.token));
    assert.equal(JSON.parse(cancel.stdout).state, 'cancelled');
    const deny = await runCli(['request', 'deny', 'chr_AAAAAAAAAAAAAAAAAAAAAA', '--json'], as(platform.token));
    assert.match(deny.stderr, /^error: change_request_not_found: /);
  });

  test('over the AWS API a held write is AccessDenied naming the request; its key counts as the token that made it', async () => {
    const key = await api(server, 'POST', '/v1/aws/keys', { token: dataEng.token, body: { policies: ['data-eng'] } });
    assert.equal(key.status, 201, JSON.stringify(key.body));
    const client = awsClient(server, { accessKeyId: key.body.access_key_id, secretAccessKey: key.body.secret_access_key });
    const refused = await awsError(client.send(new PutSecretValueCommand({ SecretId: 'prod/app/race', SecretString: `${canary}-aws` })));
    assert.equal(refused.name, 'AccessDeniedException');
    const id = /change request (chr_[A-Za-z0-9_-]{22})/.exec(refused.message)?.[1];
    assert.ok(id, refused.message);
    const del = await awsError(client.send(new DeleteSecretCommand({ SecretId: 'prod/app/race' })));
    assert.match(del.message, /held as change request chr_/);
    assert.match((await awsError(client.send(new UpdateSecretCommand({ SecretId: 'prod/app/race', SecretString: `${canary}-upd` })))).message, /held as change request chr_/);
    const current = (await api(server, 'GET', '/v1/versions/prod/app/race', { token: server.token })).body.versions[0].version_id;
    assert.match((await awsError(client.send(new UpdateSecretVersionStageCommand({ SecretId: 'prod/app/race', VersionStage: 'AWSPENDING', MoveToVersionId: current })))).message, /held as change request chr_/);
    // With metadata as well, UpdateSecret is held as one update.
    const mixed = await awsError(client.send(new UpdateSecretCommand({ SecretId: 'prod/app/race', Description: 'x', SecretString: 'y' })));
    assert.equal(mixed.name, 'AccessDeniedException');
    assert.match(mixed.message, /held as change request chr_/);
    const shown = await api(server, 'GET', `/v1/requests/${id}`, { token: dataEng.token });
    assert.equal(shown.body.change_request.requester.accessor, `aws:${key.body.access_key_id}`);
    assertErrorBody(await approve(dataEng.token, id!), 403, 'self_approval_denied');
    const ok = await approve(platform.token, id!);
    assert.equal(ok.body.change_request.state, 'applied', JSON.stringify(ok.body));
    assert.equal(await read('prod/app/race'), `${canary}-aws`);
    const events = (await api(server, 'GET', '/v1/audit/events?limit=100&order=desc', { token: server.token })).body.events as any[];
    const writes = events.filter((e) => e.detail?.change_request === id && !e.operation.startsWith('request.'));
    assert.deepEqual(writes.map((e) => [e.outcome, e.error_code, e.accessor]).sort(), [
      ['denied', 'approval_pending', `aws:${key.body.access_key_id}`], ['success', null, `aws:${key.body.access_key_id}`],
    ], 'one refused AWS call, one applied write, both as the key');
  });

  test('the held value is in no list, show, audit event, log line or database file', async () => {
    const id = await held(dataEng.token, 'prod/app/api', `${canary}-pending`);
    // The value as text, hex, and base64 at each alignment it could have inside a longer blob.
    const needles = [canary, Buffer.from(canary).toString('hex'), ...[0, 1, 2].map((pad) => Buffer.concat([Buffer.alloc(pad), Buffer.from(canary)]).toString('base64').slice(Math.ceil((pad * 4) / 3) + 1, -4))];
    const leaks = (text: string) => needles.some((n) => text.includes(n));
    // Positive control: the search finds the value as the held operation holds it before sealing.
    assert.ok(leaks(JSON.stringify({ value: { kind: 'string', base64: Buffer.from(`${canary}-pending`).toString('base64') } })));
    for (const token of [dataEng.token, platform.token, server.token]) {
      assert.ok(!leaks(JSON.stringify((await api(server, 'GET', '/v1/requests', { token })).body)));
      assert.ok(!leaks(JSON.stringify((await api(server, 'GET', `/v1/requests/${id}`, { token })).body)));
    }
    assert.ok(!leaks(JSON.stringify((await api(server, 'GET', '/v1/audit/events?limit=10000', { token: server.token })).body)));
    const files = (dir: string): string[] => readdirSync(dir).flatMap((e) => (statSync(path.join(dir, e)).isDirectory() ? files(path.join(dir, e)) : [path.join(dir, e)]));
    for (const file of files(server.dataDir)) assert.ok(!leaks(readFileSync(file).toString('latin1')), `${file} holds the canary`);
    assert.ok(!leaks(server.output()), 'the server log holds the canary');
  });

  test('a requester revoked meanwhile is withdrawn: the approved request fails and nothing is written', async () => {
    const requester = await createToken(server, { policies: ['data-eng'] });
    const id = await held(requester.token, 'prod/app/denied', 'v-revoked');
    assert.equal((await api(server, 'POST', '/v1/tokens/revoke', { token: server.token, body: { accessor: requester.accessor } })).status, 200);
    const r = await approve(platform.token, id);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual([r.body.change_request.state, r.body.change_request.error_code], ['failed', 'token_revoked']);
    assert.equal(await read('prod/app/denied'), 'v0');
  });

  // Last: moving the clock a day on also expires the tokens made above.
  test('an expired request cannot be approved', async () => {
    const approver = await createToken(server, { policies: ['platform-read'], ttl: '72h', max_ttl: '72h' });
    assert.equal((await api(server, 'POST', '/v1/groups/platform/members', { token: server.token, body: { kind: 'accessor', value: approver.accessor } })).status, 200);
    const requester = await createToken(server, { policies: ['data-eng'], ttl: '72h', max_ttl: '72h' });
    const expiring = await held(requester.token, 'prod/app/api', 'v-exp');
    await advanceClock(server, '25h');
    assertErrorBody(await approve(approver.token, expiring), 409, 'change_request_expired');
    assert.equal((await api(server, 'GET', `/v1/requests/${expiring}`, { token: requester.token })).body.change_request.state, 'expired');
    assert.equal(await read('prod/app/api'), 'bg-value');
  });
});

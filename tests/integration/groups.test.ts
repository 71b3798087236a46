import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, runCli, startServer, type RunningServer } from '../support/custos-server.js';
import { assertErrorBody, createSecret, createToken, eventually, writePolicy } from '../support/http-helpers.js';
import { enableMount, login, writeRole } from '../support/auth-helpers.js';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { awsClient, awsError, createAwsKey } from '../support/aws.js';

/** Groups: effective policies are a token's own plus its groups'; no self-promotion; env binding still first. */
describe('groups', () => {
  let server: RunningServer;
  const loginAs = async (role: string) => {
    const roleId = (await api(server, 'GET', `/v1/auth/approle/role/${role}/role-id`, { token: server.token })).body.role_id;
    const sid = (await api(server, 'POST', `/v1/auth/approle/role/${role}/secret-id`, { token: server.token, body: {} })).body.secret_id;
    const r = await login(server, 'approle', { role_id: roleId, secret_id: sid });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body as { token: string; accessor: string };
  };
  const readProd = (token: string) => api(server, 'GET', '/v1/values/prod/app/db', { token });

  before(async () => {
    server = await startServer();
    await writePolicy(server, 'prod-read', JSON.stringify({ rules: [{ path: 'prod/**', capabilities: ['read'] }] }));
    await writePolicy(server, 'dev-read', JSON.stringify({ rules: [{ path: 'dev/**', capabilities: ['read'] }] }));
    await writePolicy(server, 'group-admin', JSON.stringify({ rules: [{ path: 'sys:groups/**', capabilities: ['read', 'update', 'delete'] }] }));
    await createSecret(server, 'prod/app/db', 'prod-value');
    await enableMount(server, 'approle', 'approle');
    await writeRole(server, 'approle', 'etl', { policies: ['dev-read'] });
    await writeRole(server, 'approle', 'etl-dev', { policies: ['dev-read'], env: 'dev' });
  });
  after(async () => {
    await server.stop();
    server.cleanup();
  });

  test('a role member gets the group\'s policies on every token it logs in with; removal takes them away', async () => {
    const before = await loginAs('etl');
    assertErrorBody(await readProd(before.token), 403, 'permission_denied');
    const created = await api(server, 'PUT', '/v1/groups/platform', { token: server.token, body: { policies: ['prod-read'], description: 'platform team' } });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const added = await api(server, 'POST', '/v1/groups/platform/members', { token: server.token, body: { kind: 'role', value: 'approle/etl' } });
    assert.equal(added.status, 200, JSON.stringify(added.body));
    await eventually('the group applies to the existing token', async () => (await readProd(before.token)).status === 200);
    const after = await loginAs('etl');
    assert.equal((await readProd(after.token)).body.value, 'prod-value');
    const self = await api(server, 'GET', '/v1/tokens/self', { token: after.token });
    assert.deepEqual(self.body.policies, ['dev-read'], 'the token\'s own policies are unchanged');
    // A child of a group member cannot be handed the group's policy.
    await writePolicy(server, 'tokens', JSON.stringify({ rules: [{ path: 'sys:tokens', capabilities: ['create'] }] }));
    await api(server, 'PUT', '/v1/groups/token-makers', { token: server.token, body: { policies: ['tokens'] } });
    await api(server, 'POST', '/v1/groups/token-makers/members', { token: server.token, body: { kind: 'role', value: 'approle/etl' } });
    await eventually('token-makers applies', async () => (await api(server, 'POST', '/v1/tokens', { token: after.token, body: { policies: ['dev-read'] } })).status === 201);
    assertErrorBody(await api(server, 'POST', '/v1/tokens', { token: after.token, body: { policies: ['prod-read'] } }), 403, 'permission_denied');
    const removed = await api(server, 'POST', '/v1/groups/platform/members/remove', { token: server.token, body: { kind: 'role', value: 'approle/etl' } });
    assert.equal(removed.status, 200);
    await eventually('removal applies', async () => (await readProd(after.token)).status === 403);
  });

  test('an accessor member; an env-bound member still never reaches prod', async () => {
    const t = await createToken(server, { policies: ['dev-read'] });
    await api(server, 'PUT', '/v1/groups/oncall', { token: server.token, body: { policies: ['prod-read'] } });
    await api(server, 'POST', '/v1/groups/oncall/members', { token: server.token, body: { kind: 'accessor', value: t.accessor } });
    await eventually('accessor member', async () => (await readProd(t.token)).status === 200);
    const bound = await loginAs('etl-dev');
    await api(server, 'POST', '/v1/groups/oncall/members', { token: server.token, body: { kind: 'role', value: 'approle/etl-dev' } });
    // Group changes drop the group cache at once on this node, so the membership is in force here.
    assertErrorBody(await readProd(bound.token), 403, 'environment_denied');
  });

  test('no self-promotion: shaping a group or its members needs every policy it grants; bad input is refused', async () => {
    const admin = await createToken(server, { policies: ['group-admin', 'dev-read'] });
    assertErrorBody(await api(server, 'PUT', '/v1/groups/mine', { token: admin.token, body: { policies: ['prod-read'] } }), 403, 'permission_denied');
    assertErrorBody(await api(server, 'POST', '/v1/groups/oncall/members', { token: admin.token, body: { kind: 'accessor', value: admin.accessor } }), 403, 'permission_denied');
    assertErrorBody(await api(server, 'DELETE', '/v1/groups/oncall', { token: admin.token }), 403, 'permission_denied');
    const own = await api(server, 'PUT', '/v1/groups/devs', { token: admin.token, body: { policies: ['dev-read'] } });
    assert.equal(own.status, 200, JSON.stringify(own.body));
    assertErrorBody(await api(server, 'PUT', '/v1/groups/rooty', { token: server.token, body: { policies: ['root'] } }), 400, 'invalid_policy');
    assertErrorBody(await api(server, 'POST', '/v1/groups/devs/members', { token: server.token, body: { kind: 'role', value: 'no-slash' } }), 400, 'validation_failed');
    assertErrorBody(await api(server, 'GET', '/v1/groups/none', { token: server.token }), 404, 'group_not_found');
    const bound = await createToken(server, { policies: ['group-admin', 'dev-read'], env: 'dev' });
    assertErrorBody(await api(server, 'PUT', '/v1/groups/x', { token: bound.token, body: { policies: ['dev-read'] } }), 403, 'environment_denied');
    const reader = await createToken(server, { policies: ['dev-read'] });
    assertErrorBody(await api(server, 'GET', '/v1/groups', { token: reader.token }), 403, 'permission_denied');
  });

  test('AWS API: an access key in the group of an AppRole role gets the same least privilege; an env-bound key never reaches prod', async () => {
    await api(server, 'PUT', '/v1/groups/airflow-workers', { token: server.token, body: { policies: ['prod-read'] } });
    await api(server, 'POST', '/v1/groups/airflow-workers/members', { token: server.token, body: { kind: 'role', value: 'approle/etl' } });
    const key = await createAwsKey(server, ['dev-read']);
    const sm = awsClient(server, key);
    assert.equal((await awsError(sm.send(new GetSecretValueCommand({ SecretId: 'prod/app/db' })))).name, 'AccessDeniedException');
    const added = await runCli(['group', 'add-member', 'airflow-workers', '--aws-key', key.accessKeyId], { server });
    assert.equal(added.code, 0, added.stderr);
    await eventually('the key gets the group', async () => {
      try {
        return (await sm.send(new GetSecretValueCommand({ SecretId: 'prod/app/db' }))).SecretString === 'prod-value';
      } catch {
        return false;
      }
    });
    const boundKey = await createAwsKey(server, ['dev-read'], 'dev');
    await api(server, 'POST', '/v1/groups/airflow-workers/members', { token: server.token, body: { kind: 'aws_key', value: boundKey.accessKeyId } });
    const bound = awsClient(server, boundKey);
    assert.equal((await awsError(bound.send(new GetSecretValueCommand({ SecretId: 'prod/app/db' })))).name, 'AccessDeniedException');
    await api(server, 'POST', '/v1/groups/airflow-workers/members/remove', { token: server.token, body: { kind: 'aws_key', value: key.accessKeyId } });
    assert.equal((await awsError(sm.send(new GetSecretValueCommand({ SecretId: 'prod/app/db' })))).name, 'AccessDeniedException');
    sm.destroy();
    bound.destroy();
  });

  test('CLI: group create/read/list/add-member/remove-member/delete', async () => {
    const cli = (args: string[]) => runCli(args, { server });
    assert.equal((await cli(['group', 'create', 'analysts', '--policy', 'dev-read'])).code, 0);
    const added = await cli(['group', 'add-member', 'analysts', '--role', 'approle/etl', '--json']);
    assert.equal(added.code, 0, added.stderr);
    assert.deepEqual(JSON.parse(added.stdout).members.map((m: any) => m.value), ['approle/etl']);
    assert.match((await cli(['group', 'list'])).stdout, /analysts/);
    assert.match((await cli(['group', 'read', 'analysts'])).stdout, /approle\/etl/);
    assert.equal((await cli(['group', 'remove-member', 'analysts', '--role', 'approle/etl'])).code, 0);
    assert.notEqual((await cli(['group', 'add-member', 'analysts'])).code, 0);
    assert.equal((await cli(['group', 'delete', 'analysts'])).code, 0);
    assert.match((await cli(['group', 'read', 'analysts'])).stderr, /group_not_found/);
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { sharedDatabaseForNodes } from '../support/shared-database.js';
import { api, startServer } from '../support/custos-server.js';
import { ReplicateSecretToRegionsCommand } from '@aws-sdk/client-secrets-manager';
import { awsClient, awsError } from '../support/aws.js';

/**
 * Change requests on PostgreSQL, where writers really run at once: approvals racing on two
 * nodes apply a held write exactly once (the request row is locked while approvals are counted,
 * and the write commits with approved → applied), and the held value is only ever ciphertext.
 */
test('concurrent approvals on two PostgreSQL nodes apply a held write exactly once', { timeout: 180_000 }, async (t) => {
  const { database, servers, inspector } = await sharedDatabaseForNodes(t);
  const env = { CUSTOS_STORAGE_PASSWORD: database.password };
  const a = await startServer({ dev: false, args: ['--storage', database.url], env: { ...env, CUSTOS_NODE_ID: 'node-a' } });
  servers.push(a);
  const init = await api(a, 'POST', '/v1/sys/init', { body: { shares: 1, threshold: 1 } });
  const root: string = init.body.root_token;
  await api(a, 'POST', '/v1/sys/unseal', { body: { key: init.body.keys[0] } });
  const b = await startServer({ dev: false, args: ['--storage', database.url], env: { ...env, CUSTOS_NODE_ID: 'node-b', CUSTOS_UNSEAL_KEY: init.body.keys[0] } });
  servers.push(b);
  await inspector.connect();
  const call = async (node: typeof a, method: string, path: string, token: string, body?: unknown) => api(node, method, path, { token, body });
  const ok = async (r: Promise<{ status: number; body: any }>, status = 200) => {
    const res = await r;
    assert.equal(res.status, status, JSON.stringify(res.body));
    return res.body;
  };

  const approval = { approvers: ['group:platform'], min: 1 };
  await ok(call(a, 'PUT', '/v1/policies/data-eng', root, { document: JSON.stringify({ rules: [{ path: 'prod/**', capabilities: ['read', 'create', 'update'], approval }] }) }));
  await ok(call(a, 'PUT', '/v1/policies/reader', root, { document: JSON.stringify({ rules: [{ path: 'prod/**', capabilities: ['read'] }] }) }));
  await ok(call(a, 'POST', '/v1/secrets', root, { name: 'prod/pg/db', value: 'v0' }), 201);
  const dataEng = await ok(call(a, 'POST', '/v1/tokens', root, { policies: ['data-eng'] }), 201);
  await ok(call(a, 'PUT', '/v1/groups/platform', root, { policies: ['reader'] }));
  const approvers = [];
  for (let i = 0; i < 4; i++) {
    const token = await ok(call(a, 'POST', '/v1/tokens', root, { policies: ['reader'] }), 201);
    await ok(call(a, 'POST', '/v1/groups/platform/members', root, { kind: 'accessor', value: token.accessor }));
    approvers.push(token.token as string);
  }

  const canary = `pg-approval-${randomBytes(8).toString('hex')}`;
  for (let round = 0; round < 3; round++) {
    const held = await ok(call(round % 2 ? b : a, 'POST', '/v1/values/prod/pg/db', dataEng.token, { value: `${canary}-${round}` }), 202);
    const id = held.change_request.id as string;
    const pending = await inspector.query('SELECT payload FROM change_requests WHERE id = $1', [id]);
    assert.ok(pending.rows[0].payload.length > 0 && !pending.rows[0].payload.includes(Buffer.from(canary)), 'the held value is stored sealed');
    const before = (await ok(call(a, 'GET', '/v1/versions/prod/pg/db', root))).versions.length;
    const results = await Promise.all(approvers.flatMap((token) => [a, b].map((node) => call(node, 'POST', `/v1/requests/${id}/approve`, token))));
    for (const r of results) assert.ok(r.status === 200 || r.body.error.code === 'change_request_closed', JSON.stringify(r.body));
    assert.equal((await ok(call(b, 'GET', '/v1/versions/prod/pg/db', root))).versions.length, before + 1, `round ${round}: exactly one new version`);
    const row = await inspector.query('SELECT state, payload FROM change_requests WHERE id = $1', [id]);
    assert.deepEqual([row.rows[0].state, row.rows[0].payload], ['applied', null]);
    assert.equal((await ok(call(b, 'GET', '/v1/values/prod/pg/db', root))).value, `${canary}-${round}`);
  }
  const applied = await inspector.query("SELECT count(*)::int AS n FROM audit_events WHERE detail LIKE '%approved_by%'");
  assert.equal(applied.rows[0].n, 3, 'one applied-write audit event per request');

  // A held create (with a value) and a held metadata change race the same way.
  const create = (await ok(call(b, 'POST', '/v1/secrets', dataEng.token, { name: 'prod/pg/new', value: `${canary}-create`, description: 'made' }), 202)).change_request.id as string;
  const patch = (await ok(call(a, 'PATCH', '/v1/secrets/prod/pg/db', dataEng.token, { description: 'patched' }), 202)).change_request.id as string;
  const sealed = await inspector.query('SELECT payload FROM change_requests WHERE id = $1', [create]);
  assert.ok(!sealed.rows[0].payload.includes(Buffer.from(canary)), 'the held create value is stored sealed');
  for (const id of [create, patch]) {
    const results = await Promise.all(approvers.flatMap((token) => [a, b].map((node) => call(node, 'POST', `/v1/requests/${id}/approve`, token))));
    for (const r of results) assert.ok(r.status === 200 || r.body.error.code === 'change_request_closed', JSON.stringify(r.body));
    const events = await inspector.query("SELECT count(*)::int AS n FROM audit_events WHERE detail LIKE '%approved_by%' AND detail LIKE $1", [`%${id}%`]);
    assert.equal(events.rows[0].n, 1, `${id}: applied exactly once`);
  }
  assert.equal((await ok(call(a, 'GET', '/v1/values/prod/pg/new', root))).value, `${canary}-create`);
  assert.equal((await ok(call(b, 'GET', '/v1/versions/prod/pg/new', root))).versions.length, 1);
  assert.equal((await ok(call(b, 'GET', '/v1/secrets/prod/pg/db', root))).description, 'patched');

  // A held restore and a held replication (over the AWS API) race the same way; a replication
  // whose region gained a replica meanwhile fails once, replicating nothing.
  await ok(call(a, 'PUT', '/v1/policies/data-eng', root, { document: JSON.stringify({ rules: [
    { path: 'prod/**', capabilities: ['read', 'create', 'update', 'delete'], approval }, { path: 'sys:aws-keys', capabilities: ['create'] },
  ] }) }));
  await ok(call(a, 'DELETE', '/v1/secrets/prod/pg/new?recovery_days=7', root));
  // On the node the policy was written on: the other learns of it by NOTIFY, a moment later.
  const restore = (await ok(call(a, 'POST', '/v1/restore/prod/pg/new', dataEng.token), 202)).change_request.id as string;
  const key = await ok(call(a, 'POST', '/v1/aws/keys', dataEng.token, { policies: ['data-eng'] }), 201);
  const client = awsClient(a, { accessKeyId: key.access_key_id, secretAccessKey: key.secret_access_key });
  const heldId = async (promise: Promise<unknown>) => /held as change request (chr_[A-Za-z0-9_-]{22})/.exec((await awsError(promise)).message)![1]!;
  const replicate = await heldId(client.send(new ReplicateSecretToRegionsCommand({ SecretId: 'prod/pg/db', AddReplicaRegions: [{ Region: 'eu-west-1' }] })));
  const stale = await heldId(client.send(new ReplicateSecretToRegionsCommand({ SecretId: 'prod/pg/db', AddReplicaRegions: [{ Region: 'eu-north-1' }, { Region: 'ap-south-1' }] })));
  const rootKey = await ok(call(a, 'POST', '/v1/aws/keys', root, { policies: ['root'] }), 201);
  await awsClient(b, { accessKeyId: rootKey.access_key_id, secretAccessKey: rootKey.secret_access_key }).send(new ReplicateSecretToRegionsCommand({ SecretId: 'prod/pg/db', AddReplicaRegions: [{ Region: 'eu-north-1' }] }));
  for (const id of [restore, replicate, stale]) {
    const results = await Promise.all(approvers.flatMap((token) => [a, b].map((node) => call(node, 'POST', `/v1/requests/${id}/approve`, token))));
    for (const r of results) assert.ok(r.status === 200 || r.body.error.code === 'change_request_closed', JSON.stringify(r.body));
    const events = await inspector.query("SELECT outcome, error_code FROM audit_events WHERE detail LIKE '%approved_by%' AND detail LIKE $1", [`%${id}%`]);
    assert.deepEqual(events.rows.map((e) => [e.outcome, e.error_code]), id === stale ? [['failure', 'replication_conflict']] : [['success', null]], `${id}: applied (or failed) exactly once`);
  }
  assert.equal((await ok(call(a, 'GET', '/v1/values/prod/pg/new', root))).value, `${canary}-create`);
  const replicas = await inspector.query("SELECT region FROM secrets WHERE name = 'prod/pg/db' AND primary_region IS NOT NULL ORDER BY region");
  assert.deepEqual(replicas.rows.map((r) => r.region), ['eu-north-1', 'eu-west-1']);
});

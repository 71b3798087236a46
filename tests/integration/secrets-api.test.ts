import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { api, startServer, type RunningServer } from '../support/custos-server.js';
import { assertErrorBody, auditAfter, auditHead, createSecret, createToken, describeSecret, idempotencyToken, putValue, uniqueName, writePolicy } from '../support/http-helpers.js';

/** The native secrets API against the real server (dev mode, real SQLite files, ephemeral port). */
describe('secrets HTTP API', () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.stop();
    server.cleanup();
  });

  test('health needs no token and reports initialized, unsealed and the version', async () => {
    const r = await api(server, 'GET', '/v1/health');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { initialized: true, sealed: false, version: '0.1.0' });
  });

  test('dev mode prints the root token once and keeps it and the unseal key in private files', () => {
    assert.match(server.output(), /Root token: cst_/);
    assert.match(server.output(), /WARNING: dev mode keeps the unseal key/);
    const tokenFile = path.join(server.home, '.custos', 'token');
    assert.equal(readFileSync(tokenFile, 'utf8').trim(), server.token);
    for (const file of [tokenFile, path.join(server.dataDir, 'unseal.key')]) {
      assert.equal(statSync(file).mode & 0o777, 0o600, `${file} is 0600`);
    }
    assert.equal(statSync(path.join(server.dataDir, 'custos.db')).isFile(), true, 'real SQLite file in the data dir');
  });

  test('the OpenAPI document is served and describes the routes', async () => {
    const r = await api(server, 'GET', '/v1/openapi.json');
    assert.equal(r.status, 200);
    assert.match(r.body.openapi, /^3\./);
    for (const path of ['/v1/secrets', '/v1/values/{*}', '/v1/tokens', '/v1/policies/{name}', '/v1/audit/events', '/v1/health']) {
      assert.ok(r.body.paths[path], `OpenAPI lists ${path}`);
    }
  });

  test('create, get, describe, update, list', async () => {
    const name = uniqueName('dev/api');
    const created = await api(server, 'POST', '/v1/secrets', {
      token: server.token, body: { name, value: 'v1', description: 'warehouse', owner: 'data-eng', tags: { team: 'analytics' } },
    });
    assert.equal(created.status, 201);
    assert.equal(created.body.name, name);
    assert.match(created.body.arn, new RegExp(`^arn:aws:secretsmanager:us-east-1:\\d{12}:secret:${name}-[A-Za-z0-9]{6}$`));
    assert.match(created.body.version_id, /^[0-9a-f-]{36}$/);

    const got = await api(server, 'GET', `/v1/values/${name}`, { token: server.token });
    assert.equal(got.status, 200);
    assert.equal(got.body.value, 'v1');
    assert.deepEqual(got.body.labels, ['CURRENT']);
    assert.equal(got.body.version_id, created.body.version_id);

    const d = await describeSecret(server, name);
    assert.equal(d.description, 'warehouse');
    assert.equal(d.owner, 'data-eng');
    assert.deepEqual(d.tags, { team: 'analytics' });
    assert.equal(d.versions.length, 1);
    assert.ok(d.created_at && d.updated_at);

    const patched = await api(server, 'PATCH', `/v1/secrets/${name}`, { token: server.token, body: { description: 'changed', owner: null } });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.description, 'changed');
    assert.equal(patched.body.owner, null);

    const dup = await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name, value: 'x' } });
    assertErrorBody(dup, 409, 'secret_exists');

    const listed = await api(server, 'GET', '/v1/secrets?prefix=dev/api/', { token: server.token });
    assert.equal(listed.status, 200);
    assert.ok(listed.body.secrets.some((s: { name: string }) => s.name === name));
    assert.ok(listed.body.secrets.every((s: { name: string }) => s.name.startsWith('dev/api/')));
  });

  test('a secret without a value has no CURRENT until its first put, which is CURRENT even if only PENDING was asked for', async () => {
    const name = uniqueName();
    const created = await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name } });
    assert.equal(created.status, 201);
    assert.equal(created.body.version_id, null);
    assertErrorBody(await api(server, 'GET', `/v1/values/${name}`, { token: server.token }), 404, 'version_not_found');
    const first = await putValue(server, name, { value: 'first', labels: ['PENDING'] });
    assert.equal(first.status, 201);
    assert.deepEqual([...first.body.labels].sort(), ['CURRENT', 'PENDING']);
    const got = await api(server, 'GET', `/v1/values/${name}`, { token: server.token });
    assert.equal(got.body.value, 'first');
  });

  test('PUT with only PENDING keeps CURRENT; moving CURRENT demotes the old version to PREVIOUS', async () => {
    const name = uniqueName();
    const v1 = await createSecret(server, name, 'one');
    const pending = await putValue(server, name, { value: 'two', labels: ['PENDING'] });
    assert.equal(pending.status, 201);
    assert.deepEqual(pending.body.labels, ['PENDING']);
    const v2 = pending.body.version_id as string;

    assert.equal((await api(server, 'GET', `/v1/values/${name}`, { token: server.token })).body.value, 'one');
    assert.equal((await api(server, 'GET', `/v1/values/${name}?label=PENDING`, { token: server.token })).body.value, 'two');

    // Moving CURRENT off v1 must name v1.
    assertErrorBody(await api(server, 'POST', `/v1/labels/${name}`, { token: server.token, body: { label: 'CURRENT', move_to_version_id: v2 } }), 409, 'label_conflict');
    const moved = await api(server, 'POST', `/v1/labels/${name}`, { token: server.token, body: { label: 'CURRENT', move_to_version_id: v2, remove_from_version_id: v1 } });
    assert.equal(moved.status, 200);
    const d = await describeSecret(server, name);
    const labelsOf = (id: string) => [...d.versions.find((v) => v.version_id === id)!.labels].sort();
    assert.deepEqual(labelsOf(v1), ['PREVIOUS']);
    assert.deepEqual(labelsOf(v2), ['CURRENT', 'PENDING']);

    // Removing PENDING, and refusing to remove CURRENT.
    assert.equal((await api(server, 'POST', `/v1/labels/${name}`, { token: server.token, body: { label: 'PENDING', remove_from_version_id: v2 } })).status, 200);
    assertErrorBody(await api(server, 'POST', `/v1/labels/${name}`, { token: server.token, body: { label: 'CURRENT', remove_from_version_id: v2 } }), 409, 'label_conflict');
    // A plain put makes a new CURRENT and the old one PREVIOUS.
    const v3 = (await putValue(server, name, { value: 'three' })).body.version_id as string;
    const after = await describeSecret(server, name);
    const byId = new Map(after.versions.map((v) => [v.version_id, [...v.labels].sort()]));
    assert.deepEqual(byId.get(v3), ['CURRENT']);
    assert.deepEqual(byId.get(v2), ['PREVIOUS']);
    assert.deepEqual(byId.get(v1), []);
    // Reading by version id and by label.
    assert.equal((await api(server, 'GET', `/v1/values/${name}?version_id=${v1}`, { token: server.token })).body.value, 'one');
    assert.equal((await api(server, 'GET', `/v1/values/${name}?label=PREVIOUS`, { token: server.token })).body.value, 'two');
    assertErrorBody(await api(server, 'GET', `/v1/values/${name}?version_id=${'0'.repeat(36)}`, { token: server.token }), 404, 'version_not_found');
  });

  test('idempotency tokens: same token and value returns the same version; a different value is a conflict', async () => {
    const name = uniqueName();
    const createToken = idempotencyToken();
    const c1 = await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name, value: 'a', idempotency_token: createToken } });
    const c2 = await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name, value: 'a', idempotency_token: createToken } });
    assert.equal(c1.status, 201);
    assert.equal(c2.status, 201);
    assert.equal(c2.body.version_id, c1.body.version_id);
    assert.equal(c1.body.version_id, createToken);
    assertErrorBody(await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name, value: 'not-a', idempotency_token: createToken } }), 409, 'idempotency_conflict', 'create retried with a different value');
    assertErrorBody(await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name, value: 'a', idempotency_token: idempotencyToken() } }), 409, 'secret_exists', 'a second create with another token');

    const token = idempotencyToken();
    const p1 = await putValue(server, name, { value: 'b', idempotency_token: token });
    const p2 = await putValue(server, name, { value: 'b', idempotency_token: token });
    assert.equal(p1.status, 201);
    assert.equal(p1.body.created, true);
    assert.equal(p2.status, 200);
    assert.equal(p2.body.created, false);
    assert.equal(p2.body.version_id, p1.body.version_id);
    assertErrorBody(await putValue(server, name, { value: 'c', idempotency_token: token }), 409, 'idempotency_conflict');
    // Binary idempotency compares bytes.
    const bin = idempotencyToken();
    const bytes = randomBytes(40).toString('base64');
    assert.equal((await putValue(server, name, { value_base64: bytes, idempotency_token: bin })).status, 201);
    assert.equal((await putValue(server, name, { value_base64: bytes, idempotency_token: bin })).status, 200);
    assertErrorBody(await putValue(server, name, { value_base64: randomBytes(40).toString('base64'), idempotency_token: bin }), 409, 'idempotency_conflict');
    const d = await describeSecret(server, name);
    assert.equal(d.versions.length, 3, 'retries made no duplicate versions');
  });

  test('a write with create_if_missing creates a missing secret: one request, one audit event, and create is needed for it', async () => {
    const name = uniqueName('dev/upsert');
    // The writes' events (the test's own reads in between are audited too).
    const eventsOf = async (since: number) => (await auditAfter(server, since)).filter((e) => e.secret === name && !['secret.describe', 'secret.read'].includes(e.operation));
    assertErrorBody(await putValue(server, name, { value: 'v1' }), 404, 'secret_not_found', 'without the option a missing secret is still an error');

    let since = await auditHead(server);
    const first = await putValue(server, name, { value: 'v1', create_if_missing: { owner: 'data-eng', description: 'made by a put', tags: { team: 'etl' } } });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    assert.equal(first.body.secret_created, true);
    assert.equal(first.body.created, true);
    assert.deepEqual(first.body.labels, ['CURRENT']);
    assert.match(first.body.arn, /:secret:dev\/upsert\/[0-9a-f]+-[A-Za-z0-9]{6}$/);
    const described = await describeSecret(server, name);
    assert.deepEqual([described.owner, described.description, described.tags], ['data-eng', 'made by a put', { team: 'etl' }]);
    assert.deepEqual(described.versions.map((v) => v.version_id), [first.body.version_id]);
    const created = await eventsOf(since);
    assert.deepEqual(created.map((e) => [e.operation, e.outcome, e.version_id]), [['secret.create', 'success', first.body.version_id]], 'one event, no failed write before it');

    // Once it exists the metadata is left alone: a put writes a version, as without the option.
    since = await auditHead(server);
    const second = await putValue(server, name, { value: 'v2', create_if_missing: { owner: 'someone-else' } });
    assert.equal(second.status, 201, JSON.stringify(second.body));
    assert.equal(second.body.secret_created, false);
    assert.equal((await describeSecret(server, name)).owner, 'data-eng');
    assert.equal((await api(server, 'GET', `/v1/values/${name}`, { token: server.token })).body.value, 'v2');
    assert.deepEqual((await eventsOf(since)).map((e) => [e.operation, e.outcome]), [['secret.write', 'success']]);
    // Without the option the answer says no secret was created.
    assert.equal((await putValue(server, name, { value: 'v3' })).body.secret_created, false);

    // Creating needs `create` on top of `update`; without it nothing is made, and the denial is a create's.
    await writePolicy(server, 'upsert-update', JSON.stringify({ rules: [{ path: 'dev/upsert/**', capabilities: ['read', 'update'] }] }));
    await writePolicy(server, 'upsert-create', JSON.stringify({ rules: [{ path: 'dev/upsert/**', capabilities: ['create'] }] }));
    const updater = (await createToken(server, { policies: ['upsert-update'] })).token;
    const creator = (await createToken(server, { policies: ['upsert-create'] })).token;
    const other = uniqueName('dev/upsert');
    since = await auditHead(server);
    assertErrorBody(await putValue(server, other, { value: 'x', create_if_missing: {} }, updater), 403, 'permission_denied');
    const denied = (await auditAfter(server, since)).filter((e) => e.secret === other);
    assert.deepEqual(denied.map((e) => [e.operation, e.outcome, e.error_code]), [['secret.create', 'denied', 'permission_denied']]);
    assert.equal((await api(server, 'GET', `/v1/secrets/${other}`, { token: server.token })).status, 404, 'nothing half-made');
    assert.equal((await putValue(server, name, { value: 'v4', create_if_missing: {} }, updater)).status, 201, 'update alone writes to an existing secret');
    // A caller who may not write is refused the same way whether or not the name exists: the
    // message names the capability it lacks, and that must not be `create` for a free name only.
    await writePolicy(server, 'upsert-read', JSON.stringify({ rules: [{ path: 'dev/upsert/**', capabilities: ['read'] }] }));
    const reader = (await createToken(server, { policies: ['upsert-read'] })).token;
    for (const caller of [creator, reader]) {
      const refusals = [];
      for (const target of [name, other]) {
        const refused = await putValue(server, target, { value: 'x', create_if_missing: {} }, caller);
        assertErrorBody(refused, 403, 'permission_denied', target);
        refusals.push(refused.body.error.message.replace(target, 'NAME'));
      }
      assert.equal(refusals[0], refusals[1]);
    }

    assertErrorBody(await putValue(server, other, { value: 'x', create_if_missing: { nope: 1 } }), 400, 'validation_failed', 'unknown fields are refused');
    assert.equal((await api(server, 'DELETE', `/v1/secrets/${name}`, { token: server.token })).status, 200);
    assertErrorBody(await putValue(server, name, { value: 'x', create_if_missing: {} }), 409, 'secret_scheduled_for_deletion', 'a deleted name is not created anew');
  });

  test('binary values round-trip; 64 KiB is the limit for text and binary', async () => {
    const name = uniqueName();
    await createSecret(server, name, 'x');
    const bytes = randomBytes(65_536);
    const put = await putValue(server, name, { value_base64: bytes.toString('base64') });
    assert.equal(put.status, 201);
    const got = await api(server, 'GET', `/v1/values/${name}`, { token: server.token });
    assert.equal(got.body.value, undefined);
    assert.ok(Buffer.from(got.body.value_base64, 'base64').equals(bytes));

    assertErrorBody(await putValue(server, name, { value_base64: randomBytes(65_537).toString('base64') }), 413, 'value_too_large', 'binary 65537');
    assert.equal((await putValue(server, name, { value: 'é'.repeat(32_768) })).status, 201, '65536 UTF-8 bytes is allowed');
    assertErrorBody(await putValue(server, name, { value: 'a'.repeat(65_537) }), 413, 'value_too_large', 'text 65537');
    assertErrorBody(await putValue(server, name, { value: 'é'.repeat(32_768) + 'a' }), 413, 'value_too_large', 'the limit counts bytes, not characters');
    assertErrorBody(await putValue(server, name, { value: '' }), 400, 'validation_failed', 'empty value');
    assertErrorBody(await putValue(server, name, { value: 'a', value_base64: 'YQ==' }), 400, 'validation_failed', 'both value kinds');
  });

  test('delete with a recovery window, reads refused, restore, force delete', async () => {
    const name = uniqueName();
    await createSecret(server, name, 'keep-me');
    assertErrorBody(await api(server, 'DELETE', `/v1/secrets/${name}?recovery_days=6`, { token: server.token }), 400, 'validation_failed');
    assertErrorBody(await api(server, 'DELETE', `/v1/secrets/${name}?recovery_days=31`, { token: server.token }), 400, 'validation_failed');
    const del = await api(server, 'DELETE', `/v1/secrets/${name}?recovery_days=7`, { token: server.token });
    assert.equal(del.status, 200);
    const days = (Date.parse(del.body.deletion_date) - Date.now()) / 86_400_000;
    assert.ok(days > 6.99 && days <= 7, `deletion in 7 days, got ${days}`);

    assertErrorBody(await api(server, 'GET', `/v1/values/${name}`, { token: server.token }), 409, 'secret_scheduled_for_deletion');
    assertErrorBody(await putValue(server, name, { value: 'nope' }), 409, 'secret_scheduled_for_deletion');
    const d = await describeSecret(server, name);
    assert.ok(d.deleted_at);
    const listed = await api(server, 'GET', '/v1/secrets?prefix=dev/', { token: server.token });
    assert.ok(!listed.body.secrets.some((s: { name: string }) => s.name === name), 'hidden from list');
    const listedDeleted = await api(server, 'GET', '/v1/secrets?prefix=dev/&include_deleted=true', { token: server.token });
    assert.ok(listedDeleted.body.secrets.some((s: { name: string }) => s.name === name), 'listed with include_deleted');

    assert.equal((await api(server, 'POST', `/v1/restore/${name}`, { token: server.token })).status, 200);
    assertErrorBody(await api(server, 'POST', `/v1/restore/${name}`, { token: server.token }), 409, 'secret_not_deleted');
    assert.equal((await api(server, 'GET', `/v1/values/${name}`, { token: server.token })).body.value, 'keep-me');

    const defaultDelete = await api(server, 'DELETE', `/v1/secrets/${name}`, { token: server.token });
    const defaultDays = (Date.parse(defaultDelete.body.deletion_date) - Date.now()) / 86_400_000;
    assert.ok(defaultDays > 29.99 && defaultDays <= 30, 'default window is 30 days');
    assert.equal((await api(server, 'DELETE', `/v1/secrets/${name}?force=true`, { token: server.token })).status, 200);
    assertErrorBody(await api(server, 'GET', `/v1/values/${name}`, { token: server.token }), 404, 'secret_not_found');
    assertErrorBody(await api(server, 'POST', `/v1/restore/${name}`, { token: server.token }), 404, 'secret_not_found');
    // The name is free again.
    await createSecret(server, name, 'reborn');
  });

  test('tags: add, overwrite, remove; invalid keys rejected', async () => {
    const name = uniqueName();
    await createSecret(server, name, 'v');
    assert.equal((await api(server, 'POST', `/v1/tags/${name}`, { token: server.token, body: { tags: { a: '1', b: '2' } } })).status, 200);
    assert.equal((await api(server, 'POST', `/v1/tags/${name}`, { token: server.token, body: { tags: { b: '3' } } })).status, 200);
    assert.deepEqual((await describeSecret(server, name)).tags, { a: '1', b: '3' });
    assert.equal((await api(server, 'DELETE', `/v1/tags/${name}?keys=a`, { token: server.token })).status, 200);
    assert.deepEqual((await describeSecret(server, name)).tags, { b: '3' });
    assertErrorBody(await api(server, 'POST', `/v1/tags/${name}`, { token: server.token, body: { tags: { 'aws:x': '1' } } }), 400, 'validation_failed');
  });

  test('batch read: values in order, per-secret errors, one audit event per secret, never a value', async () => {
    const base = uniqueName('prod/batch');
    const canary = `batch-canary-${randomBytes(6).toString('hex')}`;
    await createSecret(server, `${base}/a`, `${canary}-a`);
    assert.equal((await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name: `${base}/b`, value_base64: Buffer.from([0, 1, 2, 255]).toString('base64') } })).status, 201);
    assert.equal((await putValue(server, `${base}/a`, { value: `${canary}-a2` })).status, 201);
    await createSecret(server, 'dev/batch-other/c', `${canary}-c`);
    const policy = JSON.stringify({ rules: [{ path: `${base}/**`, capabilities: ['read'] }, { path: 'dev/**', capabilities: ['read'] }] });
    assert.equal((await api(server, 'PUT', '/v1/policies/batch-reader', { token: server.token, body: { document: policy } })).status, 200);
    // Bound to prod: dev/... is refused whatever the policy says.
    const reader = (await api(server, 'POST', '/v1/tokens', { token: server.token, body: { policies: ['batch-reader'], env: 'prod' } })).body.token as string;

    const r = await api(server, 'POST', '/v1/batch/values', { token: reader, body: { secrets: [
      { name: `${base}/a` }, { name: `${base}/missing` }, { name: `${base}/a`, label: 'PREVIOUS' }, { name: 'dev/batch-other/c' }, { name: `${base}/b` },
    ] } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.values.map((v: { index: number; value?: string; value_base64?: string }) => [v.index, v.value ?? v.value_base64]), [
      [0, `${canary}-a2`], [2, `${canary}-a`], [4, Buffer.from([0, 1, 2, 255]).toString('base64')],
    ]);
    assert.deepEqual(r.body.values[0].labels, ['CURRENT']);
    assert.deepEqual(r.body.errors.map((e: { index: number; name: string; code: string; status: number }) => [e.index, e.name, e.code, e.status]), [
      [1, `${base}/missing`, 'secret_not_found', 404], [3, 'dev/batch-other/c', 'environment_denied', 403],
    ]);

    // Audit: the request, and each secret as its own secret.read event under the same request id.
    const requestId = r.headers.get('x-request-id');
    const events = (await api(server, 'GET', `/v1/audit/events?limit=1000&order=desc`, { token: server.token })).body.events
      .filter((e: { request_id: string }) => e.request_id === requestId);
    const summary = events.find((e: { operation: string }) => e.operation === 'secret.read_batch');
    assert.equal(summary.outcome, 'success');
    assert.deepEqual(summary.detail, { returned: 3, failed: 2 });
    const items = events.filter((e: { operation: string }) => e.operation === 'secret.read')
      .map((e: { secret: string; outcome: string; error_code: string | null; version_id: string | null }) => [e.secret, e.outcome, e.error_code, e.version_id !== null])
      .sort((x: string[], y: string[]) => JSON.stringify(x).localeCompare(JSON.stringify(y)));
    assert.deepEqual(items, [
      ['dev/batch-other/c', 'denied', 'environment_denied', false], [`${base}/a`, 'success', null, true], [`${base}/a`, 'success', null, true],
      [`${base}/b`, 'success', null, true], [`${base}/missing`, 'failure', 'secret_not_found', false],
    ]);
    assert.ok(!JSON.stringify(events).includes(canary), 'no value in audit events');
    // `audit query --secret` finds batch reads like single ones.
    const bySecret = (await api(server, 'GET', `/v1/audit/events?secret=${encodeURIComponent(`${base}/b`)}&operation=secret.read`, { token: server.token })).body.events;
    assert.equal(bySecret.length, 1);

    // Bad requests fail whole, with a stable code.
    for (const body of [{ secrets: [] }, { secrets: Array.from({ length: 101 }, () => ({ name: `${base}/a` })) }, { secrets: [{ name: `${base}/a`, extra: 1 }] }, {}]) {
      const bad = await api(server, 'POST', '/v1/batch/values', { token: reader, body });
      assertErrorBody(bad, 400, 'validation_failed', JSON.stringify(body).slice(0, 80));
    }
    assert.equal((await api(server, 'POST', '/v1/batch/values', { token: 'cst_nope', body: { secrets: [{ name: `${base}/a` }] } })).status, 401);
  });

  test('password generation honours length and character classes', async () => {
    const r = await api(server, 'POST', '/v1/password', { token: server.token, body: { length: 40 } });
    assert.equal(r.status, 200);
    assert.equal(r.body.password.length, 40);
    assert.match(r.body.password, /[a-z]/);
    assert.match(r.body.password, /[A-Z]/);
    assert.match(r.body.password, /[0-9]/);
    const digits = await api(server, 'POST', '/v1/password', { token: server.token, body: { length: 64, exclude_lowercase: true, exclude_uppercase: true, exclude_punctuation: true } });
    assert.match(digits.body.password, /^[0-9]{64}$/);
    const noChars = await api(server, 'POST', '/v1/password', { token: server.token, body: { length: 30, exclude_characters: 'abcdefghijklmnopqrstuvwxyz' } });
    assert.doesNotMatch(noChars.body.password, /[a-z]/);
    const two = await Promise.all([1, 2].map(() => api(server, 'POST', '/v1/password', { token: server.token, body: {} })));
    assert.equal(two[0]!.body.password.length, 32);
    assert.notEqual(two[0]!.body.password, two[1]!.body.password);
    assertErrorBody(await api(server, 'POST', '/v1/password', { token: server.token, body: { length: 0 } }), 400, 'validation_failed');
  });

  // Pruning itself (past 100 versions, once 24 hours old) is tested with a controlled clock
  // in secrets-service.test.ts; here the server's real clock makes every version young.
  test('versions younger than 24 hours are kept even beyond 100, as in AWS', async () => {
    const name = uniqueName();
    const first = await createSecret(server, name, 'v0');
    const ids: string[] = [first];
    for (let i = 1; i <= 105; i++) {
      const r = await putValue(server, name, { value: `v${i}` });
      assert.equal(r.status, 201);
      ids.push(r.body.version_id);
    }
    const d = await describeSecret(server, name);
    assert.equal(d.versions.length, 106);
    assert.equal((await api(server, 'GET', `/v1/values/${name}?version_id=${ids[0]}`, { token: server.token })).body.value, 'v0');
    assert.equal((await api(server, 'GET', `/v1/values/${name}`, { token: server.token })).body.value, 'v105');
  });
});

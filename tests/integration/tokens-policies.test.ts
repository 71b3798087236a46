import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, runCli, startServer, type RunningServer } from '../support/custos-server.js';
import { assertErrorBody, createSecret, createToken, sleep, uniqueName, writePolicy } from '../support/http-helpers.js';

/** Tokens (TTL, env binding, tree revocation, narrowing) and policies (YAML/JSON, deny wins) over HTTP. */
describe('tokens and policies', () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer();
    await writePolicy(server, 'dev-reader', JSON.stringify({ rules: [{ path: 'dev/**', capabilities: ['read', 'list'] }] }));
    await writePolicy(server, 'everything', [
      'rules:',
      '  - path: "**"',
      '    capabilities: [read, list, create, update, delete, stage]',
      '  - path: sys:tokens',
      '    capabilities: [create, read, update, delete]',
    ].join('\n'));
  });
  after(async () => {
    await server.stop();
    server.cleanup();
  });

  test('token create returns a prefixed token, an accessor, policies, TTL and env; lookup-self agrees', async () => {
    const { token, accessor, body } = await createToken(server, { policies: ['dev-reader'], ttl: '1h', env: 'dev', display_name: 'airflow' });
    assert.match(token, /^cst_[A-Za-z0-9_-]{43}$/);
    assert.match(accessor, /^acc_/);
    assert.deepEqual(body.policies, ['dev-reader']);
    assert.equal(body.env, 'dev');
    assert.equal(body.ttl_seconds, 3600);
    const expiresIn = Date.parse(body.expires_at) - Date.now();
    assert.ok(expiresIn > 3590_000 && expiresIn <= 3600_000, `expires in ~1h, got ${expiresIn}`);
    const self = await api(server, 'GET', '/v1/tokens/self', { token });
    assert.equal(self.status, 200);
    assert.equal(self.body.accessor, accessor);
    assert.equal(self.body.display_name, 'airflow');
    assert.equal(self.body.token, undefined, 'lookup never returns the token');
    const byRoot = await api(server, 'POST', '/v1/tokens/lookup', { token: server.token, body: { accessor } });
    assert.equal(byRoot.body.accessor, accessor);
  });

  test('a child asking for more than its parent has left reports the TTL it was granted, in the API and the CLI', async () => {
    await writePolicy(server, 'token-maker', JSON.stringify({ rules: [{ path: 'sys:tokens', capabilities: ['create', 'read'] }, { path: 'dev/**', capabilities: ['read'] }] }));
    const parent = await createToken(server, { policies: ['token-maker'], ttl: '1h' });
    const child = await createToken(server, { policies: ['token-maker'], ttl: '10000h' }, parent.token);
    assert.ok(child.body.ttl_seconds <= 3600 && child.body.ttl_seconds >= 3590, `granted ~1h, reported ${child.body.ttl_seconds}`);
    const granted = Date.parse(child.body.expires_at) - Date.parse(child.body.created_at);
    assert.ok(Math.abs(granted - child.body.ttl_seconds * 1000) < 1000, `expires_at - created_at (${granted} ms) agrees with ttl_seconds`);
    assert.ok(Date.parse(child.body.expires_at) <= Date.parse(parent.body.expires_at), 'never outlives the parent');
    const looked = await api(server, 'POST', '/v1/tokens/lookup', { token: parent.token, body: { accessor: child.accessor } });
    assert.equal(looked.body.ttl_seconds, child.body.ttl_seconds);
    const cli = await runCli(['token', 'create', '--policy', 'token-maker', '--ttl', '10000h'], { server, env: { CUSTOS_TOKEN: parent.token } });
    assert.equal(cli.code, 0, cli.stderr);
    const ttlLine = /^ttl\s+(\d+)s$/m.exec(cli.stdout);
    assert.ok(ttlLine && Number(ttlLine[1]) <= 3600, `the CLI shows the granted TTL: ${cli.stdout}`);
  });

  test('a deny names the policy and rule only to a caller who may read policies; the audit event keeps it', async () => {
    await writePolicy(server, 'p1', JSON.stringify({ rules: [{ path: 'dev/**', capabilities: ['read'] }, { path: 'dev/etl/admin-*', deny: true }] }));
    await writePolicy(server, 'policy-reader', JSON.stringify({ rules: [{ path: 'sys:policies', capabilities: ['list'] }, { path: 'sys:policies/*', capabilities: ['read'] }] }));
    const name = `dev/etl/admin-${uniqueName('x').slice(2)}`;
    await createSecret(server, name, 'v');
    const plain = await createToken(server, { policies: ['p1'] });
    const reader = await createToken(server, { policies: ['p1', 'policy-reader'] });
    const since = (await api(server, 'GET', '/v1/audit/events?order=desc&limit=1', { token: server.token })).body.events[0].seq;

    const hidden = await api(server, 'GET', `/v1/values/${name}`, { token: plain.token });
    assertErrorBody(hidden, 403, 'permission_denied');
    for (const leak of ['p1', 'admin-*', 'rule', 'policy']) assert.ok(!JSON.stringify(hidden.body).includes(leak), `the message reveals ${leak}: ${hidden.body.error.message}`);
    // A default deny reveals nothing of policies either, and says the same thing.
    const defaultDeny = await api(server, 'GET', '/v1/values/prod/other', { token: plain.token });
    assertErrorBody(defaultDeny, 403, 'permission_denied');
    assert.ok(!/polic|rule/.test(defaultDeny.body.error.message), defaultDeny.body.error.message);

    const shown = await api(server, 'GET', `/v1/values/${name}`, { token: reader.token });
    assertErrorBody(shown, 403, 'permission_denied');
    assert.match(shown.body.error.message, /denied by policy "p1" rule "dev\/etl\/admin-\*"/);

    const events = (await api(server, 'GET', `/v1/audit/events?after_seq=${since}&principal=${plain.accessor}`, { token: server.token })).body.events;
    const denied = events.find((e: { secret: string }) => e.secret === name);
    assert.ok(denied, JSON.stringify(events));
    assert.equal(denied.error_code, 'permission_denied');
    assert.match(denied.detail.deny_reason, /denied by policy "p1" rule "dev\/etl\/admin-\*"/, 'the audit event keeps the detail');
  });

  test('the Authorization scheme is case-insensitive and X-Custos-Token works too', async () => {
    for (const headers of <Record<string, string>[]>[{ authorization: `bearer ${server.token}` }, { authorization: `BEARER ${server.token}` }, { 'x-custos-token': server.token }]) {
      const r = await api(server, 'GET', '/v1/tokens/self', { headers });
      assert.equal(r.status, 200, `${Object.keys(headers)[0]}: ${JSON.stringify(r.body)}`);
    }
  });

  test('POSTs whose body fields are all optional may be sent without a body', async () => {
    const { token, accessor } = await createToken(server, { policies: ['dev-reader'], ttl: 60 });
    const lookup = await api(server, 'POST', '/v1/tokens/lookup', { token });
    assert.equal(lookup.status, 200, JSON.stringify(lookup.body));
    assert.equal(lookup.body.accessor, accessor);
    const renew = await api(server, 'POST', '/v1/tokens/renew', { token });
    assert.equal(renew.status, 200, JSON.stringify(renew.body));
    const password = await api(server, 'POST', '/v1/password', { token: server.token });
    assert.equal(password.status, 200, JSON.stringify(password.body));
    assert.equal(password.body.password.length, 32);
    const revoke = await api(server, 'POST', '/v1/tokens/revoke', { token });
    assert.equal(revoke.status, 200, JSON.stringify(revoke.body));
    assert.deepEqual(revoke.body.revoked, [accessor]);
    // A body with required fields is still required.
    assert.equal((await api(server, 'POST', '/v1/tokens', { token: server.token })).body.error.code, 'validation_failed');
  });

  test('an expired token answers 401 token_expired', async () => {
    const { token } = await createToken(server, { policies: ['dev-reader'], ttl: 1 });
    assert.equal((await api(server, 'GET', '/v1/tokens/self', { token })).status, 200);
    await sleep(1200);
    assertErrorBody(await api(server, 'GET', '/v1/tokens/self', { token }), 401, 'token_expired');
  });

  test('renew extends a token, never past its max TTL', async () => {
    const { token, body } = await createToken(server, { policies: ['dev-reader'], ttl: 60, max_ttl: 120 });
    const renewed = await api(server, 'POST', '/v1/tokens/renew', { token, body: { increment: '10m' } });
    assert.equal(renewed.status, 200);
    assert.equal(renewed.body.expires_at, body.max_expires_at, 'capped at max TTL');
  });

  test('revoking a parent revokes its children and grandchildren', async () => {
    const parent = await createToken(server, { policies: ['everything'] });
    const child = await createToken(server, { policies: ['everything'] }, parent.token);
    const grandchild = await createToken(server, { policies: ['everything'] }, child.token);
    const sibling = await createToken(server, { policies: ['everything'] });
    assert.equal(child.body.parent_accessor, parent.accessor);
    const revoked = await api(server, 'POST', '/v1/tokens/revoke', { token: server.token, body: { accessor: parent.accessor } });
    assert.equal(revoked.status, 200);
    assert.deepEqual([...revoked.body.revoked].sort(), [parent.accessor, child.accessor, grandchild.accessor].sort());
    for (const t of [parent, child, grandchild]) assertErrorBody(await api(server, 'GET', '/v1/tokens/self', { token: t.token }), 401, 'token_revoked');
    assert.equal((await api(server, 'GET', '/v1/tokens/self', { token: sibling.token })).status, 200, 'an unrelated token is untouched');
    // Self-revocation.
    assert.equal((await api(server, 'POST', '/v1/tokens/revoke', { token: sibling.token, body: {} })).status, 200);
    assertErrorBody(await api(server, 'GET', '/v1/tokens/self', { token: sibling.token }), 401, 'token_revoked');
  });

  test('a child token cannot gain policies its parent lacks, nor widen its env binding', async () => {
    const parent = await createToken(server, { policies: ['everything'], env: 'dev' });
    assertErrorBody(await api(server, 'POST', '/v1/tokens', { token: parent.token, body: { policies: ['dev-reader'] } }), 403, 'permission_denied');
    assertErrorBody(await api(server, 'POST', '/v1/tokens', { token: parent.token, body: { policies: ['root'] } }), 403, 'permission_denied');
    assertErrorBody(await api(server, 'POST', '/v1/tokens', { token: parent.token, body: { policies: ['everything'], env: 'prod' } }), 403, 'environment_denied');
    const child = await createToken(server, { policies: ['everything'] }, parent.token);
    assert.equal(child.body.env, 'dev', 'the env binding is inherited');
    // A child never outlives its parent.
    const shortParent = await createToken(server, { policies: ['everything'], ttl: 60 });
    const longChild = await createToken(server, { policies: ['everything'], ttl: '10h' }, shortParent.token);
    assert.ok(Date.parse(longChild.body.expires_at) <= Date.parse(shortParent.body.expires_at));
  });

  test('env binding: a token bound to dev cannot touch prod/... even with a policy granting it', async () => {
    const prodName = uniqueName('prod/app');
    const devName = uniqueName('dev/app');
    await createSecret(server, prodName, 'prod-value');
    await createSecret(server, devName, 'dev-value');
    // Root-created token with a grant-everything policy, bound to dev.
    const bound = await createToken(server, { policies: ['everything'], env: 'dev' });
    assert.equal((await api(server, 'GET', `/v1/values/${devName}`, { token: bound.token })).body.value, 'dev-value');
    const denied = await api(server, 'GET', `/v1/values/${prodName}`, { token: bound.token });
    assertErrorBody(denied, 403, 'environment_denied');
    assert.ok(!JSON.stringify(denied.body).includes('prod-value'));
    assertErrorBody(await api(server, 'POST', `/v1/values/${prodName}`, { token: bound.token, body: { value: 'x' } }), 403, 'environment_denied');
    assertErrorBody(await api(server, 'DELETE', `/v1/secrets/${prodName}?force=true`, { token: bound.token }), 403, 'environment_denied');
    assertErrorBody(await api(server, 'POST', '/v1/secrets', { token: bound.token, body: { name: uniqueName('prod/app'), value: 'x' } }), 403, 'environment_denied');
    const listed = await api(server, 'GET', '/v1/secrets', { token: bound.token });
    assert.equal(listed.status, 200);
    assert.ok(listed.body.secrets.length > 0);
    assert.ok(listed.body.secrets.every((s: { name: string }) => s.name.startsWith('dev/')), 'list shows only dev secrets');
    assertErrorBody(await api(server, 'GET', '/v1/secrets?prefix=prod/', { token: bound.token }), 403, 'permission_denied');
    // Even a root-policy token bound to dev stays in dev.
    const rootDev = await createToken(server, { policies: ['root'], env: 'dev' });
    assertErrorBody(await api(server, 'GET', `/v1/values/${prodName}`, { token: rootDev.token }), 403, 'environment_denied');
    assert.equal((await api(server, 'GET', `/v1/values/${devName}`, { token: rootDev.token })).status, 200);
  });

  test('env binding also fences administration: a dev-bound root token cannot seal, rotate keys, write policies or read the audit log', async () => {
    const rootDev = await createToken(server, { policies: ['root'], env: 'dev' });
    assertErrorBody(await api(server, 'POST', '/v1/sys/seal', { token: rootDev.token }), 403, 'environment_denied');
    assertErrorBody(await api(server, 'POST', '/v1/sys/rotate-key', { token: rootDev.token }), 403, 'environment_denied');
    assertErrorBody(await api(server, 'PUT', '/v1/policies/sneaky', { token: rootDev.token, body: { document: JSON.stringify({ rules: [{ path: 'prod/**', capabilities: ['read'] }] }) } }), 403, 'environment_denied');
    assertErrorBody(await api(server, 'GET', '/v1/audit/events', { token: rootDev.token }), 403, 'environment_denied');
    assertErrorBody(await api(server, 'POST', '/v1/audit/verify', { token: rootDev.token }), 403, 'environment_denied');
    // It may still make tokens, which inherit its binding.
    const child = await createToken(server, { policies: ['everything'] }, rootDev.token);
    assert.equal(child.body.env, 'dev');
    const health = await api(server, 'GET', '/v1/sys/seal-status');
    assert.equal(health.body.sealed, false, 'the server is still unsealed');
  });

  test('policies: write YAML and JSON, read back as written, list, delete', async () => {
    const yamlDoc = 'rules:\n  - path: dev/yaml/*\n    capabilities: [read]\n';
    const jsonDoc = JSON.stringify({ rules: [{ path: 'dev/json/**', capabilities: ['read', 'list'] }, { path: 'dev/json/secret', deny: true }] });
    await writePolicy(server, 'p-yaml', yamlDoc);
    await writePolicy(server, 'p-json', jsonDoc);
    const read = await api(server, 'GET', '/v1/policies/p-yaml', { token: server.token });
    assert.equal(read.status, 200);
    assert.equal(read.body.document, yamlDoc);
    assert.deepEqual(read.body.rules, [{ path: 'dev/yaml/*', capabilities: ['read'] }]);
    const readJson = await api(server, 'GET', '/v1/policies/p-json', { token: server.token });
    assert.equal(readJson.body.document, jsonDoc);
    assert.equal(readJson.body.rules.length, 2);
    const list = await api(server, 'GET', '/v1/policies', { token: server.token });
    for (const name of ['p-yaml', 'p-json', 'dev-reader', 'everything']) assert.ok(list.body.policies.includes(name), name);
    assertErrorBody(await api(server, 'PUT', '/v1/policies/bad', { token: server.token, body: { document: 'rules: [{ path: "a", capabilities: [fly] }]' } }), 400, 'invalid_policy');
    assertErrorBody(await api(server, 'PUT', '/v1/policies/bad', { token: server.token, body: { document: '{not yaml: [' } }), 400, 'invalid_policy');
    assertErrorBody(await api(server, 'PUT', '/v1/policies/root', { token: server.token, body: { document: yamlDoc } }), 400, 'invalid_policy');
    assert.equal((await api(server, 'DELETE', '/v1/policies/p-yaml', { token: server.token })).status, 200);
    assertErrorBody(await api(server, 'GET', '/v1/policies/p-yaml', { token: server.token }), 404, 'policy_not_found');
    assertErrorBody(await api(server, 'DELETE', '/v1/policies/p-yaml', { token: server.token }), 404, 'policy_not_found');
  });

  test('explicit deny wins, default deny, and list shows only permitted secrets', async () => {
    const base = uniqueName('dev/deny');
    for (const leaf of ['a', 'b', 'secret']) await createSecret(server, `${base}/${leaf}`, `value-${leaf}`);
    await createSecret(server, uniqueName('dev/other'), 'other');
    await writePolicy(server, 'deny-test', JSON.stringify({
      rules: [
        { path: `${base}/*`, capabilities: ['read', 'list'] },
        { path: `${base}/secret`, deny: true },
      ],
    }));
    const { token } = await createToken(server, { policies: ['deny-test'] });
    assert.equal((await api(server, 'GET', `/v1/values/${base}/a`, { token })).body.value, 'value-a');
    assertErrorBody(await api(server, 'GET', `/v1/values/${base}/secret`, { token }), 403, 'permission_denied');
    assertErrorBody(await api(server, 'POST', `/v1/values/${base}/a`, { token, body: { value: 'x' } }), 403, 'permission_denied', 'no update capability');
    assertErrorBody(await api(server, 'GET', '/v1/policies', { token }), 403, 'permission_denied', 'no admin capability');
    const listed = await api(server, 'GET', '/v1/secrets', { token });
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body.secrets.map((s: { name: string }) => s.name).sort(), [`${base}/a`, `${base}/b`]);
    // Granting more later takes effect (the policy cache is invalidated on write).
    await writePolicy(server, 'deny-test', JSON.stringify({ rules: [{ path: `${base}/*`, capabilities: ['read', 'list'] }] }));
    assert.equal((await api(server, 'GET', `/v1/values/${base}/secret`, { token })).body.value, 'value-secret');
    // A deleted policy grants nothing.
    assert.equal((await api(server, 'DELETE', '/v1/policies/deny-test', { token: server.token })).status, 200);
    assertErrorBody(await api(server, 'GET', `/v1/values/${base}/a`, { token }), 403, 'permission_denied');
  });

  test('stage capability is needed for writes with non-CURRENT labels and for label moves', async () => {
    const name = uniqueName('dev/stage');
    const v1 = await createSecret(server, name, 'one');
    await writePolicy(server, 'writer', JSON.stringify({ rules: [{ path: 'dev/stage/*', capabilities: ['read', 'update'] }] }));
    const { token } = await createToken(server, { policies: ['writer'] });
    assert.equal((await api(server, 'POST', `/v1/values/${name}`, { token, body: { value: 'two' } })).status, 201);
    assertErrorBody(await api(server, 'POST', `/v1/values/${name}`, { token, body: { value: 'three', labels: ['PENDING'] } }), 403, 'permission_denied');
    assertErrorBody(await api(server, 'POST', `/v1/labels/${name}`, { token, body: { label: 'x', move_to_version_id: v1 } }), 403, 'permission_denied');
  });

  test('a token or access key naming a policy that does not exist is refused unless the caller says it will write it later', async () => {
    const refused = await api(server, 'POST', '/v1/tokens', { token: server.token, body: { policies: ['etl-raed'] } });
    assertErrorBody(refused, 404, 'policy_not_found');
    assert.deepEqual(refused.body.error.details.missing, ['etl-raed']);
    assert.equal((await api(server, 'POST', '/v1/tokens', { token: server.token, body: { policies: ['etl-raed'], allow_missing_policies: true } })).status, 201);
    assertErrorBody(await api(server, 'POST', '/v1/aws/keys', { token: server.token, body: { policies: ['not-yet'] } }), 404, 'policy_not_found');
    assert.equal((await api(server, 'POST', '/v1/aws/keys', { token: server.token, body: { policies: ['not-yet'], allow_missing_policies: true } })).status, 201);
    const cli = await runCli(['token', 'create', '--policy', 'does-not-exist'], { server, env: { CUSTOS_TOKEN: server.token } });
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /^error: policy_not_found: no such policy: does-not-exist/);
    const allowed = await runCli(['token', 'create', '--policy', 'does-not-exist', '--allow-missing-policy', '--json'], { server, env: { CUSTOS_TOKEN: server.token } });
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.deepEqual(JSON.parse(allowed.stdout).policies, ['does-not-exist']);
    const key = await runCli(['aws-key', 'create', '--policy', 'nope'], { server, env: { CUSTOS_TOKEN: server.token } });
    assert.match(key.stderr, /^error: policy_not_found: no such policy: nope/);
  });
});

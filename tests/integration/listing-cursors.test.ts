import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ListSecretsCommand } from '@aws-sdk/client-secrets-manager';
import { api, startServer, type RunningServer } from '../support/custos-server.js';
import { awsClient, awsError, createAwsKey } from '../support/aws.js';
import { assertErrorBody, createToken, writePolicy } from '../support/http-helpers.js';

/**
 * Paging cursors are opaque and bound to their caller and query: a caller who may list only
 * dev/* never learns another name from a page, a cursor or a header, and a cursor that is
 * garbage, edited, another caller's or another query's is refused.
 */
describe('listing cursors', () => {
  let server: RunningServer;
  let devToken = '';
  let otherDevToken = '';
  const devNames = Array.from({ length: 12 }, (_, i) => `dev/app/s${String(i).padStart(2, '0')}`);
  // Invisible names on both sides of the visible ones and between them (names sort bytewise).
  const hiddenNames = [
    ...Array.from({ length: 40 }, (_, i) => `prod/warehouse/p${String(i).padStart(3, '0')}`),
    'aaa/hidden-first', 'dev-ops/hidden-between', 'dev/app/s05-hidden/xhidden', 'zzz/hidden-last',
  ];

  before(async () => {
    server = await startServer();
    for (const name of [...devNames, ...hiddenNames]) {
      const r = await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name, value: 'v' } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    await writePolicy(server, 'dev-list', JSON.stringify({ rules: [{ path: 'dev/app/*', capabilities: ['read', 'list'] }] }));
    devToken = (await createToken(server, { policies: ['dev-list'] })).token;
    otherDevToken = (await createToken(server, { policies: ['dev-list'] })).token;
  });
  after(async () => {
    await server.stop();
    server.cleanup();
  });

  /** Everything a response shows a client, cursors decoded every way one might try. */
  const exposed = (r: { body: unknown; headers: Headers }, cursor: string | null) => [
    JSON.stringify(r.body), JSON.stringify([...r.headers.entries()]),
    ...(cursor ? [cursor, Buffer.from(cursor, 'base64url').toString('latin1'), Buffer.from(cursor, 'base64').toString('latin1')] : []),
  ].join('\n');

  function assertNoHiddenName(text: string, where: string): void {
    for (const name of hiddenNames) {
      for (const fragment of [name, name.split('/').pop()!]) assert.ok(!text.includes(fragment), `${where} reveals ${fragment}`);
    }
  }

  test('a dev-only token pages through every visible name and sees no other name in bodies, cursors or headers', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r = await api(server, 'GET', `/v1/secrets?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token: devToken });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      cursor = r.body.next_cursor;
      assertNoHiddenName(exposed(r, cursor), `page ${pages}`);
      seen.push(...r.body.secrets.map((s: { name: string }) => s.name));
      pages += 1;
      assert.ok(pages < 50, 'paging ends');
    } while (cursor);
    assert.deepEqual(seen, devNames);
  });

  test('pages skip invisible names: a full page holds `limit` visible names when that many remain', async () => {
    const r = await api(server, 'GET', '/v1/secrets?prefix=&limit=12', { token: devToken });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.secrets.map((s: { name: string }) => s.name), devNames);
  });

  test('a garbage, edited, foreign or other-query cursor answers 400 invalid_next_token', async () => {
    const first = await api(server, 'GET', '/v1/secrets?limit=2', { token: devToken });
    const cursor = first.body.next_cursor as string;
    assert.ok(cursor);
    assert.equal((await api(server, 'GET', `/v1/secrets?limit=2&cursor=${cursor}`, { token: devToken })).status, 200, 'the cursor works for its caller');
    const edited = cursor.slice(0, 20) + (cursor[20] === 'A' ? 'B' : 'A') + cursor.slice(21);
    const legacy = Buffer.from('prod/warehouse/p000').toString('base64url');
    for (const [what, token, query] of [
      ['garbage', devToken, 'cursor=not-a-cursor'],
      ['base64 of a name (the old format)', devToken, `cursor=${legacy}`],
      ['edited', devToken, `cursor=${edited}`],
      ['another token with the same policies', otherDevToken, `cursor=${cursor}`],
      ['root', server.token, `cursor=${cursor}`],
      ['another prefix', devToken, `prefix=dev/&cursor=${cursor}`],
      ['include_deleted', devToken, `include_deleted=true&cursor=${cursor}`],
    ] as const) {
      assertErrorBody(await api(server, 'GET', `/v1/secrets?limit=2&${query}`, { token }), 400, 'invalid_next_token', what);
    }
  });

  test('versions are paged (default 100, max 1000) with the same sealed cursors', async () => {
    const name = 'dev/app/s00';
    for (let i = 0; i < 130; i++) {
      const r = await api(server, 'POST', `/v1/values/${name}`, { token: server.token, body: { value: `v${i}` } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    const first = await api(server, 'GET', `/v1/versions/${name}`, { token: devToken });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.versions.length, 100, 'default page size');
    assert.ok(first.body.next_cursor);
    const second = await api(server, 'GET', `/v1/versions/${name}?cursor=${first.body.next_cursor}`, { token: devToken });
    assert.equal(second.status, 200, JSON.stringify(second.body));
    assert.equal(second.body.next_cursor, null);
    const ids = [...first.body.versions, ...second.body.versions].map((v: { version_id: string }) => v.version_id);
    assert.equal(new Set(ids).size, ids.length, 'no version twice');
    const all = await api(server, 'GET', `/v1/versions/${name}?limit=1000`, { token: server.token });
    assert.deepEqual(all.body.versions.map((v: { version_id: string }) => v.version_id), ids, 'pages join to the whole list, newest first');
    assertErrorBody(await api(server, 'GET', `/v1/versions/${name}?limit=1001`, { token: server.token }), 400, 'validation_failed');
    assertErrorBody(await api(server, 'GET', `/v1/versions/${name}?cursor=${first.body.next_cursor}`, { token: server.token }), 400, 'invalid_next_token', 'another caller');
    assertErrorBody(await api(server, 'GET', `/v1/versions/dev/app/s01?cursor=${first.body.next_cursor}`, { token: devToken }), 400, 'invalid_next_token', 'another secret');
  });

  test('AWS ListSecrets NextToken is sealed and bound the same way', async () => {
    const key = await createAwsKey(server, ['dev-list']);
    const sm = awsClient(server, key);
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const page = await sm.send(new ListSecretsCommand({ MaxResults: 5, NextToken: token }));
      token = page.NextToken;
      if (token) assertNoHiddenName(Buffer.from(token, 'base64url').toString('latin1'), 'NextToken');
      seen.push(...(page.SecretList ?? []).map((s) => s.Name!));
    } while (token);
    assert.deepEqual(seen.sort(), devNames);
    const first = await sm.send(new ListSecretsCommand({ MaxResults: 5 }));
    assert.ok(first.NextToken);
    assert.equal((await awsError(sm.send(new ListSecretsCommand({ MaxResults: 5, NextToken: 'garbage' })))).name, 'InvalidNextTokenException');
    assert.equal((await awsError(sm.send(new ListSecretsCommand({ MaxResults: 5, NextToken: Buffer.from('o:5').toString('base64url') })))).name, 'InvalidNextTokenException', 'a forged offset');
    assert.equal((await awsError(sm.send(new ListSecretsCommand({ MaxResults: 5, NextToken: first.NextToken, SortOrder: 'desc' })))).name, 'InvalidNextTokenException', 'another query');
    const root = awsClient(server);
    assert.equal((await awsError(root.send(new ListSecretsCommand({ MaxResults: 5, NextToken: first.NextToken })))).name, 'InvalidNextTokenException', 'another caller');
    sm.destroy();
    root.destroy();
  });
});

import { after, before, describe, test } from 'node:test';
import net from 'node:net';
import assert from 'node:assert/strict';
import { api, startServer, type RunningServer } from '../support/custos-server.js';
import { assertErrorBody, createSecret, createToken, rawRequest, sleep, writePolicy } from '../support/http-helpers.js';

/**
 * The bad-input table: each row is a request that must be refused with a 4xx status, a stable
 * code, a message and the request id (matching the x-request-id header). After the whole
 * table the server still serves a normal read.
 */
interface Row {
  name: string;
  method: string;
  path: string;
  /** A raw body string (sent as is) or a JSON-serializable object. */
  body?: string | Record<string, unknown>;
  contentType?: string;
  headers?: Record<string, string>;
  /** Which token: the root token (default), none, or a literal string. */
  auth?: 'root' | 'none' | { literal: string };
  status: number;
  code: string;
}

describe('bad input table', () => {
  let server: RunningServer;
  let expiredToken = '';
  let revokedToken = '';
  const existing = 'dev/bad-input/existing';

  before(async () => {
    server = await startServer();
    await createSecret(server, existing, 'still-here');
    await writePolicy(server, 'reader', JSON.stringify({ rules: [{ path: 'dev/**', capabilities: ['read'] }] }));
    expiredToken = (await createToken(server, { policies: ['reader'], ttl: 1 })).token;
    const revoked = await createToken(server, { policies: ['reader'] });
    revokedToken = revoked.token;
    assert.equal((await api(server, 'POST', '/v1/tokens/revoke', { token: server.token, body: { accessor: revoked.accessor } })).status, 200);
    await sleep(1100);
  });
  after(async () => {
    await server.stop();
    server.cleanup();
  });

  const rows = (): Row[] => [
    // Body syntax
    { name: 'malformed JSON', method: 'POST', path: '/v1/secrets', body: '{"name": "dev/x", "value": ', status: 400, code: 'invalid_json' },
    { name: 'JSON with trailing garbage', method: 'POST', path: '/v1/secrets', body: '{"name": "dev/x"} extra', status: 400, code: 'invalid_json' },
    { name: 'empty JSON body where one is required', method: 'POST', path: `/v1/values/${existing}`, body: '', status: 400, code: 'invalid_json' },
    { name: 'no body where one is required', method: 'POST', path: '/v1/secrets', status: 400, code: 'validation_failed' },
    { name: 'prototype poisoning', method: 'POST', path: '/v1/secrets', body: '{"name": "dev/x", "__proto__": {"admin": true}}', status: 400, code: 'invalid_json' },
    { name: 'deeply nested arrays', method: 'POST', path: '/v1/secrets', body: '{"name":"dev/x","tags":' + '['.repeat(200_000) + ']'.repeat(200_000) + '}', status: 400, code: 'validation_failed' },
    { name: 'deeply nested objects', method: 'POST', path: '/v1/secrets', body: '{"name":"dev/x","tags":' + '{"a":'.repeat(60_000) + '1' + '}'.repeat(60_000) + '}', status: 400, code: 'validation_failed' },
    { name: 'a JSON array instead of an object', method: 'POST', path: '/v1/secrets', body: '[1,2]', status: 400, code: 'validation_failed' },
    { name: 'JSON null body', method: 'POST', path: `/v1/values/${existing}`, body: 'null', status: 400, code: 'validation_failed' },
    { name: 'unsupported content type', method: 'POST', path: '/v1/secrets', body: 'name=dev/x', contentType: 'application/x-www-form-urlencoded', status: 400, code: 'invalid_request' },
    { name: 'oversize body (> body limit)', method: 'POST', path: '/v1/secrets', body: JSON.stringify({ name: 'dev/big', value: 'x'.repeat(600 * 1024) }), status: 413, code: 'payload_too_large' },
    { name: 'value over 64 KiB', method: 'POST', path: `/v1/values/${existing}`, body: { value: 'x'.repeat(65_537) }, status: 413, code: 'value_too_large' },
    // Names
    { name: 'empty name', method: 'POST', path: '/v1/secrets', body: { name: '', value: 'v' }, status: 400, code: 'validation_failed' },
    { name: 'empty segment', method: 'POST', path: '/v1/secrets', body: { name: 'dev//x', value: 'v' }, status: 400, code: 'invalid_name' },
    { name: 'leading slash', method: 'POST', path: '/v1/secrets', body: { name: '/dev/x', value: 'v' }, status: 400, code: 'invalid_name' },
    { name: 'trailing slash', method: 'POST', path: '/v1/secrets', body: { name: 'dev/x/', value: 'v' }, status: 400, code: 'invalid_name' },
    { name: '.. segment in a body', method: 'POST', path: '/v1/secrets', body: { name: 'dev/../prod/x', value: 'v' }, status: 400, code: 'invalid_name' },
    { name: '. segment in a body', method: 'POST', path: '/v1/secrets', body: { name: 'dev/./x', value: 'v' }, status: 400, code: 'invalid_name' },
    { name: '.. segment in a path', method: 'GET', path: '/v1/values/dev/../prod/x', status: 400, code: 'invalid_name' },
    { name: 'encoded .. segment in a path', method: 'GET', path: '/v1/values/dev/%2E%2E/prod/x', status: 400, code: 'invalid_name' },
    { name: 'space in a name', method: 'POST', path: '/v1/secrets', body: { name: 'dev/a b', value: 'v' }, status: 400, code: 'invalid_name' },
    { name: 'bad characters in a name', method: 'POST', path: '/v1/secrets', body: { name: 'dev/a$b', value: 'v' }, status: 400, code: 'invalid_name' },
    { name: 'non-ASCII name', method: 'POST', path: '/v1/secrets', body: { name: 'dev/ünïcode', value: 'v' }, status: 400, code: 'invalid_name' },
    { name: 'bad characters in a path name', method: 'GET', path: '/v1/values/dev/a%24b', status: 400, code: 'invalid_name' },
    { name: 'null byte in a path name', method: 'GET', path: '/v1/values/dev/a%00b', status: 400, code: 'invalid_name' },
    { name: 'name over 512 characters (body)', method: 'POST', path: '/v1/secrets', body: { name: 'dev/' + 'a'.repeat(509), value: 'v' }, status: 400, code: 'validation_failed' },
    { name: 'name over 512 characters (path)', method: 'GET', path: '/v1/values/dev/' + 'a'.repeat(509), status: 400, code: 'validation_failed' },
    { name: 'invalid label', method: 'POST', path: `/v1/values/${existing}`, body: { value: 'v', labels: ['bad label'] }, status: 400, code: 'invalid_label' },
    { name: 'duplicate labels', method: 'POST', path: `/v1/values/${existing}`, body: { value: 'v', labels: ['A', 'A'] }, status: 400, code: 'invalid_label' },
    { name: 'invalid label in a read', method: 'GET', path: `/v1/values/${existing}?label=a%20b`, status: 400, code: 'invalid_label' },
    { name: 'short idempotency token', method: 'POST', path: `/v1/values/${existing}`, body: { value: 'v', idempotency_token: 'short' }, status: 400, code: 'validation_failed' },
    // Unknown fields and wrong types
    { name: 'unknown field in create', method: 'POST', path: '/v1/secrets', body: { name: 'dev/x', value: 'v', colour: 'red' }, status: 400, code: 'validation_failed' },
    { name: 'unknown field in put', method: 'POST', path: `/v1/values/${existing}`, body: { value: 'v', SecretString: 'v' }, status: 400, code: 'validation_failed' },
    { name: 'unknown query parameter', method: 'GET', path: `/v1/values/${existing}?versionid=x`, status: 400, code: 'validation_failed' },
    { name: 'value is a number', method: 'POST', path: `/v1/values/${existing}`, body: { value: 42 }, status: 400, code: 'validation_failed' },
    { name: 'value is an object', method: 'POST', path: `/v1/values/${existing}`, body: { value: { a: 1 } }, status: 400, code: 'validation_failed' },
    { name: 'labels is a string', method: 'POST', path: `/v1/values/${existing}`, body: { value: 'v', labels: 'CURRENT' }, status: 400, code: 'validation_failed' },
    { name: 'tags with a non-string value', method: 'POST', path: '/v1/secrets', body: { name: 'dev/x', tags: { a: 1 } }, status: 400, code: 'validation_failed' },
    { name: 'value_base64 not base64', method: 'POST', path: `/v1/values/${existing}`, body: { value_base64: 'not base64!' }, status: 400, code: 'validation_failed' },
    { name: 'recovery_days not a number', method: 'DELETE', path: `/v1/secrets/${existing}?recovery_days=soon`, status: 400, code: 'validation_failed' },
    { name: 'token ttl malformed', method: 'POST', path: '/v1/tokens', body: { policies: ['reader'], ttl: 'forever' }, status: 400, code: 'validation_failed' },
    { name: 'token policies empty', method: 'POST', path: '/v1/tokens', body: { policies: [] }, status: 400, code: 'validation_failed' },
    { name: 'password length a string', method: 'POST', path: '/v1/password', body: { length: '12' }, status: 400, code: 'validation_failed' },
    { name: 'audit since malformed', method: 'GET', path: '/v1/audit/events?since=yesterday', status: 400, code: 'validation_failed' },
    // Tokens
    { name: 'missing token', method: 'GET', path: `/v1/values/${existing}`, auth: 'none', status: 401, code: 'missing_token' },
    { name: 'garbage token', method: 'GET', path: `/v1/values/${existing}`, auth: { literal: 'garbage' }, status: 401, code: 'invalid_token' },
    { name: 'well-formed but unknown token', method: 'GET', path: `/v1/values/${existing}`, auth: { literal: 'cst_' + 'A'.repeat(43) }, status: 401, code: 'invalid_token' },
    { name: 'expired token', method: 'GET', path: `/v1/values/${existing}`, auth: { literal: 'EXPIRED' }, status: 401, code: 'token_expired' },
    { name: 'revoked token', method: 'GET', path: `/v1/values/${existing}`, auth: { literal: 'REVOKED' }, status: 401, code: 'token_revoked' },
    { name: 'Basic instead of Bearer', method: 'GET', path: `/v1/values/${existing}`, auth: 'none', headers: { authorization: 'Basic dXNlcjpwYXNz' }, status: 401, code: 'missing_token' },
    // Routes
    { name: 'unknown route', method: 'GET', path: '/v1/nothing-here', status: 404, code: 'not_found' },
    { name: 'unknown version prefix', method: 'GET', path: '/v2/secrets', auth: 'none', status: 404, code: 'not_found' },
    { name: 'wrong method', method: 'PUT', path: '/v1/secrets', status: 404, code: 'not_found' },
    { name: 'secret not found', method: 'GET', path: '/v1/values/dev/bad-input/missing', status: 404, code: 'secret_not_found' },
  ];

  test('every row answers its status and code with the full error envelope', async () => {
    const failures: string[] = [];
    for (const row of rows()) {
      const headers: Record<string, string> = { ...row.headers };
      const auth = row.auth ?? 'root';
      if (auth === 'root') headers.authorization = `Bearer ${server.token}`;
      else if (auth !== 'none') headers.authorization = `Bearer ${auth.literal === 'EXPIRED' ? expiredToken : auth.literal === 'REVOKED' ? revokedToken : auth.literal}`;
      let body: string | undefined;
      if (row.body !== undefined) {
        body = typeof row.body === 'string' ? row.body : JSON.stringify(row.body);
        headers['content-type'] = row.contentType ?? 'application/json';
      }
      const response = await rawRequest(server, row.method, row.path, { headers, body });
      try {
        assertErrorBody(response, row.status, row.code, row.name);
      } catch (error) {
        failures.push((error as Error).message.split('\n')[0]!);
      }
    }
    assert.deepEqual(failures, []);
  });

  test('a 64 KiB header answers 431 with a code and a request id', async () => {
    const response = await rawRequest(server, 'GET', `/v1/values/${existing}`, { headers: { authorization: `Bearer ${server.token}`, 'x-padding': 'p'.repeat(64 * 1024) } });
    assertErrorBody(response, 431, 'header_too_large', '64 KiB header');
  });

  test('a request that is not HTTP answers 400 invalid_request with a request id', async () => {
    const text = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(server.port, '127.0.0.1', () => socket.write('NOT HTTP AT ALL\r\n\r\n'));
      let data = '';
      socket.on('data', (c) => (data += c.toString()));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    const [head, body] = text.split('\r\n\r\n');
    assert.match(head!, /^HTTP\/1\.1 400 /);
    const parsed = JSON.parse(body!);
    assert.equal(parsed.error.code, 'invalid_request');
    assert.match(head!, new RegExp(`x-request-id: ${parsed.error.request_id}`, 'i'));
  });

  test('many concurrent bad requests do not disturb the server', async () => {
    const bad = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      rawRequest(server, 'POST', '/v1/secrets', { headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' }, body: `{"name": "dev/x${i}", "value": ` })));
    for (const r of bad) assertErrorBody(r, 400, 'invalid_json', 'concurrent malformed JSON');
  });

  test('after the whole table the server still serves a normal read and write', async () => {
    const read = await api(server, 'GET', `/v1/values/${existing}`, { token: server.token });
    assert.equal(read.status, 200);
    assert.equal(read.body.value, 'still-here');
    const health = await api(server, 'GET', '/v1/health');
    assert.equal(health.status, 200);
    const d = await api(server, 'GET', `/v1/secrets/${existing}`, { token: server.token });
    assert.equal(d.body.versions.length, 1, 'no bad row wrote a version');
    const list = await api(server, 'GET', '/v1/secrets?prefix=dev/', { token: server.token });
    assert.deepEqual(list.body.secrets.map((s: { name: string }) => s.name), [existing], 'no bad row created a secret');
  });
});

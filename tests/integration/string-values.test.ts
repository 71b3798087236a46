import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateSecretCommand, PutSecretValueCommand, UpdateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { api, startServer, type RunningServer } from '../support/custos-server.js';
import { awsClient, awsError } from '../support/aws.js';
import { assertErrorBody, createSecret, rawRequest } from '../support/http-helpers.js';
import { canonicalRequest, formatAmzDate, sha256Hex, signatureOf, signingKey, stringToSign } from '../../src/crypto/sigv4.js';

/**
 * A string value is Unicode text: a lone surrogate (a `\ud800` escape in JSON) or bytes that are
 * not UTF-8 are refused with `invalid_value` on every write path, never stored as U+FFFD.
 */
describe('string values must be well-formed Unicode', () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.stop();
    server.cleanup();
  });

  /** A JSON body whose `value` field holds raw bytes that are not UTF-8. */
  const invalidUtf8Body = (fields: string) => Buffer.concat([Buffer.from(`{${fields}"value":"ok`), Buffer.from([0xff, 0xc3, 0x28]), Buffer.from('"}')]);

  test('native create, write and create-if-missing refuse a lone surrogate escape', async () => {
    const existing = 'dev/utf/existing';
    await createSecret(server, existing, 'fine');
    for (const [what, path, body] of [
      ['create', '/v1/secrets', '{"name":"dev/utf/new1","value":"a\\ud800b"}'],
      ['create, low surrogate', '/v1/secrets', '{"name":"dev/utf/new2","value":"\\udc00"}'],
      ['write', `/v1/values/${existing}`, '{"value":"x\\udbff"}'],
      ['write creating', '/v1/values/dev/utf/new3', '{"value":"\\ud83d","create_if_missing":{}}'],
    ] as const) {
      assertErrorBody(await api(server, 'POST', path, { token: server.token, rawBody: body }), 400, 'invalid_value', what);
    }
    for (const name of ['dev/utf/new1', 'dev/utf/new2', 'dev/utf/new3']) assert.equal((await api(server, 'GET', `/v1/secrets/${name}`, { token: server.token })).status, 404, `${name} not half-created`);
    assert.equal((await api(server, 'GET', `/v1/values/${existing}`, { token: server.token })).body.value, 'fine', 'no version was added');
    // A well-formed pair is fine and comes back exactly.
    assert.equal((await api(server, 'POST', `/v1/values/${existing}`, { token: server.token, rawBody: '{"value":"\\ud83d\\ude00"}' })).status, 201);
    assert.equal((await api(server, 'GET', `/v1/values/${existing}`, { token: server.token })).body.value, '\u{1F600}');
  });

  test('native writes refuse raw bytes that are not UTF-8', async () => {
    const headers = { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' };
    assertErrorBody(await rawRequest(server, 'POST', '/v1/secrets', { headers, body: invalidUtf8Body('"name":"dev/utf/raw1",') }), 400, 'invalid_value', 'create');
    assert.equal((await api(server, 'GET', '/v1/secrets/dev/utf/raw1', { token: server.token })).status, 404);
    await createSecret(server, 'dev/utf/raw2', 'fine');
    assertErrorBody(await rawRequest(server, 'POST', '/v1/values/dev/utf/raw2', { headers, body: invalidUtf8Body('') }), 400, 'invalid_value', 'write');
    assert.equal((await api(server, 'GET', '/v1/values/dev/utf/raw2', { token: server.token })).body.value, 'fine');
  });

  test('AWS CreateSecret, PutSecretValue and UpdateSecret refuse a lone surrogate in SecretString', async () => {
    const sm = awsClient(server);
    // The SDK serializes a lone surrogate as a \ud800 escape (JSON.stringify is well-formed).
    const created = await awsError(sm.send(new CreateSecretCommand({ Name: 'dev/utf/aws1', SecretString: 'a\ud800' })));
    assert.equal(created.name, 'InvalidParameterException');
    await sm.send(new CreateSecretCommand({ Name: 'dev/utf/aws2', SecretString: 'fine' }));
    assert.equal((await awsError(sm.send(new PutSecretValueCommand({ SecretId: 'dev/utf/aws2', SecretString: '\udfff' })))).name, 'InvalidParameterException');
    assert.equal((await awsError(sm.send(new UpdateSecretCommand({ SecretId: 'dev/utf/aws2', SecretString: 'x\ud800' })))).name, 'InvalidParameterException');
    assert.equal((await api(server, 'GET', '/v1/values/dev/utf/aws2', { token: server.token })).body.value, 'fine');
    assert.equal((await api(server, 'GET', '/v1/secrets/dev/utf/aws1', { token: server.token })).status, 404);
    sm.destroy();
  });

  test('AWS requests whose body bytes are not UTF-8 are refused', async () => {
    const body = Buffer.concat([Buffer.from('{"Name":"dev/utf/aws3","SecretString":"ok'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]);
    const amzDate = formatAmzDate(Date.now());
    const scope = `${amzDate.slice(0, 8)}/us-east-1/secretsmanager/aws4_request`;
    const host = new URL(server.address).host;
    const headers: Record<string, string> = { host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-date': amzDate, 'x-amz-target': 'secretsmanager.CreateSecret' };
    const signed = Object.keys(headers).sort();
    const canonical = canonicalRequest({ method: 'POST', path: '/', query: '', headers, signedHeaders: signed, payloadHash: sha256Hex(body) });
    const signature = signatureOf(signingKey('test', amzDate.slice(0, 8), 'us-east-1', 'secretsmanager'), stringToSign(amzDate, scope, canonical));
    const r = await rawRequest(server, 'POST', '/', { headers: { ...headers, authorization: `AWS4-HMAC-SHA256 Credential=test/${scope}, SignedHeaders=${signed.join(';')}, Signature=${signature}` }, body });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.body.__type, 'InvalidParameterException');
    assert.equal((await api(server, 'GET', '/v1/secrets/dev/utf/aws3', { token: server.token })).status, 404);
  });
});

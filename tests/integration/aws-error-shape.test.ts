import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import SqliteDatabase from 'better-sqlite3';
import { CreateSecretCommand, GetSecretValueCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { startServer, type RunningServer } from '../support/custos-server.js';
import { awsClient, awsError } from '../support/aws.js';

/** Every error an AWS route answers has AWS's shape, including failures after the handler ran. */
describe('AWS error shape on every path', () => {
  let server: RunningServer;
  let sm: ReturnType<typeof awsClient>;

  before(async () => {
    server = await startServer();
    sm = awsClient(server);
  });
  after(async () => {
    sm?.destroy();
    await server?.stop();
    server?.cleanup();
  });

  test('audit log unavailable: reads and writes fail as InternalServiceError with __type and message, never the native envelope', async () => {
    await sm.send(new CreateSecretCommand({ Name: 'dev/audit-down', SecretString: 'audit-down-value' }));
    const side = new SqliteDatabase(path.join(server.dataDir, 'custos.db'));
    side.pragma('busy_timeout = 5000');
    side.exec("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit disk full'); END");
    try {
      const read = await awsError(sm.send(new GetSecretValueCommand({ SecretId: 'dev/audit-down' })));
      assert.equal(read.name, 'InternalServiceError', 'the SDK read __type from the body');
      assert.equal(read.status, 500);
      assert.match(read.message, /audit log could not be written/);
      assert.doesNotMatch(read.message, /disk full|audit-down-value/);
      const write = await awsError(sm.send(new PutSecretValueCommand({ SecretId: 'dev/audit-down', SecretString: 'second' })));
      assert.equal(write.name, 'InternalServiceError');
      // The raw response: AWS's content type and headers, no native `error` object.
      const raw = await fetch(server.address + '/', { method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'secretsmanager.ListSecrets' }, body: '{}' });
      const body = (await raw.json()) as Record<string, unknown>;
      assert.equal(raw.headers.get('content-type'), 'application/x-amz-json-1.1');
      assert.equal(body.__type, 'InternalServiceError', JSON.stringify(body));
      assert.equal(typeof body.message, 'string');
      assert.equal(body.error, undefined);
      assert.equal(raw.headers.get('x-amzn-errortype'), 'InternalServiceError');
      assert.ok(raw.headers.get('x-amzn-requestid'));
    } finally {
      side.exec('DROP TRIGGER refuse_audit');
      side.close();
    }
    assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: 'dev/audit-down' }))).SecretString, 'audit-down-value');
  });

  test('a URL with malformed percent-encoding gets the documented error body and a request id', async () => {
    for (const url of ['/v1/values/dev/%zz', '/%zz', '/v1/secrets/%E0%A4%A']) {
      const response = await fetch(server.address + url);
      assert.equal(response.status, 400, url);
      const requestId = response.headers.get('x-request-id');
      assert.ok(requestId, `${url}: x-request-id header`);
      const body = (await response.json()) as { error: { code: string; message: string; request_id: string } };
      assert.equal(body.error.code, 'invalid_request', url);
      assert.equal(body.error.request_id, requestId);
      assert.match(body.error.message, /malformed/);
    }
  });
});

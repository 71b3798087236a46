import assert from 'node:assert/strict';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { CreateSecretCommand, GetSecretValueCommand, ListSecretsCommand, PutSecretValueCommand, UpdateSecretVersionStageCommand, DescribeSecretCommand } from '@aws-sdk/client-secrets-manager';
import { api, runCli, startServer, type RunningServer } from '../support/custos-server.js';
import { awsClient, awsError, createAwsKey } from '../support/aws.js';
import { eventually } from '../support/http-helpers.js';
import { canonicalRequest, formatAmzDate, sha256Hex, signatureOf, signingKey, stringToSign } from '../../src/crypto/sigv4.js';

/** SigV4 verification, access keys bound to policies, and the dev-only `test`/`test` key. */
describe('AWS API authentication and authorization', () => {
  let server: RunningServer;

  before(async () => {
    server = await startServer();
    const root = awsClient(server);
    await root.send(new CreateSecretCommand({ Name: 'prod/app/db', SecretString: 'prod-value' }));
    await root.send(new CreateSecretCommand({ Name: 'staging/app/db', SecretString: 'staging-value' }));
    root.destroy();
    const policy = JSON.stringify({ rules: [{ path: 'prod/app/**', capabilities: ['read', 'list'] }, { path: 'staging/**', capabilities: ['read', 'list', 'update'] }] });
    const written = await api(server, 'PUT', '/v1/policies/pipeline-read', { token: server.token, body: { document: policy } });
    assert.equal(written.status, 200);
  });
  after(async () => {
    await server?.stop();
    server?.cleanup();
  });

  test('the dev server announces the test/test root key', () => {
    assert.match(server.output(), /dev mode accepts AWS access key "test"/);
  });

  test('a key from `custos aws-key create` signs requests; its secret is printed once and never listed', async () => {
    const created = await runCli(['aws-key', 'create', '--policy', 'pipeline-read', '--display-name', 'airflow', '--json'], { server });
    assert.equal(created.code, 0, created.stderr);
    const key = JSON.parse(created.stdout) as { access_key_id: string; secret_access_key: string };
    assert.match(key.access_key_id, /^AKCU[A-Z2-7]{16}$/);
    assert.ok(key.secret_access_key.length >= 40);
    const sm = awsClient(server, { accessKeyId: key.access_key_id, secretAccessKey: key.secret_access_key });
    assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: 'prod/app/db' }))).SecretString, 'prod-value');
    const listed = await runCli(['aws-key', 'list', '--json'], { server });
    assert.ok(listed.stdout.includes(key.access_key_id));
    assert.ok(!listed.stdout.includes(key.secret_access_key), 'the secret key is shown only on creation');
    const revoked = await runCli(['aws-key', 'revoke', key.access_key_id], { server });
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal((await awsError(sm.send(new GetSecretValueCommand({ SecretId: 'prod/app/db' })))).name, 'UnrecognizedClientException');
    sm.destroy();
  });

  test('a key carries only policies its creator holds, and an env-bound creator makes env-bound keys', async () => {
    const admin = JSON.stringify({ rules: [{ path: 'sys:aws-keys', capabilities: ['create', 'list'] }] });
    assert.equal((await api(server, 'PUT', '/v1/policies/aws-key-admin', { token: server.token, body: { document: admin } })).status, 200);
    const child = await api(server, 'POST', '/v1/tokens', { token: server.token, body: { policies: ['aws-key-admin', 'pipeline-read'], env: 'staging' } });
    assert.equal(child.status, 201);
    const asChild = (body: unknown) => api(server, 'POST', '/v1/aws/keys', { token: child.body.token, body });
    assert.equal((await asChild({ policies: ['root'] })).status, 403);
    assert.equal((await asChild({ policies: ['some-other-policy'] })).status, 403);
    assert.equal((await asChild({ policies: ['pipeline-read'], env: 'prod' })).body.error.code, 'environment_denied');
    const made = await asChild({ policies: ['pipeline-read'] });
    assert.equal(made.status, 201);
    assert.equal(made.body.env, 'staging', 'the env binding is inherited');
    const reader = await api(server, 'POST', '/v1/tokens', { token: server.token, body: { policies: ['pipeline-read'] } });
    assert.equal((await api(server, 'POST', '/v1/aws/keys', { token: reader.body.token, body: { policies: ['pipeline-read'] } })).status, 403, 'needs create on sys:aws-keys');
  });

  test('a policy-limited key: reads allowed, anything else is AccessDeniedException', async () => {
    const key = await createAwsKey(server, ['pipeline-read']);
    const sm = awsClient(server, key);
    try {
      assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: 'prod/app/db' }))).SecretString, 'prod-value');
      const put = await awsError(sm.send(new PutSecretValueCommand({ SecretId: 'prod/app/db', SecretString: 'hijack' })));
      assert.equal(put.name, 'AccessDeniedException');
      assert.equal(put.status, 400);
      assert.equal((await awsError(sm.send(new CreateSecretCommand({ Name: 'prod/app/new', SecretString: 'x' })))).name, 'AccessDeniedException');
      // PutSecretValue with a label other than AWSCURRENT needs `stage` as well as `update`.
      assert.equal((await awsError(sm.send(new PutSecretValueCommand({ SecretId: 'staging/app/db', SecretString: 'p', VersionStages: ['AWSPENDING'] })))).name, 'AccessDeniedException');
      await sm.send(new PutSecretValueCommand({ SecretId: 'staging/app/db', SecretString: 'staging-2' }));
      const d = await sm.send(new DescribeSecretCommand({ SecretId: 'staging/app/db' }));
      const current = Object.entries(d.VersionIdsToStages!).find(([, s]) => s.includes('AWSCURRENT'))![0];
      assert.equal((await awsError(sm.send(new UpdateSecretVersionStageCommand({ SecretId: 'staging/app/db', VersionStage: 'X', MoveToVersionId: current })))).name, 'AccessDeniedException');
      const names = (await sm.send(new ListSecretsCommand({}))).SecretList!.map((s) => s.Name);
      assert.deepEqual(names, ['prod/app/db', 'staging/app/db']);
      const events = (await api(server, 'GET', `/v1/audit/events?principal=aws:${key.accessKeyId}&outcome=denied`, { token: server.token })).body.events as { operation: string }[];
      assert.ok(events.some((e) => e.operation === 'aws.PutSecretValue'), 'denials are audited');
    } finally {
      sm.destroy();
    }
  });

  test('an environment-bound key cannot reach other environments', async () => {
    const key = await createAwsKey(server, ['pipeline-read'], 'staging');
    const sm = awsClient(server, key);
    try {
      assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: 'staging/app/db' }))).SecretString, 'staging-2');
      assert.equal((await awsError(sm.send(new GetSecretValueCommand({ SecretId: 'prod/app/db' })))).name, 'AccessDeniedException');
    } finally {
      sm.destroy();
    }
  });

  test('bad signature, unknown key and clock skew are refused with AWS error types', async () => {
    const key = await createAwsKey(server, ['pipeline-read']);
    const wrong = awsClient(server, { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey + 'x' });
    const unknown = awsClient(server, { accessKeyId: 'AKCUAAAAAAAAAAAAAAAA', secretAccessKey: 'whatever' });
    const skewed = awsClient(server, { ...key, systemClockOffset: -10 * 60_000 });
    const future = awsClient(server, { ...key, systemClockOffset: 10 * 60_000 });
    try {
      const bad = await awsError(wrong.send(new GetSecretValueCommand({ SecretId: 'prod/app/db' })));
      assert.equal(bad.name, 'InvalidSignatureException');
      assert.match(bad.message, /signature we calculated does not match/);
      assert.equal((await awsError(unknown.send(new GetSecretValueCommand({ SecretId: 'prod/app/db' })))).name, 'UnrecognizedClientException');
      const expired = await awsError(skewed.send(new GetSecretValueCommand({ SecretId: 'prod/app/db' })));
      assert.equal(expired.name, 'InvalidSignatureException');
      assert.match(expired.message, /Signature expired/);
      assert.match((await awsError(future.send(new GetSecretValueCommand({ SecretId: 'prod/app/db' })))).message, /Signature not yet current/);
    } finally {
      for (const c of [wrong, unknown, skewed, future]) c.destroy();
    }
    // As against AWS, the SDK corrects its clock from the response's Date header and retries.
    const corrected = awsClient(server, { ...key, systemClockOffset: -10 * 60_000, maxAttempts: 3 });
    try {
      const got = await corrected.send(new GetSecretValueCommand({ SecretId: 'prod/app/db' }));
      assert.equal(got.SecretString, 'prod-value');
      assert.equal(got.$metadata.attempts, 2);
    } finally {
      corrected.destroy();
    }
  });

  test('a tampered body fails the signature check', async () => {
    // Sign a request with the SDK, then alter the body before it is sent.
    const sm = awsClient(server);
    sm.middlewareStack.add((next) => async (args) => {
      // Same length, so only the signature (not Content-Length) can catch it.
      const request = args.request as { body: string | Uint8Array };
      request.body = Buffer.from(request.body).toString('utf8').replace('prod/app/db', 'prod/app/dc');
      return next(args);
    }, { step: 'finalizeRequest', priority: 'low', name: 'tamper' });
    try {
      assert.equal((await awsError(sm.send(new GetSecretValueCommand({ SecretId: 'prod/app/db' })))).name, 'InvalidSignatureException');
    } finally {
      sm.destroy();
    }
  });

  test('a header seen before with another signature is still verified in full', async () => {
    // The first request succeeds, so the server has parsed this key's header once already; the
    // next ones differ from it only in their signatures and must each be checked.
    const good = awsClient(server);
    /** A client whose signature (the header's last 64 characters) is rewritten after signing. */
    const resigned = (rewrite: (signature: string) => string) => {
      const client = awsClient(server);
      client.middlewareStack.add((next) => async (args) => {
        const request = args.request as { headers: Record<string, string> };
        const header = request.headers.authorization!;
        request.headers.authorization = header.slice(0, -64) + rewrite(header.slice(-64));
        return next(args);
      }, { step: 'finalizeRequest', priority: 'low', name: 'rewrite-signature' });
      return client;
    };
    const flipped = resigned((sig) => sig.slice(0, -1) + (sig.endsWith('0') ? '1' : '0'));
    // Not lowercase hex: malformed, as when the header is parsed afresh, though its other fields are known.
    const upper = resigned((sig) => sig.toUpperCase());
    const notHex = resigned((sig) => 'g' + sig.slice(1));
    const read = (client: typeof good) => client.send(new GetSecretValueCommand({ SecretId: 'prod/app/db' }));
    try {
      for (let i = 0; i < 3; i++) assert.equal((await read(good)).SecretString, 'prod-value');
      for (let i = 0; i < 3; i++) assert.equal((await awsError(read(flipped))).name, 'InvalidSignatureException');
      for (const client of [upper, notHex]) {
        assert.equal((await read(good)).SecretString, 'prod-value');
        assert.equal((await awsError(read(client))).name, 'IncompleteSignature');
      }
      assert.equal((await read(good)).SecretString, 'prod-value');
    } finally {
      for (const client of [good, flipped, upper, notHex]) client.destroy();
    }
  });

  test('a body all there at once, one still arriving, and a chunked one are read alike', async () => {
    const parts = ['{"SecretId":', '"prod/app/', 'db"}'];
    for (const [chunked, gapMs] of [[false, 0], [false, 30], [true, 30]] as const) {
      const answer = await sendInPieces(server.address, gapMs === 0 ? [parts.join('')] : parts, { chunked, gapMs });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.SecretString, 'prod-value');
    }
  });

  test('GetSecretValue answers exactly the fields AWS documents, for string and binary secrets', async () => {
    // The SDK tolerates extra or missing fields, so the body on the wire is checked directly:
    // field names, order, the value escaped as JSON, and base64 for binary.
    const root = awsClient(server);
    const textValue = '{"pw":"q\\"uote\\\\back ünï 🔑\\u0001"}';
    const bytes = Buffer.from([0, 1, 250, 255]);
    const text = await root.send(new CreateSecretCommand({ Name: 'prod/app/wire-text', SecretString: textValue }));
    const binary = await root.send(new CreateSecretCommand({ Name: 'prod/app/wire-binary', SecretBinary: bytes }));
    root.destroy();
    for (const [name, created, field, expected] of [
      ['prod/app/wire-text', text, 'SecretString', textValue],
      ['prod/app/wire-binary', binary, 'SecretBinary', bytes.toString('base64')],
    ] as const) {
      const answer = await sendInPieces(server.address, [JSON.stringify({ SecretId: name })], { chunked: false, gapMs: 0 });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual(Object.keys(answer.body), ['ARN', 'Name', 'VersionId', field, 'VersionStages', 'CreatedDate']);
      assert.equal(answer.body.ARN, created.ARN);
      assert.equal(answer.body.Name, name);
      assert.equal(answer.body.VersionId, created.VersionId);
      assert.equal(answer.body[field], expected);
      assert.deepEqual(answer.body.VersionStages, ['AWSCURRENT']);
      assert.ok(typeof answer.body.CreatedDate === 'number' && Math.abs(answer.body.CreatedDate * 1000 - Date.now()) < 60_000, 'epoch seconds');
    }
  });

  test('a body over the limit is refused, whether declared or streamed', async () => {
    const padding = 'x'.repeat(600 * 1024); // the default body limit is 512 KiB
    for (const chunked of [false, true]) {
      const answer = await sendInPieces(server.address, ['{"SecretId":"prod/app/db","Pad":"', padding, '"}'], { chunked, gapMs: 5 });
      assert.equal(answer.status, 400);
      assert.equal(answer.body.__type, 'InvalidParameterException');
      assert.match(String(answer.body.message), /too large/);
    }
  });
  test('a key made by a token expires no later than it and is revoked with it (and with its parent)', async () => {
    const maker = JSON.stringify({ rules: [{ path: 'sys:aws-keys', capabilities: ['create', 'list'] }, { path: 'sys:tokens', capabilities: ['create'] }, { path: 'staging/**', capabilities: ['read'] }] });
    assert.equal((await api(server, 'PUT', '/v1/policies/key-maker', { token: server.token, body: { document: maker } })).status, 200);
    const parent = await api(server, 'POST', '/v1/tokens', { token: server.token, body: { policies: ['key-maker'], ttl: '1h', display_name: 'ci-parent' } });
    const child = await api(server, 'POST', '/v1/tokens', { token: parent.body.token, body: { policies: ['key-maker'], ttl: '30m', display_name: 'ci-job' } });
    assert.equal(child.status, 201, JSON.stringify(child.body));
    const made = await api(server, 'POST', '/v1/aws/keys', { token: child.body.token, body: { policies: ['key-maker'], ttl: '90d' } });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.ok(made.body.expires_at, 'a key made by an expiring token is not permanent');
    assert.ok(Date.parse(made.body.expires_at) <= Date.parse(child.body.expires_at), 'the key never outlives its creator');
    const sm = awsClient(server, { accessKeyId: made.body.access_key_id, secretAccessKey: made.body.secret_access_key });
    assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: 'staging/app/db' }))).Name, 'staging/app/db');
    const listed = (await api(server, 'GET', '/v1/aws/keys', { token: server.token })).body.keys.find((k: { access_key_id: string }) => k.access_key_id === made.body.access_key_id);
    assert.equal(listed.created_by, child.body.accessor);
    assert.equal(listed.created_by_name, 'ci-job');
    assert.equal(listed.expires_at, made.body.expires_at);
    // Revoking the creator's parent revokes the creator's subtree, and the keys they made.
    assert.equal((await api(server, 'POST', '/v1/tokens/revoke', { token: server.token, body: { accessor: parent.body.accessor } })).status, 200);
    assert.equal((await awsError(sm.send(new GetSecretValueCommand({ SecretId: 'staging/app/db' })))).name, 'UnrecognizedClientException');
    const after = (await api(server, 'GET', '/v1/aws/keys', { token: server.token })).body.keys.find((k: { access_key_id: string }) => k.access_key_id === made.body.access_key_id);
    assert.equal(after.revoked, true);
    sm.destroy();
  });

  test('keys take an explicit expiry; an expired key fails with ExpiredTokenException; root-made keys may be permanent', async () => {
    const permanent = await api(server, 'POST', '/v1/aws/keys', { token: server.token, body: { policies: ['pipeline-read'] } });
    assert.equal(permanent.body.expires_at, null);
    const short = await api(server, 'POST', '/v1/aws/keys', { token: server.token, body: { policies: ['pipeline-read'], ttl: 1 } });
    assert.equal(short.status, 201, JSON.stringify(short.body));
    const sm = awsClient(server, { accessKeyId: short.body.access_key_id, secretAccessKey: short.body.secret_access_key });
    let failure: { name: string; message: string } | undefined;
    await eventually('the key expires', async () => {
      failure = await sm.send(new GetSecretValueCommand({ SecretId: 'prod/app/db' })).then(() => undefined, (error: { name: string; message: string }) => error);
      return failure !== undefined;
    });
    assert.equal(failure!.name, 'ExpiredTokenException');
    assert.equal((await api(server, 'POST', '/v1/aws/keys', { token: server.token, body: { policies: ['pipeline-read'], ttl: '0s' } })).body.error.code, 'validation_failed');
    sm.destroy();

    const created = await runCli(['aws-key', 'create', '--policy', 'pipeline-read', '--ttl', '30d', '--display-name', 'nightly', '--json'], { server });
    assert.equal(created.code, 0, created.stderr);
    const key = JSON.parse(created.stdout) as { access_key_id: string; expires_at: string };
    const days = (Date.parse(key.expires_at) - Date.now()) / 86_400_000;
    assert.ok(days > 29.9 && days <= 30, `expires in 30 days, got ${days}`);
    const table = await runCli(['aws-key', 'list'], { server });
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /CREATED BY/);
    assert.match(table.stdout, /EXPIRES/);
    const row = table.stdout.split('\n').find((l) => l.startsWith(key.access_key_id))!;
    assert.ok(row.includes('root') && row.includes(key.expires_at), row);
  });

  test('an AWS deny does not name the policy or rule that denied it', async () => {
    const policy = JSON.stringify({ rules: [{ path: 'staging/**', capabilities: ['read', 'list'] }, { path: 'staging/app/*', deny: true }] });
    assert.equal((await api(server, 'PUT', '/v1/policies/aws-deny-p1', { token: server.token, body: { document: policy } })).status, 200);
    const key = await createAwsKey(server, ['aws-deny-p1']);
    const sm = awsClient(server, key);
    const denied = await awsError(sm.send(new GetSecretValueCommand({ SecretId: 'staging/app/db' })));
    assert.equal(denied.name, 'AccessDeniedException');
    for (const leak of ['aws-deny-p1', 'staging/app/*', 'rule', 'policy']) assert.ok(!denied.message.includes(leak), `the message reveals ${leak}: ${denied.message}`);
    sm.destroy();
  });
});

/**
 * A GetSecretValue signed with the dev key and sent in pieces: `parts` are written `gapMs` apart,
 * chunked when `chunked`, so the server reads a body that is not all there when it asks for it.
 */
async function sendInPieces(address: string, parts: string[], options: { chunked: boolean; gapMs: number }): Promise<{ status: number; body: Record<string, unknown> }> {
  const body = parts.join('');
  const url = new URL(address);
  const amzDate = formatAmzDate(Date.now());
  const headers: Record<string, string> = { 'content-type': 'application/x-amz-json-1.1', host: url.host, 'x-amz-date': amzDate, 'x-amz-target': 'secretsmanager.GetSecretValue' };
  const signed = Object.keys(headers).sort();
  const scope = `${amzDate.slice(0, 8)}/us-east-1/secretsmanager/aws4_request`;
  const canonical = canonicalRequest({ method: 'POST', path: '/', query: '', headers, signedHeaders: signed, payloadHash: sha256Hex(body) });
  const signature = signatureOf(signingKey('test', amzDate.slice(0, 8), 'us-east-1', 'secretsmanager'), stringToSign(amzDate, scope, canonical));
  const sent = { ...headers, authorization: `AWS4-HMAC-SHA256 Credential=test/${scope}, SignedHeaders=${signed.join(';')}, Signature=${signature}`, ...(options.chunked ? {} : { 'content-length': String(Buffer.byteLength(body)) }) };
  // A server that refuses a body early may close the connection while the rest is still being
  // written. Once its answer is in, the client's write error (EPIPE, ECONNRESET) says nothing more;
  // if it comes first, the answer is lost with the socket and the request is sent again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await sendOnce(url, sent, parts, options.gapMs);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (attempt >= 3 || (code !== 'EPIPE' && code !== 'ECONNRESET')) throw error;
    }
  }
}

function sendOnce(url: URL, headers: Record<string, string>, parts: string[], gapMs: number): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const request = http.request({ host: url.hostname, port: url.port, path: '/', method: 'POST', headers }, (response) => {
      answered = true;
      let text = '';
      response.on('error', reject); // reset while the answer was arriving: ECONNRESET, sent again
      response.setEncoding('utf8');
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, body: JSON.parse(text) as Record<string, unknown> }));
    });
    request.on('error', (error) => {
      if (!answered) reject(error);
    });
    void (async () => {
      for (const part of parts) {
        if (answered || request.destroyed) return;
        request.write(part);
        await sleep(gapMs);
      }
      request.end();
    })();
  });
}

describe('outside --dev the test/test key is refused', () => {
  let server: RunningServer;
  after(async () => {
    await server?.stop();
    server?.cleanup();
  });

  test('test/test is an unknown key on a production server', async () => {
    server = await startServer({ dev: false });
    const init = await api(server, 'POST', '/v1/sys/init', { body: { shares: 1, threshold: 1 } });
    assert.equal(init.status, 200, JSON.stringify(init.body));
    const unseal = await api(server, 'POST', '/v1/sys/unseal', { body: { key: init.body.keys[0] } });
    assert.equal(unseal.body.sealed, false);
    assert.doesNotMatch(server.output(), /accepts AWS access key "test"/);
    const sm = awsClient(server);
    try {
      assert.equal((await awsError(sm.send(new ListSecretsCommand({})))).name, 'UnrecognizedClientException');
      const key = await createAwsKey({ address: server.address, token: init.body.root_token }, ['root']);
      const real = awsClient(server, key);
      assert.deepEqual((await real.send(new ListSecretsCommand({}))).SecretList, []);
      // Sealed: AWS clients get an AWS-shaped 503 they know to retry, not the native envelope.
      assert.equal((await api(server, 'POST', '/v1/sys/seal', { token: init.body.root_token })).body.sealed, true);
      const sealed = await awsError(real.send(new ListSecretsCommand({})));
      assert.equal(sealed.name, 'ServiceUnavailableException');
      assert.equal(sealed.status, 503);
      real.destroy();
    } finally {
      sm.destroy();
    }
  });
});

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { api, repoRoot, startServer, type RunningServer } from '../support/custos-server.js';
import { createAwsKey } from '../support/aws.js';

const hasBoto3 = spawnSync('python3', ['-c', 'import boto3'], { stdio: 'ignore' }).status === 0;
const hasAwsCli = spawnSync('aws', ['--version'], { stdio: 'ignore' }).status === 0;
// On a developer machine a missing client skips its test; CI installs both, so there a missing
// one fails the run instead of silently testing less.
const inCi = !!process.env.CI;
const skipWithout = (installed: boolean, reason: string): false | string => (installed || inCi ? false : reason);

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** boto3 and the aws CLI, changing nothing but the endpoint and credentials (environment variables). */
describe('AWS API via boto3 and the aws CLI', () => {
  let server: RunningServer;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    server = await startServer();
    const key = await createAwsKey(server, ['root']);
    env = {
      PATH: process.env.PATH, HOME: server.home, AWS_ENDPOINT_URL: server.address, AWS_ACCESS_KEY_ID: key.accessKeyId,
      AWS_SECRET_ACCESS_KEY: key.secretAccessKey, AWS_DEFAULT_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true', AWS_PAGER: '',
      ...(process.env.PYENV_ROOT ? { PYENV_ROOT: process.env.PYENV_ROOT } : {}),
    };
  });
  after(async () => {
    await server?.stop();
    server?.cleanup();
  });

  test('examples/python/custos_secrets_client.py: TTL cache over GetSecretValue', { skip: skipWithout(hasBoto3, 'python3 boto3 is not installed (CI installs python3-boto3)') }, async () => {
    assert.ok(hasBoto3, 'python3 cannot import boto3: .ci/run installs python3-boto3');
    const result = await run('python3', [path.join(repoRoot, 'examples/python/custos_secrets_client.py')], env);
    assert.equal(result.code, 0, result.stderr + result.stdout);
    assert.match(result.stdout, /read twice, fetched 1 time\(s\)/);
    assert.match(result.stdout, /missing secret -> ResourceNotFoundException/);
    assert.match(result.stdout, /^OK$/m);
  });

  test('the examples never overwrite an existing secret (also a non-JSON one) and leave none of their own behind', { skip: skipWithout(hasBoto3, 'python3 boto3 is not installed (CI installs python3-boto3)') }, async () => {
    assert.ok(hasBoto3, 'python3 cannot import boto3: .ci/run installs python3-boto3');
    const keep = await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name: 'examples/keep-me', value: 'not json, and mine' } });
    assert.equal(keep.status, 201, JSON.stringify(keep.body));
    for (const example of ['custos_secrets_client.py', 'rotation_walkthrough.py']) {
      const result = await run('python3', [path.join(repoRoot, 'examples/python', example), 'examples/keep-me'], env);
      assert.equal(result.code, 2, `${example}: ${result.stderr}${result.stdout}`);
      assert.match(result.stderr, /refusing to run: secret examples\/keep-me already exists/);
      assert.doesNotMatch(result.stderr, /Traceback/);
    }
    const after = await api(server, 'GET', '/v1/versions/examples/keep-me', { token: server.token });
    assert.equal(after.body.versions.length, 1, 'no version was added');
    assert.equal((await api(server, 'GET', '/v1/values/examples/keep-me', { token: server.token })).body.value, 'not json, and mine');
    const listed = await api(server, 'GET', '/v1/secrets?prefix=examples/', { token: server.token });
    assert.deepEqual(listed.body.secrets.map((x: { name: string }) => x.name), ['examples/keep-me'], 'each run deleted the secret it created');
  });

  test('examples/python/rotation_walkthrough.py: AWSPENDING, promotion, new AWSCURRENT', { skip: skipWithout(hasBoto3, 'python3 boto3 is not installed (CI installs python3-boto3)') }, async () => {
    assert.ok(hasBoto3, 'python3 cannot import boto3: .ci/run installs python3-boto3');
    const result = await run('python3', [path.join(repoRoot, 'examples/python/rotation_walkthrough.py')], env);
    assert.equal(result.code, 0, result.stderr + result.stdout);
    assert.match(result.stdout, /promoted: AWSCURRENT=\S+ AWSPREVIOUS=\S+/);
    assert.match(result.stdout, /^OK$/m);
    // Running it again is as safe: a fresh secret, deleted again.
    const again = await run('python3', [path.join(repoRoot, 'examples/python/rotation_walkthrough.py')], env);
    assert.equal(again.code, 0, again.stderr + again.stdout);
  });

  test('aws secretsmanager create-secret / get-secret-value / put-secret-value / list-secrets', { skip: skipWithout(hasAwsCli, 'the aws CLI is not installed (Debian package awscli)') }, async () => {
    assert.ok(hasAwsCli, 'no aws CLI on PATH: .ci/run installs the Debian package awscli');
    const aws = (...args: string[]) => run('aws', ['secretsmanager', ...args, '--endpoint-url', server.address, '--output', 'json'], env);
    const created = await aws('create-secret', '--name', 'ci/deploy-token', '--secret-string', 'first-token', '--description', 'from the CLI');
    assert.equal(created.code, 0, created.stderr);
    assert.match(JSON.parse(created.stdout).ARN, /:secret:ci\/deploy-token-/);
    const put = await aws('put-secret-value', '--secret-id', 'ci/deploy-token', '--secret-string', 'second-token');
    assert.equal(put.code, 0, put.stderr);
    assert.deepEqual(JSON.parse(put.stdout).VersionStages, ['AWSCURRENT']);
    const got = await aws('get-secret-value', '--secret-id', 'ci/deploy-token');
    assert.equal(got.code, 0, got.stderr);
    assert.equal(JSON.parse(got.stdout).SecretString, 'second-token');
    const previous = await aws('get-secret-value', '--secret-id', 'ci/deploy-token', '--version-stage', 'AWSPREVIOUS');
    assert.equal(JSON.parse(previous.stdout).SecretString, 'first-token');
    const listed = await aws('list-secrets', '--filters', 'Key=name,Values=ci/');
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(JSON.parse(listed.stdout).SecretList.map((s: { Name: string }) => s.Name), ['ci/deploy-token']);
    const missing = await aws('get-secret-value', '--secret-id', 'ci/nothing');
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /ResourceNotFoundException/);
  });
});

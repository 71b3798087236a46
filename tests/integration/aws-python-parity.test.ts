import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { startServer, type RunningServer } from '../support/custos-server.js';
import { createAwsKey } from '../support/aws.js';

// boto3 sees the same answers as the JS SDK: codes from __type, messages, idempotent deletes, resource policies.
const SCRIPT = String.raw`
import json, boto3, botocore
sm = boto3.client("secretsmanager")
def err(fn, **kw):
    try:
        fn(**kw)
    except botocore.exceptions.ClientError as e:
        return [e.response["Error"]["Code"], e.response["Error"]["Message"]]
    raise SystemExit("expected an error from %s" % fn.__name__)
out = {}
out["missing"] = err(sm.get_secret_value, SecretId="py/none")
sm.create_secret(Name="py/one", SecretString="v")
out["exists"] = err(sm.create_secret, Name="py/one", SecretString="x")
out["novalue"] = err(sm.put_secret_value, SecretId="py/one")
out["filterkey"] = err(sm.list_secrets, Filters=[{"Key": "colour", "Values": ["x"]}])
out["password"] = err(sm.get_random_password, PasswordLength=5000)
out["forced"] = sm.delete_secret(SecretId="py/never", ForceDeleteWithoutRecovery=True)["Name"]
out["restored"] = sm.restore_secret(SecretId="py/one")["Name"]
doc = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::123456789012:user/AKCUNOBODY0000000000"}, "Action": "secretsmanager:*", "Resource": "*"}]})
sm.put_resource_policy(SecretId="py/one", ResourcePolicy=doc)
out["policy"] = sm.get_resource_policy(SecretId="py/one")["ResourcePolicy"] == doc
out["validate"] = sm.validate_resource_policy(ResourcePolicy="{")["PolicyValidationPassed"]
out["malformed"] = err(sm.put_resource_policy, SecretId="py/one", ResourcePolicy="{}")[0]
out["tags"] = sm.describe_secret(SecretId="py/one")["Tags"]
print(json.dumps(out))
`;

describe('AWS parity via boto3', () => {
  let server: RunningServer;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    server = await startServer();
    const key = await createAwsKey(server, ['root']);
    env = {
      PATH: process.env.PATH, HOME: server.home, AWS_ENDPOINT_URL: server.address, AWS_ACCESS_KEY_ID: key.accessKeyId, AWS_SECRET_ACCESS_KEY: key.secretAccessKey,
      AWS_DEFAULT_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true', ...(process.env.PYENV_ROOT ? { PYENV_ROOT: process.env.PYENV_ROOT } : {}),
    };
  });
  after(async () => {
    await server?.stop();
    server?.cleanup();
  });

  test('error codes and messages, idempotent deletes and resource policies as boto3 reads them', () => {
    const run = spawnSync('python3', ['-c', SCRIPT], { env, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr + run.stdout);
    const out = JSON.parse(run.stdout);
    assert.deepEqual(out.missing, ['ResourceNotFoundException', "Secrets Manager can't find the specified secret."]);
    assert.deepEqual(out.exists, ['ResourceExistsException', 'The operation failed because the secret py/one already exists.']);
    assert.deepEqual(out.novalue, ['InvalidRequestException', 'You must provide either SecretString or SecretBinary.']);
    assert.equal(out.filterkey[0], 'ValidationException');
    assert.equal(out.password[0], 'ValidationException');
    assert.equal(out.forced, 'py/never');
    assert.equal(out.restored, 'py/one');
    assert.equal(out.policy, true);
    assert.equal(out.validate, false);
    assert.equal(out.malformed, 'MalformedPolicyDocumentException');
    assert.deepEqual(out.tags, []);
  });
});

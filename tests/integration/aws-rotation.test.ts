import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CancelRotateSecretCommand, CreateSecretCommand, DescribeSecretCommand, GetSecretValueCommand, RotateSecretCommand,
} from '@aws-sdk/client-secrets-manager';
import { startPostgresCluster, type PostgresCluster } from '../support/postgres-cluster.js';
import { api, runCli, startServer, type RunningServer } from '../support/custos-server.js';
import { awsClient, awsError } from '../support/aws.js';
import { canLogin, credValue, waitRotationDone, type PgCred } from '../support/rotation-fixture.js';

/**
 * RotateSecret / CancelRotateSecret through the real AWS SDK drive the rotation engine: the
 * rotator is the one `custos rotation set` configured (Custos runs no Lambdas).
 */
let cluster: PostgresCluster;
let server: RunningServer;

before(async () => {
  cluster = await startPostgresCluster();
  server = await startServer({ env: { CUSTOS_ROTATION_TICK_SECONDS: '0.3' } });
});

after(async () => {
  await server?.stop();
  server?.cleanup();
  await cluster?.stop();
});

test('RotateSecret with RotationRules schedules and rotates a real PostgreSQL password; DescribeSecret reports it; Cancel turns it off', async () => {
  const db = await cluster.createDatabase('aws_rotate');
  const initial: PgCred = { host: cluster.host, port: cluster.port, dbname: db.database, username: db.user, password: db.password };
  const sm = awsClient(server);
  await sm.send(new CreateSecretCommand({ Name: 'prod/aws-rot/db', SecretString: credValue(initial) }));

  // Without a configured rotator there is nothing to run: a clear error, not a fake success.
  const unconfigured = await awsError(sm.send(new RotateSecretCommand({ SecretId: 'prod/aws-rot/db' })));
  assert.equal(unconfigured.name, 'InvalidRequestException');
  assert.match(unconfigured.message, /custos rotation set/);
  const lambda = await awsError(sm.send(new RotateSecretCommand({ SecretId: 'prod/aws-rot/db', RotationLambdaARN: 'arn:aws:lambda:us-east-1:123456789012:function:rot' })));
  assert.equal(lambda.name, 'InvalidRequestException');

  const set = await api(server, 'PUT', '/v1/rotation/prod/aws-rot/db', { token: server.token, body: { settings: { rotator: 'postgres', settle_seconds: 0 } } });
  assert.equal(set.status, 200, JSON.stringify(set.body));

  const badRules = await awsError(sm.send(new RotateSecretCommand({ SecretId: 'prod/aws-rot/db', RotationRules: { ScheduleExpression: 'every tuesday' } })));
  assert.equal(badRules.name, 'InvalidParameterException');

  const rotated = await sm.send(new RotateSecretCommand({ SecretId: 'prod/aws-rot/db', RotationRules: { AutomaticallyAfterDays: 30 } }));
  assert.ok(rotated.VersionId, 'RotateSecret returns the new version id');
  const status = await waitRotationDone(server, server.token, 'prod/aws-rot/db');
  assert.equal(status.latest.status, 'succeeded', JSON.stringify(status.latest));
  assert.equal(status.latest.token, rotated.VersionId);

  const current = await sm.send(new GetSecretValueCommand({ SecretId: 'prod/aws-rot/db' }));
  assert.equal(current.VersionId, rotated.VersionId, 'AWSCURRENT is the rotated version');
  const cred = JSON.parse(current.SecretString!) as PgCred;
  assert.notEqual(cred.password, initial.password);
  assert.equal(await canLogin(cred), true, 'the new AWSCURRENT password logs in');
  assert.equal(await canLogin(initial), false, 'the old password no longer does');

  const described = await sm.send(new DescribeSecretCommand({ SecretId: 'prod/aws-rot/db' }));
  assert.equal(described.RotationEnabled, true);
  assert.equal(described.RotationRules?.AutomaticallyAfterDays, 30);
  assert.ok(described.LastRotatedDate instanceof Date);
  assert.ok(described.NextRotationDate instanceof Date && described.NextRotationDate.getTime() > Date.now() + 29 * 86_400_000);

  // A cron() rule in AWS's 6-field form becomes the engine's 5-field schedule, without rotating now.
  await sm.send(new RotateSecretCommand({ SecretId: 'prod/aws-rot/db', RotationRules: { ScheduleExpression: 'cron(0 2 ? * SUN *)' }, RotateImmediately: false }));
  const settings = await api(server, 'GET', '/v1/rotation-status/prod/aws-rot/db', { token: server.token });
  assert.equal(settings.body.settings.cron, '0 2 * * SUN');
  assert.equal(settings.body.settings.every_seconds, undefined);

  // AWS numbers days of the week from Sunday = 1 (the engine from Sunday = 0): 1 is Sunday here too.
  await sm.send(new RotateSecretCommand({ SecretId: 'prod/aws-rot/db', RotationRules: { ScheduleExpression: 'cron(0 2 ? * 1 *)' }, RotateImmediately: false }));
  const sunday = await sm.send(new DescribeSecretCommand({ SecretId: 'prod/aws-rot/db' }));
  assert.equal(sunday.RotationRules?.ScheduleExpression, 'cron(0 2 ? * 1 *)', 'the expression is echoed as sent');
  assert.equal(sunday.NextRotationDate?.getUTCDay(), 0);
  assert.equal(sunday.NextRotationDate?.getUTCHours(), 2);
  const tooOften = await awsError(sm.send(new RotateSecretCommand({ SecretId: 'prod/aws-rot/db', RotationRules: { ScheduleExpression: 'rate(1 hour)' }, RotateImmediately: false })));
  assert.equal(tooOften.name, 'InvalidParameterException');

  await sm.send(new CancelRotateSecretCommand({ SecretId: 'prod/aws-rot/db' }));
  const cancelled = await sm.send(new DescribeSecretCommand({ SecretId: 'prod/aws-rot/db' }));
  assert.equal(cancelled.RotationEnabled, undefined, 'automatic rotation is off');
  const after = await api(server, 'GET', '/v1/rotation-status/prod/aws-rot/db', { token: server.token });
  assert.equal(after.body.settings.rotator, 'postgres', 'the rotator stays configured for rotate-now');
  assert.equal(after.body.next_due_at, null);
});

test('RotateSecret rotates a standalone secret in the region of the request, and only that secret', async () => {
  const db = await cluster.createDatabase('aws_rotate_west');
  const initial: PgCred = { host: cluster.host, port: cluster.port, dbname: db.database, username: db.user, password: db.password };
  const west = awsClient(server, { region: 'eu-west-1' });
  const east = awsClient(server, { region: 'us-east-1' });
  const name = 'prod/aws-rot/regional';
  const created = await west.send(new CreateSecretCommand({ Name: name, SecretString: credValue(initial) }));
  assert.match(created.ARN!, /:eu-west-1:/);
  // The same name in the default region is another secret; rotating the west one must not touch it.
  await east.send(new CreateSecretCommand({ Name: name, SecretString: 'east-value' }));

  const unconfigured = await awsError(west.send(new RotateSecretCommand({ SecretId: name })));
  assert.equal(unconfigured.name, 'InvalidRequestException');
  assert.match(unconfigured.message, /--region eu-west-1/, 'the hint names the region to configure');

  const badRegion = await api(server, 'PUT', `/v1/rotation/${name}?region=not%20a%20region`, { token: server.token, body: { settings: { rotator: 'postgres', settle_seconds: 0 } } });
  assert.equal(badRegion.status, 400);
  const set = await api(server, 'PUT', `/v1/rotation/${name}?region=eu-west-1`, { token: server.token, body: { settings: { rotator: 'postgres', settle_seconds: 0 } } });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  assert.equal(set.body.region, 'eu-west-1');
  const eastStatus = await api(server, 'GET', `/v1/rotation-status/${name}`, { token: server.token });
  assert.equal(eastStatus.body.settings, null, 'configuring the west secret leaves the east one without a rotator');

  const rotated = await west.send(new RotateSecretCommand({ SecretId: name, RotationRules: { AutomaticallyAfterDays: 30 } }));
  assert.ok(rotated.VersionId);
  assert.equal(rotated.ARN, created.ARN);
  const status = await waitRotationDone(server, server.token, `${name}?region=eu-west-1`);
  assert.equal(status.latest.status, 'succeeded', JSON.stringify(status.latest));
  assert.equal(status.latest.token, rotated.VersionId);

  const current = await west.send(new GetSecretValueCommand({ SecretId: name }));
  assert.equal(current.VersionId, rotated.VersionId, 'AWSCURRENT in eu-west-1 is the rotated version');
  const cred = JSON.parse(current.SecretString!) as PgCred;
  assert.notEqual(cred.password, initial.password);
  assert.equal(await canLogin(cred), true, 'the new password logs in');
  assert.equal(await canLogin(initial), false, 'the old one no longer does');
  const previous = await west.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPREVIOUS' }));
  assert.equal(previous.VersionId, created.VersionId);

  const eastNow = await east.send(new GetSecretValueCommand({ SecretId: name }));
  assert.equal(eastNow.SecretString, 'east-value', 'the default-region secret of the same name is untouched');
  const eastDescribed = await east.send(new DescribeSecretCommand({ SecretId: name }));
  assert.equal(eastDescribed.RotationEnabled, undefined);
  const westDescribed = await west.send(new DescribeSecretCommand({ SecretId: name }));
  assert.equal(westDescribed.RotationEnabled, true);
  assert.ok(westDescribed.LastRotatedDate instanceof Date);

  // The listing names the region; Cancel works in that region too.
  const listed = await api(server, 'GET', '/v1/rotations', { token: server.token });
  assert.ok(listed.body.secrets.some((s: { secret: string; region: string }) => s.secret === name && s.region === 'eu-west-1'), JSON.stringify(listed.body));
  await west.send(new CancelRotateSecretCommand({ SecretId: name }));
  assert.equal((await west.send(new DescribeSecretCommand({ SecretId: name }))).RotationEnabled, undefined);
  const cli = await runCli(['rotation', 'history', name, '--region', 'eu-west-1', '--json'], { server, env: { CUSTOS_TOKEN: server.token } });
  assert.equal(cli.code, 0, cli.stderr);
  assert.equal(JSON.parse(cli.stdout).rotations[0].token, rotated.VersionId, 'the CLI reaches the regional secret with --region');
  const history = await api(server, 'GET', `/v1/rotation-history/${name}?region=eu-west-1`, { token: server.token });
  assert.equal(history.body.rotations.length, 1);
  assert.equal((await api(server, 'GET', `/v1/rotation-history/${name}`, { token: server.token })).body.rotations.length, 0);
});

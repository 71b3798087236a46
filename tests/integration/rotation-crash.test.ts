import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgresCluster, type PostgresCluster } from '../support/postgres-cluster.js';
import { api, startServer, type RunningServer } from '../support/custos-server.js';
import { canLogin, credValue, labelsOf, readCred, rootToken, waitRotationDone, type PgCred } from '../support/rotation-fixture.js';

/**
 * Crash safety: the server is killed with SIGKILL at each phase of a rotation, using the
 * documented fault-injection option CUSTOS_ROTATION_FAULT (crash-before:<step> dies with the
 * phase recorded but not run; crash-after:<step> dies right after the phase was persisted).
 * After a restart the run resumes at its recorded phase and completes; CURRENT always logs
 * in and no PENDING is left behind.
 */
let cluster: PostgresCluster;

before(async () => {
  cluster = await startPostgresCluster();
});

after(async () => {
  await cluster?.stop();
});

const FAULTS = ['crash-before:create', 'crash-before:set', 'crash-before:test', 'crash-before:finish', 'crash-after:set', 'crash-after:finish'];

for (const fault of FAULTS) {
  test(`kill -9 at ${fault}: the rotation resumes after restart and completes`, async () => {
    const db = await cluster.createDatabase();
    const initial: PgCred = { host: cluster.host, port: cluster.port, dbname: db.database, username: db.user, password: db.password };
    let server: RunningServer = await startServer({ env: { CUSTOS_ROTATION_FAULT: fault }, logLevel: 'warn' });
    const { dataDir, home } = server;
    try {
      const token = server.token;
      await api(server, 'POST', '/v1/secrets', { token, body: { name: 'prod/crash/db', value: credValue(initial) } });
      // Single user changing its own password: the hardest case to re-run after a crash,
      // because once `set` ran the CURRENT password no longer logs in.
      const set = await api(server, 'PUT', '/v1/rotation/prod/crash/db', { token, body: { settings: { rotator: 'postgres' } } });
      assert.equal(set.status, 200);
      await api(server, 'POST', '/v1/rotate/prod/crash/db', { token }).catch(() => undefined);
      const code = await new Promise<string | null>((resolve) => {
        if (server.process.exitCode !== null || server.process.signalCode !== null) return resolve(server.process.signalCode);
        server.process.once('exit', (_c, signal) => resolve(signal));
      });
      assert.equal(code, 'SIGKILL', 'the fault killed the server');
      assert.match(server.output(), new RegExp(`rotation fault injection \\(${fault}\\)`));

      server = await startServer({ dataDir, home, logLevel: 'warn' });
      const token2 = rootToken(server);
      const status = await waitRotationDone(server, token2, 'prod/crash/db');
      assert.equal(status.latest.status, 'succeeded', JSON.stringify(status.latest));
      const current = await readCred(server, token2, 'prod/crash/db');
      assert.equal(current.versionId, status.latest.token, 'CURRENT is the rotated version');
      assert.equal(await canLogin(current.cred!), true, 'CURRENT logs in');
      assert.equal(await canLogin(initial), false, 'the old password is gone');
      assert.equal((await labelsOf(server, token2, 'prod/crash/db')).PENDING, undefined, 'no PENDING left behind');
    } finally {
      await server.stop();
      server.cleanup();
    }
  });
}

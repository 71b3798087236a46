import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { createApiClient } from '../../src/sdk/api-client.js';
import { CustosClient } from '../../src/sdk/custos-client.js';
import { createRotatingPgPool } from '../../src/sdk/pg-pool.js';
import { startPostgresCluster, type PostgresCluster } from '../support/postgres-cluster.js';
import { startServer, type RunningServer } from '../support/custos-server.js';

describe('rotation-aware pg pool against a real PostgreSQL', () => {
  let cluster: PostgresCluster;
  let server: RunningServer;
  let root: ReturnType<typeof createApiClient>;
  let db: { database: string; user: string; password: string };
  const secret = 'prod/warehouse/etl-db';

  const alterPassword = async (password: string) => {
    const admin = new pg.Client({ host: cluster.host, port: cluster.port, user: cluster.superuser, password: cluster.superPassword, database: 'postgres' });
    await admin.connect();
    try {
      await admin.query(`ALTER ROLE ${admin.escapeIdentifier(db.user)} PASSWORD ${admin.escapeLiteral(password)}`);
    } finally {
      await admin.end();
    }
  };
  const secretValue = (password: string) => JSON.stringify({ engine: 'postgres', host: cluster.host, port: cluster.port, dbname: db.database, username: db.user, password });

  before(async () => {
    [cluster, server] = await Promise.all([startPostgresCluster(), startServer({ logLevel: 'warn' })]);
    root = createApiClient({ address: server.address, token: server.token });
    db = await cluster.createDatabase();
    await root.createSecret({ name: secret, value: secretValue(db.password) });
  });
  after(async () => {
    await server.stop();
    server.cleanup();
    await cluster.stop();
  });

  test('queries keep succeeding while the password is rotated underneath, including the PENDING window', async () => {
    const changes: { versionId: string; label: string }[] = [];
    const client = new CustosClient({ address: server.address, token: server.token });
    const pool = await createRotatingPgPool({ client, secret, pool: { max: 3 }, maxConnectionAgeMs: 1_000, onCredentialsChanged: (e) => changes.push(e) });
    // A batch job: queries every 40 ms for the whole test; every one must succeed.
    let running = true;
    let ok = 0;
    const failures: unknown[] = [];
    const job = (async () => {
      while (running) {
        try {
          const r = await pool.query<{ n: number }>('SELECT 1 AS n');
          assert.equal(r.rows[0]!.n, 1);
          ok += 1;
        } catch (error) {
          failures.push(error);
        }
        await sleep(40);
      }
    })();
    try {
      const v1 = pool.versionId;
      await sleep(200);

      // Rotation 1, the usual order: the database changes, then CURRENT moves to the new value.
      const pw2 = "N3w p@ss/w:rd?#%&'\"\\";
      await alterPassword(pw2);
      const put2 = await root.putValue(secret, { value: secretValue(pw2) });
      await sleep(1_600); // connections opened with the old password are recycled (1 s) and must reconnect
      assert.notEqual(pool.versionId, v1);
      assert.equal(pool.versionId, put2.version_id);

      // Rotation 2, single-user PENDING window: the database already has the new password,
      // CURRENT still names the old one, PENDING the new one.
      const pw3 = 'third-password-' + Date.now();
      const put3 = await root.putValue(secret, { value: secretValue(pw3), labels: ['PENDING'] });
      await alterPassword(pw3);
      await sleep(1_600);
      assert.equal(pool.versionId, put3.version_id, 'the pool found the PENDING credentials');
      assert.equal((await client.getSecretResult(secret, { forceRefresh: true })).versionId, put2.version_id, 'CURRENT was never moved by the pool');

      // finish: CURRENT moves to the PENDING version; nothing changes for the pool.
      await root.moveLabel(secret, { label: 'CURRENT', moveTo: put3.version_id, removeFrom: put2.version_id });
      await sleep(300);
    } finally {
      running = false;
      await job;
    }
    assert.deepEqual(failures, []);
    assert.ok(ok > 20, `the job ran (${ok} queries)`);
    assert.deepEqual(changes.map((c) => c.label), ['CURRENT', 'PENDING']);
    assert.equal(pool.credentialSwitches, 2);

    // Credentials nobody knows: the auth error surfaces (no loop, no hang).
    await alterPassword('unknown-to-custos');
    await sleep(1_600);
    await assert.rejects(pool.query('SELECT 1'), (e: unknown) => (e as { code?: string }).code === '28P01');
    await pool.end();
  });
});

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { startPostgresCluster, type PostgresCluster } from './postgres-cluster.js';

let cluster: PostgresCluster;

before(async () => {
  cluster = await startPostgresCluster();
});

after(async () => {
  await cluster?.stop();
});

/**
 * Connects with a password-less URL plus a separate password. Note: pg.Client({ connectionString, password })
 * does NOT work for this — pg lets the URL's empty password override the `password` option.
 */
function clientFor(url: string, password: string): pg.Client {
  const u = new URL(url);
  return new pg.Client({
    host: u.hostname,
    port: Number(u.port),
    user: decodeURIComponent(u.username),
    database: decodeURIComponent(u.pathname.slice(1)),
    password,
  });
}

async function query(url: string, password: string, sql: string): Promise<pg.QueryResult> {
  const client = clientFor(url, password);
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

test('cluster listens on 127.0.0.1 and the superuser URL carries no password', () => {
  assert.equal(cluster.host, '127.0.0.1');
  assert.ok(cluster.port > 0);
  assert.equal(cluster.superuserUrl(), `postgres://postgres@127.0.0.1:${cluster.port}/postgres`);
  assert.ok(cluster.superPassword.length >= 20);
});

test('createDatabase returns a role that can log in with its password', async () => {
  const db = await cluster.createDatabase();
  assert.match(db.database, /^custos_test_[0-9a-f]+$/);
  assert.equal(new URL(db.url).password, '');
  assert.equal(new URL(db.url).username, db.user);

  const result = await query(db.url, db.password, 'select 1 as one, current_user as who, current_database() as db');
  assert.deepEqual(result.rows, [{ one: 1, who: db.user, db: db.database }]);

  // The role owns its database, so it can create tables in it.
  await query(db.url, db.password, 'create table t (id int primary key)');
});

test('createDatabase accepts a name and rejects unsafe ones', async () => {
  const db = await cluster.createDatabase('custos_named_db');
  assert.equal(db.database, 'custos_named_db');
  await assert.rejects(cluster.createDatabase('bad"; drop'), /invalid database name/);
});

test('a wrong password is rejected by the server (scram, not trust)', async () => {
  const db = await cluster.createDatabase();
  await assert.rejects(query(db.url, 'wrong-password', 'select 1'), (err: unknown) => {
    const e = err as { code?: string; message?: string };
    assert.equal(e.code, '28P01'); // invalid_password
    assert.match(e.message ?? '', /password authentication failed/);
    return true;
  });
  await assert.rejects(query(cluster.superuserUrl(), 'wrong-password', 'select 1'), { code: '28P01' });
});

test('pg_hba.conf has no trust rules', async () => {
  const result = await query(
    cluster.superuserUrl(),
    cluster.superPassword,
    "select type, auth_method from pg_hba_file_rules where auth_method <> 'scram-sha-256' or error is not null",
  );
  assert.deepEqual(result.rows, []);
});

test('stop() shuts the server down, and is idempotent', async () => {
  const db = await cluster.createDatabase();
  await cluster.stop();
  await cluster.stop();
  await assert.rejects(query(db.url, db.password, 'select 1'), { code: 'ECONNREFUSED' });
});

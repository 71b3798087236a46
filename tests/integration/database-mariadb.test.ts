import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mysql from 'mysql2/promise';
import { startMariadb, type MariadbServer } from '../support/mariadb-server.js';
import { api, startServer, type RunningServer } from '../support/custos-server.js';
import { advanceClock } from '../support/auth-helpers.js';
import { eventually } from '../support/http-helpers.js';
import { mysqlDialect } from '../../src/engines/database/dialects.js';
import { renderStatement } from '../../src/engines/database/templates.js';

/**
 * Dynamic MariaDB users against a real `mariadbd` (grant tables on, an admin user of its own):
 * issue, log in, revoke (the login fails), expiry through the sweeper, hostile names and
 * passwords through the MySQL quoting, and MySQL's 32-character user name limit.
 */
let maria: MariadbServer;
let server: RunningServer;
let token: string;
const issued: string[] = [];

async function canLogin(user: string, password: string): Promise<boolean> {
  try {
    const c = await mysql.createConnection({ host: maria.host, port: maria.port, user, password, database: 'app' });
    await c.query('SELECT 1');
    await c.end();
    return true;
  } catch (error) {
    // 1045 access denied, 1044 no access to the database; 1698 for a user that does not exist
    // when MariaDB answers with a decoy auth plugin the client cannot send a password to.
    if ([1044, 1045, 1698].includes((error as { errno?: number }).errno ?? 0)) return false;
    throw error;
  }
}

async function admin<T>(fn: (c: mysql.Connection) => Promise<T>): Promise<T> {
  const c = await mysql.createConnection({ host: maria.host, port: maria.port, user: maria.adminUser, password: maria.adminPassword });
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

const userExists = (name: string) => admin(async (c) => ((await c.query('SELECT 1 FROM mysql.user WHERE user = ?', [name]))[0] as unknown[]).length > 0);

describe('database engine on MariaDB', () => {
  before(async () => {
    maria = await startMariadb();
    server = await startServer({ env: { CUSTOS_TESTING_CLOCK: '1', CUSTOS_LEASE_SWEEP_SECONDS: '0.2' } });
    token = server.token;
    const value = JSON.stringify({ host: maria.host, port: maria.port, dbname: 'app', username: maria.adminUser, password: maria.adminPassword });
    assert.equal((await api(server, 'POST', '/v1/secrets', { token, body: { name: 'prod/maria-admin', value } })).status, 201);
    const c = await api(server, 'POST', '/v1/database/config/maria', { token, body: { plugin: 'mysql', admin_secret: 'prod/maria-admin', allowed_roles: ['*'] } });
    assert.equal(c.status, 200, JSON.stringify(c.body));
    const r = await api(server, 'POST', '/v1/database/roles/app-ro', {
      token, body: { connection: 'maria', creation_statements: ["CREATE USER {{name}}@'%' IDENTIFIED BY {{password}}", "GRANT SELECT ON app.* TO {{name}}@'%'"], default_ttl: 60, max_ttl: 600 },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  });

  after(async () => {
    await server?.stop();
    for (const p of issued) assert.ok(!server.output().includes(p), 'an issued password reached the server log');
    server?.cleanup();
    await maria?.stop();
  });

  test('issue, log in, revoke: the user is dropped and its login fails', async () => {
    const r = await api(server, 'POST', '/v1/database/creds/app-ro', { token, body: {} });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    issued.push(r.body.password);
    assert.ok(r.body.username.length <= 32);
    assert.equal(await canLogin(r.body.username, r.body.password), true);
    const revoked = await api(server, 'POST', '/v1/leases/revoke', { token, body: { lease_id: r.body.lease_id } });
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    assert.equal(await canLogin(r.body.username, r.body.password), false);
    assert.equal(await userExists(r.body.username), false);
  });

  test('an expired lease is revoked by the sweeper', async () => {
    const r = await api(server, 'POST', '/v1/database/creds/app-ro', { token, body: { ttl: 20 } });
    assert.equal(r.status, 200);
    issued.push(r.body.password);
    assert.equal(await canLogin(r.body.username, r.body.password), true);
    await advanceClock(server, '21s');
    await eventually('the expired user is dropped', async () => !(await userExists(r.body.username)));
    assert.equal(await canLogin(r.body.username, r.body.password), false);
  });

  test('hostile names and passwords are quoted for MySQL: backticks, quotes, backslashes', async () => {
    const name = "a`b'c\\d\"e";
    const password = `p'a"s\\s\`;--'); DROP USER custos_admin; --`;
    await admin(async (c) => {
      await c.query(renderStatement(mysqlDialect, "CREATE USER {{name}}@'%' IDENTIFIED BY {{password}}", { name, password }));
      await c.query(renderStatement(mysqlDialect, "GRANT SELECT ON app.* TO {{name}}@'%'", { name }));
    });
    assert.equal(await canLogin(name, password), true, 'the exact hostile name and password log in');
    assert.equal(await canLogin(name, password.slice(0, -1)), false);
    await admin((c) => c.query(renderStatement(mysqlDialect, "DROP USER {{name}}@'%'", { name })));
    assert.equal(await userExists(maria.adminUser), true, 'nothing in the values ran as SQL');

    const role = await api(server, 'POST', '/v1/database/roles/hostile', {
      token, body: { connection: 'maria', username_template: "q'`\\{{random}}", password_length: 48, creation_statements: ["CREATE USER {{name}}@'%' IDENTIFIED BY {{password}}", "GRANT SELECT ON app.* TO {{name}}@'%'"] },
    });
    assert.equal(role.status, 200, JSON.stringify(role.body));
    for (let i = 0; i < 3; i++) {
      const r = await api(server, 'POST', '/v1/database/creds/hostile', { token, body: {} });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      issued.push(r.body.password);
      assert.equal(await canLogin(r.body.username, r.body.password), true, `generated password ${i} logs in`);
      await api(server, 'POST', '/v1/leases/revoke', { token, body: { lease_id: r.body.lease_id } });
      assert.equal(await userExists(r.body.username), false);
    }
  });

  test('orphan scan lists and drops a user that looks issued but has no lease', async () => {
    await admin((c) => c.query("CREATE USER 'v_app-ro_stray'@'%' IDENTIFIED BY 'x'"));
    const listed = await api(server, 'POST', '/v1/database/orphans/maria', { token, body: {} });
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    assert.deepEqual(listed.body.orphans.map((o: { username: string }) => o.username), ['v_app-ro_stray']);
    const dropped = await api(server, 'POST', '/v1/database/orphans/maria', { token, body: { drop: true } });
    assert.equal(dropped.body.orphans[0].dropped, true, JSON.stringify(dropped.body));
    assert.equal(await userExists('v_app-ro_stray'), false);
  });

  test('rotate-root changes the admin password on MariaDB and in its secret', async () => {
    await admin((c) => c.query("CREATE USER 'rootrot'@'%' IDENTIFIED BY 'first-pw'; GRANT ALL PRIVILEGES ON *.* TO 'rootrot'@'%' WITH GRANT OPTION").catch(async () => {
      await c.query("CREATE USER 'rootrot'@'%' IDENTIFIED BY 'first-pw'");
      await c.query("GRANT ALL PRIVILEGES ON *.* TO 'rootrot'@'%' WITH GRANT OPTION");
    }));
    await api(server, 'POST', '/v1/secrets', { token, body: { name: 'prod/maria-rootrot', value: JSON.stringify({ host: maria.host, port: maria.port, dbname: 'app', username: 'rootrot', password: 'first-pw' }) } });
    assert.equal((await api(server, 'POST', '/v1/database/config/rr', { token, body: { plugin: 'mysql', admin_secret: 'prod/maria-rootrot', allowed_roles: [] } })).status, 200);
    const r = await api(server, 'POST', '/v1/database/rotate-root/rr', { token });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const value = JSON.parse((await api(server, 'GET', '/v1/values/prod/maria-rootrot', { token })).body.value);
    issued.push(value.password);
    assert.equal(value.dbname, 'app', 'the secret keeps its other fields');
    assert.equal(await canLogin('rootrot', 'first-pw'), false);
    assert.equal(await canLogin('rootrot', value.password), true);
  });

  test('a username template that can exceed MySQL\'s 32 characters is refused', async () => {
    const r = await api(server, 'POST', '/v1/database/roles/long', {
      token, body: { connection: 'maria', username_template: 'very_long_prefix_{{role}}_{{display_name}}_{{random}}', creation_statements: ["CREATE USER {{name}}@'%' IDENTIFIED BY {{password}}"] },
    });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'invalid_template');
    assert.match(r.body.error.message, /allows 32/);
  });
});

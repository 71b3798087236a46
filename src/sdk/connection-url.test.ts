import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildConnectionUrl, ConnectionUrlError } from './connection-url.js';

const HOSTILE = ['p@ss/w:rd?#%&', 'a b+c=d;e', "quote'\"`()!*", 'ünïcödé€', '%41%', '[::1]@evil.com:1/x?y#z', 'back\\slash'];

test('postgres URLs round-trip hostile usernames, passwords and database names through new URL', () => {
  for (const password of HOSTILE) {
    const secret = { engine: 'postgres', host: 'db.internal', port: 6432, dbname: 'ana lytics/db', username: 'etl@corp:x', password, ssl_mode: 'verify-full' };
    const url = new URL(buildConnectionUrl(secret));
    assert.equal(url.protocol, 'postgres:');
    assert.equal(url.hostname, 'db.internal');
    assert.equal(url.port, '6432');
    assert.equal(decodeURIComponent(url.username), 'etl@corp:x');
    assert.equal(decodeURIComponent(url.password), password);
    assert.equal(decodeURIComponent(url.pathname.slice(1)), 'ana lytics/db');
    assert.equal(url.searchParams.get('sslmode'), 'verify-full');
    assert.equal(url.hash, '');
  }
});

test('driver overrides the engine, default ports per family, mysql and mssql options', () => {
  const base = { engine: 'postgres', host: '10.0.0.5', username: 'u', password: 'p/w', dbname: 'd' };
  assert.equal(buildConnectionUrl(base), 'postgres://u:p%2Fw@10.0.0.5:5432/d');
  assert.equal(buildConnectionUrl(base, { driver: 'postgresql+psycopg2' }), 'postgresql+psycopg2://u:p%2Fw@10.0.0.5:5432/d');
  assert.equal(buildConnectionUrl({ ...base, engine: 'redshift' }), 'redshift://u:p%2Fw@10.0.0.5:5439/d');
  assert.equal(buildConnectionUrl({ ...base, engine: 'mysql', ssl_mode: 'REQUIRED' }), 'mysql://u:p%2Fw@10.0.0.5:3306/d?ssl-mode=REQUIRED');
  assert.equal(buildConnectionUrl({ ...base, engine: 'mssql', ssl_mode: 'require' }), 'mssql://u:p%2Fw@10.0.0.5:1433/d?encrypt=true');
  assert.equal(new URL(buildConnectionUrl({ ...base, host: '::1' })).hostname, '[::1]');
});

test('snowflake URLs carry account, database/schema, warehouse and role', () => {
  const url = new URL(buildConnectionUrl({ engine: 'snowflake', account: 'xy12345.eu-west-1', username: 'LOADER', password: 'p@ss#1', dbname: 'RAW', schema: 'STRIPE', warehouse: 'LOAD WH', role: 'LOADER_ROLE' }));
  assert.equal(url.hostname, 'xy12345.eu-west-1');
  assert.equal(decodeURIComponent(url.password), 'p@ss#1');
  assert.equal(url.pathname, '/RAW/STRIPE');
  assert.equal(url.searchParams.get('warehouse'), 'LOAD WH');
  assert.equal(url.searchParams.get('role'), 'LOADER_ROLE');
});

test('bad secrets fail without echoing the password', () => {
  const password = 'do-not-print-me';
  const cases = [
    { engine: 'oracle', host: 'h', username: 'u', password },
    { engine: 'postgres', host: 'evil.com/x@y', username: 'u', password },
    { engine: 'postgres', host: 'h', port: 70000, username: 'u', password },
    { engine: 'postgres', host: 'h', password },
    { host: 'h', username: 'u', password },
  ];
  for (const secret of cases) {
    assert.throws(() => buildConnectionUrl(secret), (e: unknown) => e instanceof ConnectionUrlError && !e.message.includes(password), JSON.stringify(secret.engine));
  }
});

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from './config.js';

describe('loadConfig', () => {
  let dir: string;
  let yamlFile: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'custos-config-'));
    yamlFile = path.join(dir, 'custos.yaml');
    writeFileSync(yamlFile, 'port: 9000\nlog_level: debug\nhost: 0.0.0.0\naudit_retention_days: 30\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('defaults', () => {
    const config = loadConfig();
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 8420);
    assert.equal(config.data_dir, './.custos');
    assert.equal(config.storage, `sqlite:${path.join('./.custos', 'custos.db')}`);
    assert.equal(config.dev, false);
    assert.equal(config.audit_retention_days, 365);
    assert.equal(config.sqlite_synchronous, 'FULL');
    assert.deepEqual([config.lease_sweep_concurrency, config.database_pool_size], [4, 4]);
    assert.ok(Object.isFrozen(config));
  });

  test('precedence: flags > CUSTOS_* env > file > defaults', () => {
    const fileOnly = loadConfig({ file: yamlFile });
    assert.deepEqual([fileOnly.port, fileOnly.log_level, fileOnly.host, fileOnly.audit_retention_days], [9000, 'debug', '0.0.0.0', 30]);
    const withEnv = loadConfig({ file: yamlFile, env: { CUSTOS_PORT: '9100', CUSTOS_LOG_LEVEL: 'warn' } });
    assert.deepEqual([withEnv.port, withEnv.log_level, withEnv.host], [9100, 'warn', '0.0.0.0']);
    const withFlags = loadConfig({ file: yamlFile, env: { CUSTOS_PORT: '9100', CUSTOS_LOG_LEVEL: 'warn' }, flags: { port: '9200', host: undefined } });
    assert.deepEqual([withFlags.port, withFlags.log_level, withFlags.host], [9200, 'warn', '0.0.0.0']);
    assert.equal(loadConfig({ env: { CUSTOS_PORT: '' } }).port, 8420, 'an empty env variable is unset');
  });

  test('lease sweep concurrency and database pool size: from CUSTOS_* variables, whole numbers 1-64', () => {
    const config = loadConfig({ env: { CUSTOS_LEASE_SWEEP_CONCURRENCY: '8', CUSTOS_DATABASE_POOL_SIZE: '12' } });
    assert.deepEqual([config.lease_sweep_concurrency, config.database_pool_size], [8, 12]);
    for (const bad of ['0', '65', '2.5', 'many']) {
      assert.throws(() => loadConfig({ env: { CUSTOS_DATABASE_POOL_SIZE: bad } }), ConfigError, bad);
      assert.throws(() => loadConfig({ env: { CUSTOS_LEASE_SWEEP_CONCURRENCY: bad } }), ConfigError, bad);
    }
  });

  test('unknown keys and bad values are rejected with clear messages', () => {
    const unknown = path.join(dir, 'unknown.yaml');
    writeFileSync(unknown, 'port: 1\nlisten: 0.0.0.0\n');
    assert.throws(() => loadConfig({ file: unknown }), (e: Error) => e instanceof ConfigError && /unknown setting\(s\): listen/.test(e.message));
    assert.throws(() => loadConfig({ flags: { port: '70000' } }), (e: Error) => e instanceof ConfigError && /port/.test(e.message));
    assert.throws(() => loadConfig({ env: { CUSTOS_REGION: 'moon' } }), /region: must look like us-east-1/);
    assert.throws(() => loadConfig({ env: { CUSTOS_STORAGE: 'mysql://x' } }), /must be sqlite:PATH or postgres/);
    const list = path.join(dir, 'list.yaml');
    writeFileSync(list, '- port\n');
    assert.throws(() => loadConfig({ file: list }), /must hold a mapping/);
  });

  test('a PostgreSQL password in a flag is refused; in env or file it is accepted', () => {
    assert.throws(() => loadConfig({ flags: { storage: 'postgres://u:hunter2@db:5432/custos' } }), (e: Error) => e instanceof ConfigError && !e.message.includes('hunter2'));
    assert.equal(loadConfig({ env: { CUSTOS_STORAGE: 'postgres://u@db:5432/custos', CUSTOS_STORAGE_PASSWORD: 'pw' } }).storage_password, 'pw');
  });

  test('a config file that does not parse is a ConfigError that does not echo the file', () => {
    const broken = path.join(dir, 'broken.yaml');
    writeFileSync(broken, 'storage_password: very-secret-pw\nport: [1\n');
    assert.throws(() => loadConfig({ file: broken }), (e: Error) => e instanceof ConfigError && e.message.includes('broken.yaml') && !e.message.includes('very-secret-pw'));
    const brokenJson = path.join(dir, 'broken.json');
    writeFileSync(brokenJson, '{"storage_password": "very-secret-pw", ');
    assert.throws(() => loadConfig({ file: brokenJson }), (e: Error) => e instanceof ConfigError && !e.message.includes('very-secret-pw'));
  });

  test('workers: one process by default, a count from flag, env or file, auto for one per core; nothing else', () => {
    assert.equal(loadConfig({}).workers, 1);
    assert.equal(loadConfig({ flags: { workers: '3' } }).workers, 3);
    assert.equal(loadConfig({ env: { CUSTOS_WORKERS: 'auto' } }).workers, os.availableParallelism());
    const file = path.join(dir, 'workers.yaml');
    writeFileSync(file, 'workers: 2\n');
    assert.equal(loadConfig({ file, env: { CUSTOS_WORKERS: '4' } }).workers, 4); // env over file
    for (const bad of ['0', '-1', '1.5', 'many', '257']) {
      assert.throws(() => loadConfig({ flags: { workers: bad } }), (e: Error) => e instanceof ConfigError && /workers/.test(e.message), bad);
    }
  });
});

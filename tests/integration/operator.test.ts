import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { api, runCli, startServer, type RunningServer } from '../support/custos-server.js';
import { assertErrorBody } from '../support/http-helpers.js';

/** A production-mode server: starts sealed, init with Shamir shares, unseal, seal, env unseal, key rotation. */
describe('operator lifecycle (no --dev)', () => {
  test('sealed start, init 5/3, unseal progress, wrong key, seal, restart with CUSTOS_UNSEAL_KEY, rotate-key', async () => {
    let server: RunningServer = await startServer({ dev: false });
    const { dataDir, home } = server;
    const cleanup = server.cleanup;
    const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, { server, env });
    try {
      // Sealed and uninitialized: health says so, data routes say the step needed is init.
      const health = await api(server, 'GET', '/v1/health');
      assert.equal(health.status, 503);
      assert.deepEqual(health.body, { initialized: false, sealed: true, version: '0.1.0' });
      assertErrorBody(await api(server, 'GET', '/v1/values/dev/x', { token: 'cst_' + 'a'.repeat(43) }), 409, 'not_initialized');
      assertErrorBody(await api(server, 'GET', '/v1/secrets'), 409, 'not_initialized');
      assertErrorBody(await api(server, 'POST', '/v1/tokens', { body: { policies: ['x'] } }), 409, 'not_initialized');
      assertErrorBody(await api(server, 'POST', '/v1/sys/unseal', { body: { key: 'AAAA' } }), 409, 'not_initialized');
      const status0 = JSON.parse((await cli(['operator', 'status', '--json'])).stdout);
      assert.equal(status0.initialized, false);

      // init returns the root token and 5 shares, once.
      const init = await cli(['operator', 'init', '--shares', '5', '--threshold', '3', '--json']);
      assert.equal(init.code, 0, init.stderr);
      const { root_token: rootToken, keys, shares, threshold } = JSON.parse(init.stdout);
      assert.match(rootToken, /^cst_/);
      assert.equal(keys.length, 5);
      assert.equal(new Set(keys).size, 5);
      assert.equal(shares, 5);
      assert.equal(threshold, 3);
      const again = await cli(['operator', 'init', '--json']);
      assert.notEqual(again.code, 0);
      assert.match(again.stderr, /^error: already_initialized: /);
      assertErrorBody(await api(server, 'GET', '/v1/secrets', { token: rootToken }), 503, 'sealed');
      const env = { CUSTOS_TOKEN: rootToken };

      // A wrong share makes the threshold attempt fail and resets progress.
      assert.equal(JSON.parse((await cli(['operator', 'unseal', keys[0], '--json'])).stdout).progress, 1);
      assert.equal(JSON.parse((await cli(['operator', 'unseal', keys[0], '--json'])).stdout).progress, 1, 'the same share twice counts once');
      assert.equal(JSON.parse((await cli(['operator', 'unseal', keys[1], '--json'])).stdout).progress, 2);
      const tampered = Buffer.from(keys[2], 'base64');
      tampered[5] = tampered[5]! ^ 0xff;
      const wrong = await cli(['operator', 'unseal', tampered.toString('base64')]);
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.stderr, /^error: invalid_unseal_key: /);
      const afterWrong = JSON.parse((await cli(['operator', 'status', '--json'])).stdout);
      assert.equal(afterWrong.sealed, true);
      assert.equal(afterWrong.progress, 0);

      // Two shares: still sealed at 2/3. The third (from a file) unseals.
      await cli(['operator', 'unseal', keys[3]]);
      const two = await cli(['operator', 'unseal', keys[1]]);
      assert.match(two.stdout, /unseal progress\s+2\/3/);
      assert.match(two.stdout, /sealed\s+true/);
      assertErrorBody(await api(server, 'GET', '/v1/secrets', { token: rootToken }), 503, 'sealed');
      const keyFile = path.join(home, 'share.txt');
      writeFileSync(keyFile, keys[4] + '\n', { mode: 0o600 });
      const unsealed = JSON.parse((await cli(['operator', 'unseal', '--key-file', keyFile, '--json'])).stdout);
      assert.equal(unsealed.sealed, false);
      assert.equal(unsealed.key_term, 1);
      assert.equal((await api(server, 'GET', '/v1/health')).status, 200);

      // Write under term 1, rotate, write under term 2.
      assert.equal((await api(server, 'POST', '/v1/secrets', { token: rootToken, body: { name: 'prod/op/db', value: 'term-one' } })).status, 201);
      const rotated = await cli(['operator', 'rotate-key', '--json'], env);
      assert.equal(rotated.code, 0, rotated.stderr);
      assert.equal(JSON.parse(rotated.stdout).key_term, 2);
      const v2 = await api(server, 'POST', '/v1/values/prod/op/db', { token: rootToken, body: { value: 'term-two' } });
      assert.equal(v2.status, 201);
      const sqlite = new SqliteDatabase(path.join(dataDir, 'custos.db'), { readonly: true });
      const terms = sqlite.prepare('select v.version_id, v.key_term from secret_versions v join secrets s on s.id = v.secret_id where s.name = ? order by v.created_at').all('prod/op/db') as { version_id: string; key_term: number }[];
      sqlite.close();
      assert.deepEqual(terms.map((t) => t.key_term), [1, 2]);
      assert.equal(terms[1]!.version_id, v2.body.version_id);
      assert.equal((await api(server, 'GET', '/v1/values/prod/op/db?label=PREVIOUS', { token: rootToken })).body.value, 'term-one');
      assert.equal((await api(server, 'GET', '/v1/values/prod/op/db', { token: rootToken })).body.value, 'term-two');
      assert.match((await cli(['operator', 'status'])).stdout, /key term\s+2/);

      // Seal: keys dropped, data routes 503 again; sealing needs a token.
      assertErrorBody(await api(server, 'POST', '/v1/sys/seal'), 401, 'missing_token');
      const sealed = await cli(['operator', 'seal'], env);
      assert.equal(sealed.code, 0, sealed.stderr);
      assertErrorBody(await api(server, 'GET', '/v1/values/prod/op/db', { token: rootToken }), 503, 'sealed');
      assert.equal((await api(server, 'GET', '/v1/health')).status, 503);

      // Restart with three shares in CUSTOS_UNSEAL_KEY: starts unsealed, both terms readable.
      assert.equal(await server.stop(), 0);
      server = await startServer({ dev: false, dataDir, home, env: { CUSTOS_UNSEAL_KEY: [keys[4], keys[0], keys[2]].join(',') } });
      assert.equal((await api(server, 'GET', '/v1/health')).status, 200);
      assert.equal((await api(server, 'GET', '/v1/values/prod/op/db?label=PREVIOUS', { token: rootToken })).body.value, 'term-one');
      assert.equal((await api(server, 'GET', '/v1/values/prod/op/db', { token: rootToken })).body.value, 'term-two');

      // And from a file of newline-separated shares.
      assert.equal(await server.stop(), 0);
      const sharesFile = path.join(home, 'shares.txt');
      writeFileSync(sharesFile, `${keys[1]}\n${keys[3]}\n${keys[0]}\n`, { mode: 0o600 });
      server = await startServer({ dev: false, dataDir, home, env: { CUSTOS_UNSEAL_KEY_FILE: sharesFile } });
      assert.equal((await api(server, 'GET', '/v1/values/prod/op/db', { token: rootToken })).body.value, 'term-two');

      // Too few shares configured: starts sealed, and says so.
      assert.equal(await server.stop(), 0);
      server = await startServer({ dev: false, dataDir, home, env: { CUSTOS_UNSEAL_KEY: keys[0] } });
      assert.equal((await api(server, 'GET', '/v1/health')).status, 503);
      assert.match(server.output(), /configured unseal keys did not unseal/);
      assert.ok(!server.output().includes(keys[0]), 'the share is not logged');
      assert.equal(JSON.parse((await cli(['operator', 'unseal', keys[2], '--json'])).stdout).progress, 2, 'progress carries on from the configured share');
      assert.equal(JSON.parse((await cli(['operator', 'unseal', keys[3], '--json'])).stdout).sealed, false);

      // Events recorded while sealed were chained at unseal; the chain verifies.
      const verify = await cli(['audit', 'verify'], env);
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
      const sealedEvents = JSON.parse((await cli(['audit', 'query', '--operation', 'sys.seal', '--json'], env)).stdout);
      assert.equal(sealedEvents.length, 1);
      const all = (await cli(['audit', 'tail', '-n', '1000', '--json'], env)).stdout;
      for (const key of keys) assert.ok(!all.includes(key), 'no unseal share in the audit log');
      assert.ok(!all.includes(rootToken), 'no root token in the audit log');
    } finally {
      await server.stop();
      cleanup();
    }
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { sharedDatabaseForNodes } from '../support/shared-database.js';
import { api, startServer } from '../support/custos-server.js';
import { eventually } from '../support/http-helpers.js';

/**
 * Transit on PostgreSQL with two nodes: a key changed on one node is used at once on the other
 * (change bus), concurrent rotations do not collide, encryptions are reserved in the database in
 * blocks, and the table holds key material only sealed.
 */
const b64 = (s: string) => Buffer.from(s).toString('base64');

test('transit on two nodes sharing PostgreSQL', { timeout: 180_000 }, async (t) => {
  const { database, servers, inspector } = await sharedDatabaseForNodes(t);
  const env = { CUSTOS_STORAGE_PASSWORD: database.password };
  const a = await startServer({ dev: false, args: ['--storage', database.url], env: { ...env, CUSTOS_NODE_ID: 'node-a' } });
  servers.push(a);
  const init = await api(a, 'POST', '/v1/sys/init', { body: { shares: 1, threshold: 1 } });
  const root: string = init.body.root_token;
  const unsealKey: string = init.body.keys[0];
  await api(a, 'POST', '/v1/sys/unseal', { body: { key: unsealKey } });
  const b = await startServer({ dev: false, args: ['--storage', database.url], env: { ...env, CUSTOS_NODE_ID: 'node-b', CUSTOS_UNSEAL_KEY: unsealKey } });
  servers.push(b);
  await inspector.connect();
  const post = (node: typeof a, urlPath: string, body: unknown) => api(node, 'POST', urlPath, { token: root, body });

  const canary = `pg-transit-${randomBytes(8).toString('hex')}`;
  assert.equal((await post(a, '/v1/transit/keys/prod/pg/k', { type: 'aes256-gcm96', exportable: true })).status, 201);
  const v1 = await post(b, '/v1/transit/encrypt/prod/pg/k', { plaintext: b64(canary) });
  assert.match(v1.body.ciphertext, /^custos:v1:/);
  assert.equal(Buffer.from((await post(a, '/v1/transit/decrypt/prod/pg/k', { ciphertext: v1.body.ciphertext })).body.plaintext, 'base64').toString(), canary);

  // rotate on A: B (which cached v1) encrypts under v2 once the change reaches it
  assert.equal((await post(a, '/v1/transit/rotate/prod/pg/k', {})).body.latest_version, 2);
  await eventually('node B uses version 2', async () => /^custos:v2:/.test((await post(b, '/v1/transit/encrypt/prod/pg/k', { plaintext: b64('x') })).body.ciphertext));

  // concurrent rotations on both nodes: each gets its own version, none fails
  const rotations = await Promise.all([a, b, a, b].map((node) => post(node, '/v1/transit/rotate/prod/pg/k', {})));
  assert.deepEqual(rotations.map((r) => r.status), [200, 200, 200, 200]);
  const versions = await inspector.query('SELECT version FROM transit_key_versions WHERE key_name = $1 ORDER BY version', ['prod/pg/k']);
  assert.deepEqual(versions.rows.map((r) => Number(r.version)), [1, 2, 3, 4, 5, 6]);

  // retiring v1 on B is enforced on A
  await post(b, '/v1/transit/config/prod/pg/k', { min_decryption_version: 2 });
  await eventually('node A refuses version 1', async () => (await post(a, '/v1/transit/decrypt/prod/pg/k', { ciphertext: v1.body.ciphertext })).body?.error?.code === 'transit_version_not_allowed');

  // encryptions are reserved in blocks, per version, in the database
  const reserved = await inspector.query('SELECT version, encryptions_reserved FROM transit_key_versions WHERE key_name = $1 AND version = 1', ['prod/pg/k']);
  assert.ok(Number(reserved.rows[0].encryptions_reserved) >= 65_536, 'a block was reserved for version 1');

  // the material is stored sealed: not the exported bytes, not the canary
  const material = Buffer.from((await api(a, 'GET', '/v1/transit/export/prod/pg/k?version=2', { token: root })).body.keys['2'], 'base64');
  const rows = await inspector.query('SELECT sealed_material FROM transit_key_versions');
  for (const row of rows.rows) {
    assert.equal((row.sealed_material as Buffer).includes(material), false);
    assert.equal((row.sealed_material as Buffer).includes(Buffer.from(canary)), false);
  }
});

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTransitClient, isItemError, CustosApiError } from '../../src/sdk/index.js';
import { api, startServer, type RunningServer } from '../support/custos-server.js';

/** The SDK's transit client against the real server, and how refused requests are audited. */
describe('transit SDK client', () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.stop();
    server.cleanup();
  });

  test('typed batch methods keep order and report item errors; single methods round trip', async () => {
    const transit = createTransitClient({ address: server.address, token: server.token });
    const key = await transit.createKey('prod/sdk/pii', { type: 'chacha20-poly1305', derived: true });
    assert.equal(key.latest_version, 1);
    const rows = [{ id: '1', email: 'a@example.com' }, { id: '2', email: 'b@example.com' }];
    const encrypted = await transit.encryptBatch('prod/sdk/pii', rows.map((r) => ({ plaintext: r.email, context: 'tenant-9', associatedData: r.id })));
    const ciphertexts = encrypted.map((r) => (isItemError(r) ? assert.fail(r.error.code) : r.ciphertext));
    // swap the rows' ciphertexts: the associated data (row id) no longer matches
    const decrypted = await transit.decryptBatch('prod/sdk/pii', [
      { ciphertext: ciphertexts[0]!, context: 'tenant-9', associatedData: '1' },
      { ciphertext: ciphertexts[0]!, context: 'tenant-9', associatedData: '2' },
    ]);
    assert.equal(isItemError(decrypted[0]) ? '' : Buffer.from(decrypted[0]!.plaintext, 'base64').toString(), 'a@example.com');
    assert.equal(isItemError(decrypted[1]) ? decrypted[1].error.code : 'no error', 'transit_decryption_failed');
    const single = await transit.encrypt('prod/sdk/pii', Buffer.from([0, 1, 2, 255]), { context: 'tenant-9' });
    assert.deepEqual([...(await transit.decrypt('prod/sdk/pii', single.ciphertext, { context: 'tenant-9' }))], [0, 1, 2, 255]);
    await assert.rejects(transit.decrypt('prod/sdk/pii', single.ciphertext, { context: 'tenant-8' }), (e) => e instanceof CustosApiError && e.code === 'transit_decryption_failed' && e.status === 400);
    await assert.rejects(transit.readKey('prod/../x'), (e) => e instanceof CustosApiError && e.code === 'invalid_name');
    assert.deepEqual((await transit.listKeys({ prefix: 'prod/sdk/' })).keys, ['prod/sdk/pii']);
  });

  test('a refused transit request is audited on transit:KEY, not as a secret name', async () => {
    const refused = await api(server, 'POST', '/v1/transit/encrypt/prod/sdk/pii', { token: 'cst_' + 'x'.repeat(43), body: { plaintext: 'AA==' } });
    assert.equal(refused.status, 401);
    const events = (await api(server, 'GET', '/v1/audit/events?order=desc&limit=5', { token: server.token })).body.events;
    const event = events.find((e: { request_id: string }) => e.request_id === refused.headers.get('x-request-id'));
    assert.equal(event?.secret, 'transit:prod/sdk/pii');
    assert.equal(event?.operation, 'transit.encrypt');
  });
});

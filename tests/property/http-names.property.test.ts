import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { api, startServer, type RunningServer } from '../support/custos-server.js';
import { rawRequest } from '../support/http-helpers.js';

/**
 * Secret names over HTTP: any string is either accepted, and then reads back exactly (value and
 * name) through the URL it is addressed by, or refused with a stable 4xx code. Never a 5xx.
 */
const RUNS = { numRuns: 200, seed: 29_0001 };
const REFUSALS = new Set(['invalid_name', 'validation_failed', 'invalid_request', 'not_found']);

let server: RunningServer;
before(async () => {
  server = await startServer({ logLevel: 'warn' });
});
after(async () => {
  await server.stop();
  server.cleanup();
});

const pathOf = (name: string) => name.split('/').map(encodeURIComponent).join('/');

// Names near the valid ones (so that many are accepted) and anything at all.
const nameChars = fc.constantFrom('a', 'B', '0', '/', '.', '..', '_', '+', '=', '@', '-', '%', ' ', '?', '#', 'é', '~', ':', '\\');
const name = fc.oneof(fc.string({ unit: nameChars, minLength: 0, maxLength: 16 }), fc.string({ unit: 'binary', maxLength: 24 }));
const value = fc.string({ unit: 'binary', minLength: 1, maxLength: 40 });

test('create → read: an accepted name reads back exactly; a refused one gets a stable 4xx code', async () => {
  const created = new Set<string>();
  await fc.assert(fc.asyncProperty(name, value, async (n, v) => {
    const create = await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name: n, value: v } });
    assert.ok(create.status < 500, `5xx for ${JSON.stringify(n)}: ${JSON.stringify(create.body)}`);
    if (create.status === 409) {
      assert.equal(create.body.error.code, 'secret_exists');
      assert.ok(created.has(n), `secret_exists for a name never created: ${JSON.stringify(n)}`);
      return;
    }
    if (create.status !== 201) {
      assert.ok(create.status >= 400 && REFUSALS.has(create.body?.error?.code), `${create.status} ${JSON.stringify(create.body)} for ${JSON.stringify(n)}`);
      return;
    }
    created.add(n);
    const read = await api(server, 'GET', `/v1/values/${pathOf(n)}`, { token: server.token });
    assert.equal(read.status, 200, `read of ${JSON.stringify(n)}: ${JSON.stringify(read.body)}`);
    assert.equal(read.body.value, v);
    const described = await api(server, 'GET', `/v1/secrets/${pathOf(n)}`, { token: server.token });
    assert.equal(described.body.name, n);
  }), RUNS);
  assert.ok(created.size > 10, `the generators reach valid names too (${created.size})`);
});

test('reading any name: 200, 404 secret_not_found or a stable 4xx refusal, never a 5xx', async () => {
  await fc.assert(fc.asyncProperty(name, async (n) => {
    const read = await api(server, 'GET', `/v1/values/${pathOf(n)}`, { token: server.token });
    assert.ok(read.status < 500, `5xx for ${JSON.stringify(n)}: ${JSON.stringify(read.body)}`);
    if (read.status !== 200) assert.ok(read.body.error.code === 'secret_not_found' || REFUSALS.has(read.body.error.code), `${read.status} ${JSON.stringify(read.body)}`);
  }), RUNS);
});

test('any raw request path under /v1/values/ (malformed percent-encoding, dot segments, ...) gets an answer below 500', async () => {
  // Visible ASCII as a client may put it on the request line, unescaped.
  const rawPath = fc.string({ unit: fc.oneof(fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), fc.constantFrom('%', '%2', '%zz', '%2F', '%00', '/..', '/.', '//')), maxLength: 24 });
  await fc.assert(fc.asyncProperty(rawPath, async (p) => {
    const response = await rawRequest(server, 'GET', `/v1/values/${p}`, { headers: { authorization: `Bearer ${server.token}` } });
    assert.ok(response.status < 500, `${response.status} for ${JSON.stringify(p)}: ${response.text.slice(0, 200)}`);
    if (response.status >= 400) assert.equal(typeof response.body?.error?.code, 'string', `a stable code for ${JSON.stringify(p)}: ${response.text.slice(0, 200)}`);
  }), RUNS);
});

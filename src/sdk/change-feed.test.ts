import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CustosApiError } from './api-client.js';
import { openChangeFeed, type ChangeFeedEvent } from './change-feed.js';

/** The SSE client against a plain HTTP server playing the feed: parsing, and a silent connection counted as dead. */
test('events are parsed across chunk boundaries; a connection that goes silent fails as unreachable', async (t) => {
  const server = http.createServer((req, res) => {
    assert.equal(req.headers['last-event-id'], 'e.1');
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('retry: 1000\n\nid: e.2\nevent: sec');
    setImmediate(() => res.write('ret\ndata: {"name":"dev/a","kind":"written","version_id":"v2"}\n\n: ping\n\nid: e.2\nevent: ready\ndata: {}\n\n'));
    // …and then nothing, ever: what a network partition looks like from the client.
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const events: ChangeFeedEvent[] = [];
  const outcome = await openChangeFeed({
    address: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: 't', lastEventId: 'e.1', idleTimeoutMs: 300, onEvent: (e) => events.push(e),
  }).then(() => 'ended', (e: unknown) => e);
  assert.deepEqual(events, [
    { id: 'e.2', type: 'secret', name: 'dev/a', kind: 'written', versionId: 'v2' },
    { id: 'e.2', type: 'ready' },
  ]);
  assert.ok(outcome instanceof CustosApiError && outcome.code === 'unreachable', String(outcome));
});

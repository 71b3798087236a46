import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { api, runCli, startServer } from '../support/custos-server.js';

/** Graceful shutdown (SIGTERM): exit 0, drain in-flight requests, refuse new ones with the standard envelope, lose no audit event. */
describe('graceful shutdown', () => {
  test('SIGTERM right after start-up exits 0 (handlers are installed before the server announces itself)', async () => {
    for (let i = 0; i < 3; i++) {
      const fresh = await startServer();
      try {
        assert.equal(await fresh.stop(), 0, `graceful exit, got signal ${fresh.process.signalCode}`);
      } finally {
        fresh.cleanup();
      }
    }
  });

  // The timeout catches a drain that waits for idle keep-alive connections to time out (72 s).
  test('graceful shutdown under load: exit 0 and every acknowledged request has its audit event', { timeout: 30_000 }, async () => {
    const busy = await startServer();
    const { dataDir, home } = busy;
    try {
      assert.equal((await api(busy, 'POST', '/v1/secrets', { token: busy.token, body: { name: 'dev/drain/s', value: 'v0' } })).status, 201);
      const acked: string[] = [];
      let stopRequested = false;
      const workers = Array.from({ length: 8 }, async (_, w) => {
        for (let i = 0; !stopRequested || i < 3; i++) {
          try {
            const r = await api(busy, 'POST', '/v1/values/dev/drain/s', { token: busy.token, body: { value: `w${w}-${i}` } });
            if (r.status >= 200 && r.status < 300) acked.push(r.headers.get('x-request-id')!);
          } catch {
            return; // connection refused once closed
          }
          if (stopRequested && i > 1000) return;
        }
      });
      while (acked.length < 40) await new Promise((r) => setTimeout(r, 5));
      stopRequested = true;
      const exit = await busy.stop();
      await Promise.all(workers);
      assert.equal(exit, 0, busy.output());

      const again = await startServer({ dataDir, home });
      try {
        const token = readFileSync(path.join(home, '.custos', 'token'), 'utf8').trim();
        const events = (await api(again, 'GET', '/v1/audit/events?secret=dev/drain/s&limit=10000', { token })).body.events as { request_id: string }[];
        const ids = new Set(events.map((e) => e.request_id));
        const lost = acked.filter((id) => !ids.has(id));
        assert.deepEqual(lost, [], `all ${acked.length} acknowledged requests were audited`);
        const verify = await runCli(['audit', 'verify'], { server: again });
        assert.equal(verify.code, 0, verify.stdout);
      } finally {
        await again.stop();
      }
    } finally {
      busy.cleanup();
    }
  });

  test('a request arriving during the drain gets the standard error envelope (503 shutting_down), and the in-flight one completes', { timeout: 30_000 }, async () => {
    const draining = await startServer();
    try {
      assert.equal((await api(draining, 'POST', '/v1/secrets', { token: draining.token, body: { name: 'dev/drain/p', value: 'v0' } })).status, 201);
      const body = JSON.stringify({ value: 'in-flight' });
      const socket = net.connect(draining.port, '127.0.0.1');
      let received = '';
      socket.on('data', (c: Buffer) => (received += c.toString()));
      const ended = new Promise((r) => socket.on('close', r));
      await new Promise((r) => socket.once('connect', r));
      // Request 1: headers and half its body, so it is in flight when SIGTERM arrives.
      socket.write(`POST /v1/values/dev/drain/p HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${draining.token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`);
      await new Promise((r) => setTimeout(r, 100));
      const exited = draining.stop();
      while (!draining.output().includes('shutting down')) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 200));
      // The rest of request 1, and request 2 pipelined behind it on the same connection.
      socket.write(`${body.slice(5)}GET /v1/values/dev/drain/p HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${draining.token}\r\n\r\n`);
      await ended;
      assert.equal(await exited, 0);
      const responses = received.split(/(?=HTTP\/1\.1 )/);
      assert.equal(responses.length, 2, received);
      assert.match(responses[0]!, /^HTTP\/1\.1 201 /);
      assert.match(responses[1]!, /^HTTP\/1\.1 503 /);
      const [head, payload] = responses[1]!.split('\r\n\r\n');
      const error = JSON.parse(payload!).error;
      assert.equal(error?.code, 'shutting_down', payload);
      assert.match(head!, new RegExp(`x-request-id: ${error.request_id}`, 'i'));
      assert.match(head!, /connection: close/i);
      // The refused request was audited like any other.
      const again = await startServer({ dataDir: draining.dataDir, home: draining.home });
      try {
        const events = (await api(again, 'GET', '/v1/audit/events?limit=1000', { token: draining.token })).body.events as { request_id: string; error_code: string | null; outcome: string }[];
        assert.ok(events.some((e) => e.request_id === error.request_id && e.error_code === 'shutting_down' && e.outcome === 'failure'), JSON.stringify(events));
      } finally {
        await again.stop();
      }
    } finally {
      draining.cleanup();
    }
  });

});

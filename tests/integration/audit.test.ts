import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { api, runCli, startServer, type RunningServer } from '../support/custos-server.js';
import { assertErrorBody, auditAfter, auditHead, createSecret, createToken, uniqueName, writePolicy } from '../support/http-helpers.js';

/** The audit log seen from outside: one event per request, CLI tail/query/verify, tamper detection, fail closed. */
describe('audit log', () => {
  let server: RunningServer;
  let dbFile: string;
  const restart = async () => {
    const { dataDir, home } = server;
    const cleanup = server.cleanup;
    assert.equal(await server.stop(), 0);
    server = { ...(await startServer({ dataDir, home })), cleanup };
    server.token = (await import('node:fs')).readFileSync(path.join(home, '.custos', 'token'), 'utf8').trim();
  };

  before(async () => {
    server = await startServer();
    dbFile = path.join(server.dataDir, 'custos.db');
    await writePolicy(server, 'dev-read', JSON.stringify({ rules: [{ path: 'dev/**', capabilities: ['read'] }] }));
  });
  after(async () => {
    await server.stop();
    server.cleanup();
  });

  test('every request, including failed authentication and denied ones, appends exactly one event', async () => {
    const name = uniqueName('dev/audit');
    const versionId = await createSecret(server, name, 'audited-value');
    const reader = await createToken(server, { policies: ['dev-read'] });
    const head = await auditHead(server);
    const queryEvent = head + 1; // the auditHead query's own event

    const requests: { expect: Record<string, unknown>; run: () => ReturnType<typeof api> }[] = [
      { expect: { operation: 'secret.read', outcome: 'success', secret: name, version_id: versionId, accessor: reader.accessor, status: 200 }, run: () => api(server, 'GET', `/v1/values/${name}`, { token: reader.token }) },
      { expect: { operation: 'secret.read', outcome: 'denied', accessor: null, secret: name, error_code: 'missing_token', status: 401 }, run: () => api(server, 'GET', `/v1/values/${name}`) },
      { expect: { operation: 'secret.read', outcome: 'denied', accessor: null, secret: name, error_code: 'invalid_token', status: 401 }, run: () => api(server, 'GET', `/v1/values/${name}`, { token: 'cst_' + 'x'.repeat(43) }) },
      { expect: { operation: 'secret.write', outcome: 'denied', accessor: reader.accessor, secret: name, error_code: 'permission_denied', status: 403 }, run: () => api(server, 'POST', `/v1/values/${name}`, { token: reader.token, body: { value: 'nope' } }) },
      { expect: { operation: 'secret.read', outcome: 'failure', secret: 'dev/audit/missing', error_code: 'secret_not_found', status: 404 }, run: () => api(server, 'GET', '/v1/values/dev/audit/missing', { token: server.token }) },
      { expect: { operation: 'secret.create', outcome: 'failure', error_code: 'invalid_json', status: 400 }, run: () => api(server, 'POST', '/v1/secrets', { token: server.token, rawBody: '{bad' }) },
      { expect: { operation: 'secret.create', outcome: 'failure', error_code: 'payload_too_large', status: 413 }, run: () => api(server, 'POST', '/v1/secrets', { token: server.token, body: { name: 'dev/x', value: 'x'.repeat(600_000) } }) },
      { expect: { operation: 'http.unknown', outcome: 'failure', error_code: 'not_found', status: 404 }, run: () => api(server, 'GET', '/v1/no-such-route', { token: server.token }) },
      { expect: { operation: 'secret.write', outcome: 'success', secret: name, status: 201 }, run: () => api(server, 'POST', `/v1/values/${name}`, { token: server.token, body: { value: 'second' } }) },
      { expect: { operation: 'token.create', outcome: 'success', status: 201 }, run: () => api(server, 'POST', '/v1/tokens', { token: server.token, body: { policies: ['dev-read'] } }) },
    ];
    const responses: Awaited<ReturnType<typeof api>>[] = [];
    for (const r of requests) responses.push(await r.run());
    // Unaudited by design: health and the OpenAPI document (polled by load balancers).
    await api(server, 'GET', '/v1/health');
    await api(server, 'GET', '/v1/openapi.json');

    const events = (await auditAfter(server, queryEvent)).filter((e) => e.seq > queryEvent);
    assert.equal(events.length, requests.length, `one event per request: ${JSON.stringify(events.map((e) => e.operation))}`);
    for (const [i, r] of requests.entries()) {
      const e = events[i]!;
      const requestId = responses[i]!.headers.get('x-request-id');
      assert.equal(e.request_id, requestId, `event ${i} belongs to its request`);
      for (const [k, v] of Object.entries(r.expect)) assert.deepEqual(e[k], v, `event ${i} ${k}: ${JSON.stringify(e)}`);
      assert.equal(e.source, '127.0.0.1');
      assert.equal(typeof e.latency_ms, 'number');
      assert.ok(e.latency_ms >= 0);
      assert.ok(e.time && !Number.isNaN(Date.parse(e.time)));
      assert.match(e.hash, /^[0-9a-f]{64}$/);
    }
    assert.equal(events[8]!.version_id !== null, true, 'a write records the version it created');
    const all = JSON.stringify(events);
    for (const secret of [server.token, reader.token, 'audited-value', 'second']) assert.ok(!all.includes(secret), 'no token or value in audit events');
  });

  test('a revoked or expired token presented again is audited under its accessor', async () => {
    const revoked = await createToken(server, { policies: ['dev-read'] });
    assert.equal((await api(server, 'POST', '/v1/tokens/revoke', { token: revoked.token, body: {} })).status, 200);
    const expired = await createToken(server, { policies: ['dev-read'], ttl: 1 });
    await new Promise((r) => setTimeout(r, 1100));
    const r1 = await api(server, 'GET', '/v1/values/dev/audit/anything', { token: revoked.token });
    const r2 = await api(server, 'GET', '/v1/values/dev/audit/anything', { token: expired.token });
    assertErrorBody(r1, 401, 'token_revoked');
    assertErrorBody(r2, 401, 'token_expired');
    assert.ok(!JSON.stringify(r1.body).includes(revoked.accessor), 'the accessor is not sent back');
    const events = (await api(server, 'GET', '/v1/audit/events?secret=dev/audit/anything&limit=10', { token: server.token })).body.events;
    assert.deepEqual(events.map((e: { accessor: string; error_code: string }) => [e.accessor, e.error_code]), [[revoked.accessor, 'token_revoked'], [expired.accessor, 'token_expired']]);
  });

  test('audit tail -n N and query --secret --principal --since --outcome', async () => {
    const name = uniqueName('dev/audit-cli');
    await createSecret(server, name, 'v');
    const reader = await createToken(server, { policies: ['dev-read'] });
    assert.equal((await api(server, 'GET', `/v1/values/${name}`, { token: reader.token })).status, 200);
    assert.equal((await api(server, 'POST', `/v1/values/${name}`, { token: reader.token, body: { value: 'x' } })).status, 403);

    const tail = await runCli(['audit', 'tail', '-n', '3', '--json'], { server });
    assert.equal(tail.code, 0, tail.stderr);
    const tailed = JSON.parse(tail.stdout);
    assert.equal(tailed.length, 3);
    assert.ok(tailed[0].seq < tailed[1].seq && tailed[1].seq < tailed[2].seq, 'oldest first');
    assert.equal(tailed[2].operation, 'secret.write');
    const table = await runCli(['audit', 'tail', '-n', '2'], { server });
    assert.equal(table.code, 0);
    assert.match(table.stdout.split('\n')[0]!, /^SEQ\s+TIME\s+ACCESSOR\s+OPERATION/);
    assert.equal(table.stdout.trim().split('\n').length, 3);

    const bySecret = JSON.parse((await runCli(['audit', 'query', '--secret', name, '--json'], { server })).stdout);
    assert.deepEqual(bySecret.map((e: { operation: string }) => e.operation), ['secret.create', 'secret.read', 'secret.write']);
    const byPrincipal = JSON.parse((await runCli(['audit', 'query', '--principal', reader.accessor, '--json'], { server })).stdout);
    assert.deepEqual(byPrincipal.map((e: { operation: string; outcome: string }) => `${e.operation}:${e.outcome}`), ['secret.read:success', 'secret.write:denied']);
    const denied = JSON.parse((await runCli(['audit', 'query', '--principal', reader.accessor, '--outcome', 'denied', '--json'], { server })).stdout);
    assert.equal(denied.length, 1);
    assert.equal(denied[0].error_code, 'permission_denied');
    const recent = JSON.parse((await runCli(['audit', 'query', '--secret', name, '--since', '1m', '--json'], { server })).stdout);
    assert.equal(recent.length, 3);
    const future = JSON.parse((await runCli(['audit', 'query', '--secret', name, '--since', new Date(Date.now() + 3_600_000).toISOString(), '--json'], { server })).stdout);
    assert.equal(future.length, 0);
    const bad = await runCli(['audit', 'query', '--since', 'last tuesday'], { server });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /^error: validation_failed: /);
  });

  test('audit query --until bounds the time range from above (exclusive), through the API, SDK and CLI', async () => {
    const name = uniqueName('dev/audit-until');
    await createSecret(server, name, 'v');
    assert.equal((await api(server, 'GET', `/v1/values/${name}`, { token: server.token })).status, 200);
    assert.equal((await api(server, 'POST', `/v1/values/${name}`, { token: server.token, body: { value: 'w' } })).status, 201);
    const all = JSON.parse((await runCli(['audit', 'query', '--secret', name, '--json'], { server })).stdout) as { seq: number; time: string }[];
    assert.equal(all.length, 3);
    // The newest event's own time as the bound: it and anything in the same millisecond are left out.
    const until = all[2]!.time;
    const expected = all.filter((e) => Date.parse(e.time) < Date.parse(until)).map((e) => e.seq);
    const bounded = await runCli(['audit', 'query', '--secret', name, '--since', all[0]!.time, '--until', until, '--json'], { server });
    assert.equal(bounded.code, 0, bounded.stderr);
    assert.deepEqual(JSON.parse(bounded.stdout).map((e: { seq: number }) => e.seq), expected);
    assert.ok(!expected.includes(all[2]!.seq));
    const viaApi = await api(server, 'GET', `/v1/audit/events?secret=${encodeURIComponent(name)}&until=${encodeURIComponent(new Date(Date.parse(until) + 1).toISOString())}`, { token: server.token });
    assert.equal(viaApi.status, 200);
    assert.deepEqual((viaApi.body as { events: { seq: number }[] }).events.map((e) => e.seq), all.map((e) => e.seq));

    const reversed = await api(server, 'GET', `/v1/audit/events?since=${encodeURIComponent(until)}&until=${encodeURIComponent(all[0]!.time)}`, { token: server.token });
    assertErrorBody(reversed, 400, 'validation_failed');
    const bad = await runCli(['audit', 'query', '--until', 'next friday'], { server });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /^error: validation_failed: until is an ISO-8601 time/);
  });

  test('audit verify passes, then reports an altered event and a deleted one (CLI exits non-zero)', async () => {
    const ok = await runCli(['audit', 'verify'], { server });
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /^audit log OK: \d+ events verified/);

    await restart(); // stop, so the file is at rest
    assert.equal(await server.stop(), 0);
    const sqlite = new SqliteDatabase(dbFile);
    const target = sqlite.prepare("select seq, outcome from audit_events where outcome = 'denied' order by seq limit 1").get() as { seq: number; outcome: string };
    sqlite.prepare("update audit_events set outcome = 'success' where seq = ?").run(target.seq);
    sqlite.close();
    await restart();
    const altered = await runCli(['audit', 'verify', '--json'], { server });
    assert.notEqual(altered.code, 0);
    const alteredResult = JSON.parse(altered.stdout);
    assert.equal(alteredResult.ok, false);
    assert.deepEqual({ seq: alteredResult.problem.seq, kind: alteredResult.problem.kind }, { seq: target.seq, kind: 'altered' });
    const human = await runCli(['audit', 'verify'], { server });
    assert.notEqual(human.code, 0);
    assert.match(human.stdout, new RegExp(`BROKEN at event ${target.seq}: altered`));

    // Put the row back (the chain verifies again), then delete a later one.
    assert.equal(await server.stop(), 0);
    const again = new SqliteDatabase(dbFile);
    again.prepare('update audit_events set outcome = ? where seq = ?').run(target.outcome, target.seq);
    const victim = target.seq + 3;
    assert.equal(again.prepare('delete from audit_events where seq = ?').run(victim).changes, 1);
    again.close();
    await restart();
    const missing = await runCli(['audit', 'verify', '--json'], { server });
    assert.notEqual(missing.code, 0);
    const missingResult = JSON.parse(missing.stdout);
    assert.deepEqual({ seq: missingResult.problem.seq, kind: missingResult.problem.kind }, { seq: victim, kind: 'missing' });
    // The server refuses audited work until an operator accepts the break; verify keeps showing it.
    assertErrorBody(await api(server, 'GET', '/v1/secrets', { token: server.token }), 503, 'audit_tampered');
    const ack = await runCli(['audit', 'acknowledge-break', '--reason', 'test deleted an event on purpose'], { server });
    assert.equal(ack.code, 0, ack.stdout + ack.stderr);
    const acknowledged = await runCli(['audit', 'verify'], { server });
    assert.equal(acknowledged.code, 0, acknowledged.stdout);
    assert.match(acknowledged.stdout, new RegExp(`acknowledged break after event ${victim - 1} .*test deleted an event on purpose`));
  });

  test('events committed with their write still name what the write created', async () => {
    const lastEvent = async (operation: string) =>
      (await api(server, 'GET', `/v1/audit/events?operation=${operation}&order=desc&limit=1`, { token: server.token })).body.events[0];
    const created = await createToken(server, { policies: ['dev-read'] });
    assert.equal((await lastEvent('token.create')).detail.created_accessor, created.accessor);

    const name = uniqueName('dev/detail');
    await createSecret(server, name, 'v1');
    const token = 'd'.repeat(40);
    const first = await api(server, 'POST', `/v1/values/${name}`, { token: server.token, body: { value: 'v2', labels: ['PENDING'], idempotency_token: token } });
    assert.equal(first.status, 201);
    const firstEvent = await lastEvent('secret.write');
    assert.deepEqual([firstEvent.version_id, firstEvent.detail.labels, firstEvent.detail.created], [token, 'PENDING', true]);
    const retry = await api(server, 'POST', `/v1/values/${name}`, { token: server.token, body: { value: 'v2', labels: ['PENDING'], idempotency_token: token } });
    assert.equal(retry.status, 200);
    assert.equal((await lastEvent('secret.write')).detail.created, false, 'an idempotent retry is audited as such');

    const revoked = await api(server, 'POST', '/v1/tokens/revoke', { token: server.token, body: { accessor: created.accessor } });
    assert.equal(revoked.status, 200);
    assert.equal((await lastEvent('token.revoke')).detail.revoked, 1);
  });

  test('deleting the newest events is reported even after the server appends more', async () => {
    const own = await startServer();
    try {
      await createSecret(own, uniqueName('dev/tail'), 'v');
      assert.equal((await runCli(['audit', 'verify'], { server: own })).code, 0);
      assert.equal(await own.stop(), 0);
      const file = path.join(own.dataDir, 'custos.db');
      const sqlite = new SqliteDatabase(file);
      const newest = (sqlite.prepare('select max(seq) as seq from audit_events').get() as { seq: number }).seq;
      assert.equal(sqlite.prepare('delete from audit_events where seq > ?').run(newest - 2).changes, 2);
      sqlite.close();
      // The restarted server appends after the checkpoint, not after the cut, so the gap shows.
      const again = await startServer({ dataDir: own.dataDir, home: own.home });
      try {
        const token = (await import('node:fs')).readFileSync(path.join(own.home, '.custos', 'token'), 'utf8').trim();
        await api(again, 'GET', '/v1/secrets', { token });
        const result = await runCli(['audit', 'verify', '--json'], { server: again });
        assert.notEqual(result.code, 0, result.stdout);
        const parsed = JSON.parse(result.stdout);
        assert.deepEqual({ seq: parsed.problem.seq, kind: parsed.problem.kind }, { seq: newest - 1, kind: 'missing' });
      } finally {
        await again.stop();
      }
    } finally {
      own.cleanup();
    }
  });

  test('fail closed: when audit events cannot be written reads are withheld and writes leave nothing behind', async () => {
    const name = uniqueName('dev/fail-closed');
    const value = 'fail-closed-value-' + Math.random().toString(36).slice(2);
    const firstVersion = await createSecret(server, name, value);
    const side = new SqliteDatabase(dbFile);
    side.pragma('busy_timeout = 5000');
    side.exec("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit disk full'); END");
    try {
      const read = await api(server, 'GET', `/v1/values/${name}`, { token: server.token });
      assertErrorBody(read, 503, 'audit_unavailable', 'read while audit is down');
      assert.ok(!JSON.stringify(read.body).includes(value), 'the value is withheld');
      assert.ok(!JSON.stringify(read.body).includes('disk full'), 'the internal cause is not sent');
      const denied = await api(server, 'GET', `/v1/values/${name}`);
      assertErrorBody(denied, 503, 'audit_unavailable', 'even failures are refused when they cannot be audited');
      // A write and its audit event commit in one transaction: the write fails and leaves
      // nothing behind (no new version, no moved label, no new secret, no new token).
      const write = await api(server, 'POST', `/v1/values/${name}`, { token: server.token, body: { value: `${value}-2` } });
      assert.equal(write.status >= 500, true, `write while audit is down: ${write.status}`);
      assert.ok(!JSON.stringify(write.body).includes('disk full'), 'the internal cause is not sent');
      const created = await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name: `${name}-new`, value: 'x' } });
      assert.equal(created.status >= 500, true, `create while audit is down: ${created.status}`);
      const token = await api(server, 'POST', '/v1/tokens', { token: server.token, body: { policies: ['dev-read'] } });
      assert.equal(token.status >= 500, true, `token create while audit is down: ${token.status}`);
      assert.equal(token.body.token, undefined, 'no token is handed out');
      const versions = side.prepare('SELECT count(*) AS n FROM secret_versions v JOIN secrets s ON s.id = v.secret_id WHERE s.name = ?').get(name) as { n: number };
      assert.equal(versions.n, 1, 'the failed write added no version');
      assert.equal((side.prepare('SELECT count(*) AS n FROM secrets WHERE name = ?').get(`${name}-new`) as { n: number }).n, 0, 'the failed create added no secret');
    } finally {
      side.exec('DROP TRIGGER refuse_audit');
      side.close();
    }
    const current = await api(server, 'GET', `/v1/values/${name}`, { token: server.token });
    assert.equal(current.body.value, value, 'CURRENT is still the value from before the failed write');
    const retried = await api(server, 'POST', `/v1/values/${name}`, { token: server.token, body: { value: `${value}-2` } });
    assert.equal(retried.status, 201);
    const events = await api(server, 'GET', `/v1/audit/events?secret=${encodeURIComponent(name)}&operation=secret.write&order=desc&limit=1`, { token: server.token });
    assert.equal(events.body.events[0].version_id, retried.body.version_id, 'the committed write is audited with its version id');
    assert.equal(events.body.events[0].status, 201);
    const read = await api(server, 'GET', `/v1/values/${name}?version_id=${firstVersion}`, { token: server.token });
    assert.equal(read.status, 200, 'recovers once the audit log is writable');
    assert.equal(read.body.value, value);
    assert.match(server.output(), /audit/);
    assert.ok(!server.output().includes(value), 'the value is not in the logs');
  });
});

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import { api, startServer, type RunningServer } from '../support/custos-server.js';
import { startPostgresCluster, type PostgresCluster } from '../support/postgres-cluster.js';
import { assertErrorBody, createSecret, createToken, eventually, uniqueName, writePolicy } from '../support/http-helpers.js';

/**
 * The tamper table: every way of changing the audit tables behind the server's back is found by
 * `verify` and by the next append (the next audited request fails with audit_tampered), on
 * SQLite and on PostgreSQL; an operator's acknowledgement resumes service and stays visible.
 */
type Sql = (text: string, params?: unknown[]) => Promise<Record<string, unknown>[]>;

interface Backend {
  name: string;
  start(options?: { dataDir: string; home: string }): Promise<RunningServer>;
  sql: Sql;
  close(): Promise<void>;
}

const COLUMNS = 'time, request_id, accessor, source, operation, secret_name, version_id, outcome, error_code, status, latency_us, detail, prev_hash, hash';

function sqliteBackend(): Backend {
  let file = '';
  return {
    name: 'SQLite',
    async start(options) {
      const server = await startServer(options);
      file = path.join(server.dataDir, 'custos.db');
      return server;
    },
    async sql(text, params = []) {
      const db = new SqliteDatabase(file);
      try {
        db.pragma('busy_timeout = 5000');
        const sqliteText = text.replace(/\$\d+/g, '?');
        const statement = db.prepare(sqliteText);
        return statement.reader ? (statement.all(...params) as Record<string, unknown>[]) : (statement.run(...params), []);
      } finally {
        db.close();
      }
    },
    close: async () => undefined,
  };
}

async function postgresBackend(): Promise<Backend> {
  const cluster: PostgresCluster = await startPostgresCluster();
  const database = await cluster.createDatabase();
  const client = new pg.Client({ host: cluster.host, port: cluster.port, user: database.user, database: database.database, password: database.password });
  await client.connect();
  return {
    name: 'PostgreSQL',
    start: (options) => startServer({ ...options, args: ['--storage', database.url], env: { CUSTOS_STORAGE_PASSWORD: database.password } }),
    sql: async (text, params = []) => (await client.query(text, params)).rows,
    async close() {
      await client.end();
      await cluster.stop();
    },
  };
}

const seqs = async (sql: Sql) => (await sql('select seq from audit_events order by seq')).map((r) => Number(r.seq));

/** Each case changes the tables; `seq` lists the stored sequence numbers just before. */
const TAMPER_CASES: { name: string; running: boolean; tamper: (sql: Sql, seq: number[]) => Promise<unknown> }[] = [
  { name: 'edit a field', running: false, tamper: (sql, s) => sql("update audit_events set outcome = 'failure' where seq = $1", [s[s.length - 4]]) },
  { name: 'delete a middle event', running: false, tamper: (sql, s) => sql('delete from audit_events where seq = $1', [s[s.length - 4]]) },
  { name: 'delete the tail', running: true, tamper: (sql, s) => sql('delete from audit_events where seq > $1', [s[s.length - 3]]) },
  { name: 'delete the tail and the head', running: true, tamper: async (sql, s) => { await sql('delete from audit_events where seq > $1', [s[s.length - 3]]); await sql('delete from audit_head'); } },
  { name: 'forge the head MAC', running: true, tamper: (sql) => sql(`update audit_head set mac = '${'ab'.repeat(32)}'`) },
  { name: 'wipe everything (events only)', running: true, tamper: (sql) => sql('delete from audit_events') },
  { name: 'wipe everything and the head', running: true, tamper: async (sql) => { await sql('delete from audit_events'); await sql('delete from audit_head'); } },
  {
    name: 'reorder two events', running: false, tamper: async (sql, s) => {
      const [a, b] = [s[s.length - 4]!, s[s.length - 3]!];
      await sql('update audit_events set seq = -1 where seq = $1', [a]);
      await sql('update audit_events set seq = $1 where seq = $2', [a, b]);
      await sql('update audit_events set seq = $1 where seq = -1', [b]);
    },
  },
  { name: 'duplicate one', running: false, tamper: (sql, s) => sql(`insert into audit_events (seq, ${COLUMNS}) select $1, ${COLUMNS} from audit_events where seq = $2`, [s[s.length - 1]! + 1, s[s.length - 4]]) },
];

for (const make of [sqliteBackend, postgresBackend]) {
  describe(`audit tamper table (${make.name.replace('Backend', '')})`, { timeout: 600_000 }, () => {
    let backend: Backend;
    let server: RunningServer;
    let root: string;
    const name = uniqueName('dev/tamper');

    const restart = async () => {
      const { dataDir, home } = server;
      assert.equal(await server.stop(), 0);
      server = await backend.start({ dataDir, home });
    };
    const someTraffic = async () => {
      for (let i = 0; i < 4; i++) assert.equal((await api(server, 'GET', `/v1/values/${name}`, { token: root })).status, 200);
    };

    before(async () => {
      backend = await make();
      server = await backend.start();
      root = server.token;
      await createSecret(server, name, 'tamper-table-value');
      await writePolicy(server, 'audit-reader', JSON.stringify({ rules: [{ path: 'sys:audit', capabilities: ['read'] }] }));
    });
    after(async () => {
      await server.stop();
      server.cleanup();
      await backend.close();
    });

    for (const c of TAMPER_CASES) {
      for (const running of c.running ? [false, true] : [false]) {
        test(`${c.name}${running ? ' (server running)' : ' (at rest, then restart)'}: verify and the next append both catch it`, async () => {
          await someTraffic();
          const before = await seqs(backend.sql);
          if (!running) assert.equal(await server.stop(), 0);
          await c.tamper(backend.sql, before);
          if (!running) server = await backend.start({ dataDir: server.dataDir, home: server.home });

          assertErrorBody(await api(server, 'GET', `/v1/values/${name}`, { token: root }), 503, 'audit_tampered', 'a read after tampering');
          assertErrorBody(await api(server, 'POST', `/v1/values/${name}`, { token: root, body: { value: 'after-tamper' } }), 503, 'audit_tampered', 'a write after tampering');
          const verify = await api(server, 'POST', '/v1/audit/verify', { token: root });
          assert.equal(verify.status, 200, JSON.stringify(verify.body));
          assert.equal(verify.body.ok, false, `verify reports ${c.name}: ${JSON.stringify(verify.body)}`);
          assert.ok(verify.body.problem, 'with the problem');
          // A verify that reported BROKEN is not healed by its own event.
          assert.equal((await api(server, 'POST', '/v1/audit/verify', { token: root })).body.ok, false, 'verify stays BROKEN');
          assertErrorBody(await api(server, 'GET', `/v1/values/${name}`, { token: root }), 503, 'audit_tampered', 'still refused');
          assert.match(server.output(), /AUDIT LOG TAMPERED/, 'logged loudly');

          const reason = `tamper table: ${c.name}${running ? ' while running' : ' at rest'}`;
          const ack = await api(server, 'POST', '/v1/audit/acknowledge-break', { token: root, body: { reason } });
          assert.equal(ack.status, 200, JSON.stringify(ack.body));
          assert.equal((await api(server, 'GET', `/v1/values/${name}`, { token: root })).status, 200, 'service resumes');
          const after = await api(server, 'POST', '/v1/audit/verify', { token: root });
          assert.equal(after.body.ok, true, JSON.stringify(after.body));
          const shown = after.body.acknowledged_breaks.find((b: { reason: string }) => b.reason === reason);
          assert.ok(shown, `the acknowledged break is still shown: ${JSON.stringify(after.body.acknowledged_breaks)}`);
          assert.equal(shown.resumed_at, ack.body.resumed_at);
          assert.equal(shown.after_seq, ack.body.after_seq);
          // Surviving a restart: the acknowledged chain verifies at start-up.
          await restart();
          assert.equal((await api(server, 'GET', `/v1/values/${name}`, { token: root })).status, 200, 'after a restart');
        });
      }
    }

    test('acknowledge-break is audited as the first event of the new segment, needs update on sys:audit, and is refused when nothing is broken', async () => {
      assertErrorBody(await api(server, 'POST', '/v1/audit/acknowledge-break', { token: root, body: { reason: 'nothing to see' } }), 409, 'audit_not_broken');
      const reader = await createToken(server, { policies: ['audit-reader'] }, root);
      await someTraffic();
      await backend.sql('delete from audit_head');
      assertErrorBody(await api(server, 'GET', `/v1/values/${name}`, { token: root }), 503, 'audit_tampered');
      // Reading the log is allowed while tampered; acknowledging needs more than read.
      assert.equal((await api(server, 'GET', '/v1/audit/events?limit=1', { token: reader.token })).status, 200);
      assertErrorBody(await api(server, 'POST', '/v1/audit/acknowledge-break', { token: reader.token, body: { reason: 'reader tries' } }), 403, 'permission_denied');
      const ack = await api(server, 'POST', '/v1/audit/acknowledge-break', { token: root, body: { reason: 'operator accepts the missing head' } });
      assert.equal(ack.status, 200, JSON.stringify(ack.body));
      const events = (await api(server, 'GET', `/v1/audit/events?after_seq=${ack.body.resumed_at - 1}&limit=50`, { token: root })).body.events;
      const first = events[0];
      assert.equal(first.seq, ack.body.resumed_at);
      assert.equal(first.operation, 'audit.acknowledge_break');
      assert.equal(first.outcome, 'success');
      assert.deepEqual([first.detail.reason, first.detail.after_seq, typeof first.detail.found], ['operator accepts the missing head', ack.body.after_seq, 'string']);
      assert.ok(first.accessor, 'names who acknowledged');
      // The requests answered while tampered (verify, the denied acknowledgement, reading events) follow it.
      const later = events.slice(1).map((e: { operation: string; outcome: string }) => `${e.operation}:${e.outcome}`);
      assert.ok(later.includes('audit.acknowledge_break:denied'), later.join(' '));
      assert.ok(later.includes('audit.query:success'), later.join(' '));
    });
  });
}

test('several PostgreSQL nodes append to one chain without false alarms; deletions are caught on every node and one acknowledgement resumes all', { timeout: 300_000 }, async () => {
  const cluster = await startPostgresCluster();
  const database = await cluster.createDatabase();
  const inspector = new pg.Client({ host: cluster.host, port: cluster.port, user: database.user, database: database.database, password: database.password });
  await inspector.connect();
  const servers: RunningServer[] = [];
  try {
    const env = { CUSTOS_STORAGE_PASSWORD: database.password };
    const a = await startServer({ args: ['--storage', database.url], env });
    servers.push(a);
    const unsealKey = readFileSync(path.join(a.dataDir, 'unseal.key'), 'utf8').trim();
    const b = await startServer({ dev: false, args: ['--storage', database.url], env: { ...env, CUSTOS_UNSEAL_KEY: unsealKey } });
    servers.push(b);
    const root = a.token;
    const name = uniqueName('dev/nodes');
    await createSecret(a, name, 'v0');
    // Interleaved reads (group-committed batches) and writes (events in their transactions) on both nodes.
    const burst = await Promise.all(Array.from({ length: 60 }, (_, i) => {
      const node = i % 2 === 0 ? a : b;
      return i % 5 === 0 ? api(node, 'POST', `/v1/values/${name}`, { token: root, body: { value: `v${i}` } }) : api(node, 'GET', `/v1/values/${name}`, { token: root });
    }));
    for (const r of burst) assert.ok(r.status < 300, JSON.stringify(r.body));
    for (let i = 0; i < 6; i++) assert.equal((await api(i % 2 ? a : b, 'GET', `/v1/values/${name}`, { token: root })).status, 200, 'no false alarm');
    assert.equal((await api(b, 'POST', '/v1/audit/verify', { token: root })).body.ok, true);

    // Delete the newest events and the head: both nodes refuse their next audited request.
    await inspector.query('delete from audit_events where seq > (select max(seq) - 3 from audit_events)');
    await inspector.query('delete from audit_head');
    assertErrorBody(await api(a, 'GET', `/v1/values/${name}`, { token: root }), 503, 'audit_tampered', 'node A');
    assertErrorBody(await api(b, 'GET', `/v1/values/${name}`, { token: root }), 503, 'audit_tampered', 'node B');
    assert.equal((await api(a, 'POST', '/v1/audit/acknowledge-break', { token: root, body: { reason: 'multi-node drill' } })).status, 200);
    assert.equal((await api(a, 'GET', `/v1/values/${name}`, { token: root })).status, 200);
    await eventually('node B resumes after A acknowledged', async () => (await api(b, 'GET', `/v1/values/${name}`, { token: root })).status === 200);
    const verify = await api(b, 'POST', '/v1/audit/verify', { token: root });
    assert.equal(verify.body.ok, true, JSON.stringify(verify.body));
    assert.equal(verify.body.acknowledged_breaks.length, 1);
  } finally {
    await inspector.end();
    for (const s of servers) {
      await s.kill();
      s.cleanup();
    }
    await cluster.stop();
  }
});

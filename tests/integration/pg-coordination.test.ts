import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../support/http-helpers.js';
import pg from 'pg';
import type { ChangeTopic } from '../../src/lib/change-bus.js';
import { openStorage } from '../../src/storage/database.js';
import { createPgChangeBus } from '../../src/storage/pg-change-bus.js';
import { createPgLeadership } from '../../src/storage/pg-leadership.js';
import { startPostgresCluster } from '../support/postgres-cluster.js';

/** The PostgreSQL change bus and leadership against a real server, including lost connections. */


test('PostgreSQL change bus and leadership', { timeout: 90_000 }, async (t) => {
  const cluster = await startPostgresCluster();
  const db = await cluster.createDatabase();
  const admin = new pg.Client({ host: cluster.host, port: cluster.port, user: cluster.superuser, database: 'postgres', password: cluster.superPassword });
  await admin.connect();
  const closers: (() => Promise<void>)[] = [];
  t.after(async () => {
    for (const close of closers.reverse()) await close();
    await admin.end();
    await cluster.stop();
  });
  const options = { url: db.url, password: db.password };

  await t.test('several nodes starting at once on a fresh database migrate it exactly once', async () => {
    const fresh = await cluster.createDatabase();
    for (let round = 0; round < 2; round++) {
      const storages = await Promise.all(Array.from({ length: 4 }, () => openStorage({ url: fresh.url, password: fresh.password })));
      for (const s of storages) assert.deepEqual(await s.db.selectFrom('secrets').selectAll().execute(), []);
      const migrations = await (storages[0]!.db as any).selectFrom('kysely_migration').select('name').execute();
      assert.ok(migrations.length >= 1);
      assert.equal(new Set(migrations.map((m: { name: string }) => m.name)).size, migrations.length);
      await Promise.all(storages.map((s) => s.close()));
    }
  });

  await t.test('publish reaches every node once; a lost LISTEN connection reconnects and tells subscribers to drop everything', async () => {
    const a = createPgChangeBus({ ...options, nodeId: 'a', reconnectDelayMs: 50 });
    const b = createPgChangeBus({ ...options, nodeId: 'b', reconnectDelayMs: 50 });
    closers.push(() => a.close(), () => b.close());
    await Promise.all([a.ready, b.ready]);
    const seenA: string[] = [];
    const seenB: string[] = [];
    a.subscribe((topic: ChangeTopic, key: string) => seenA.push(`${topic}:${key}`));
    b.subscribe((topic: ChangeTopic, key: string) => seenB.push(`${topic}:${key}`));

    a.publish('policy', 'etl-read');
    assert.deepEqual(seenA, ['policy:etl-read'], 'delivered locally at once');
    await eventually('B receives it', () => seenB.includes('policy:etl-read'));
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(seenA, ['policy:etl-read'], 'A does not receive its own notification twice');
    assert.deepEqual(seenB, ['policy:etl-read']);

    // Kill B's LISTEN backend: B must drop caches, reconnect, and receive later changes.
    seenB.length = 0;
    const killed = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND query ILIKE 'LISTEN%'`, [db.database]);
    assert.ok(killed.rowCount! >= 2);
    await eventually('B reconnects', () => b.isConnected() === false || seenB.includes('token:*'));
    await eventually('B is listening again', () => b.isConnected());
    for (const topic of ['token', 'policy', 'keyring', 'secret']) assert.ok(seenB.includes(`${topic}:*`), `B was told to drop ${topic}`);
    await eventually('A is listening again', () => a.isConnected());
    a.publish('token', 'acc-1');
    await eventually('B gets changes after reconnecting', () => seenB.includes('token:acc-1'));
  });

  await t.test('other nodes receive one node\'s notifications in publish order, repeats included, even when its NOTIFY connection dies', async () => {
    const a = createPgChangeBus({ ...options, nodeId: 'ordered-a' });
    const b = createPgChangeBus({ ...options, nodeId: 'ordered-b' });
    closers.push(() => a.close(), () => b.close());
    await Promise.all([a.ready, b.ready]);
    const seenB: string[] = [];
    b.subscribe((topic: ChangeTopic, key: string) => {
      if (key !== '*') seenB.push(`${topic}:${key}`);
    });
    // A rotation's CURRENT move, then its hold release, over and over: the same payloads repeat,
    // and publishes overlap (nobody awaits them), as on a busy node.
    const sent: string[] = [];
    for (let i = 0; i < 150; i++) {
      sent.push(`secret:s-${i % 3}`, `rotation:release:us-east-1|prod/db`, `rotation:hold:us-east-1|prod/db`);
    }
    const published = sent.map((m) => {
      const [topic, ...rest] = m.split(':');
      return a.publish(topic as ChangeTopic, rest.join(':'));
    });
    await Promise.all(published);
    await eventually('B received everything', () => seenB.length >= sent.length, 10_000);
    assert.deepEqual(seenB, sent);

    // The NOTIFY connection dies: the next publish fails once, is sent again on a new
    // connection, and what was published after it still arrives after it.
    seenB.length = 0;
    const killed = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'custos-notify ordered-a'`);
    assert.equal(killed.rowCount, 1);
    await Promise.all([a.publish('secret', 'after-kill'), a.publish('rotation', 'release:us-east-1|prod/after-kill')]);
    await eventually('B received both', () => seenB.length >= 2, 10_000);
    assert.deepEqual(seenB, ['secret:after-kill', 'rotation:release:us-east-1|prod/after-kill']);
  });

  await t.test('exactly one leader; losing its connection hands leadership to another node', async () => {
    const changes: string[] = [];
    const nodes = ['x', 'y', 'z'].map((nodeId) => createPgLeadership({ ...options, nodeId, pollMs: 200, onChange: (leader) => changes.push(`${nodeId}:${leader}`) }));
    closers.push(...nodes.map((n) => () => n.close()));
    await Promise.all(nodes.map((n) => n.ready));
    await eventually('one leader', () => nodes.filter((n) => n.isLeader()).length === 1);
    await new Promise((r) => setTimeout(r, 600)); // several polls
    assert.equal(nodes.filter((n) => n.isLeader()).length, 1);
    const first = nodes.find((n) => n.isLeader())!;

    // The leader's session dies (as when its process is killed or the network drops it).
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [`custos-leader ${first.nodeId}`]);
    await eventually('the old leader notices', () => !first.isLeader());
    await eventually('another node leads', () => nodes.some((n) => n !== first && n.isLeader()));
    assert.equal(nodes.filter((n) => n.isLeader()).length, 1);

    // A graceful close releases the lock at once.
    const second = nodes.find((n) => n.isLeader())!;
    await second.close();
    await eventually('a third leader after a graceful close', () => nodes.some((n) => n !== second && n.isLeader()));
    assert.equal(nodes.filter((n) => n.isLeader()).length, 1);
    assert.ok(changes.includes(`${first.nodeId}:false`));
    for (const n of nodes) await n.close();
  });

  await t.test('a node that may not lead (sealed) never takes the lock, and a leader that becomes ineligible hands it over', async () => {
    let sealedMayLead = false;
    let activeMayLead = true;
    const sealed = createPgLeadership({ ...options, nodeId: 'sealed', pollMs: 100, eligible: () => sealedMayLead });
    closers.push(() => sealed.close());
    await sealed.ready;
    const active = createPgLeadership({ ...options, nodeId: 'active', pollMs: 100, eligible: () => activeMayLead });
    closers.push(() => active.close());
    await eventually('the eligible node leads', () => active.isLeader());
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(sealed.isLeader(), false);
    sealedMayLead = true; // unsealed now
    activeMayLead = false; // sealed now
    await eventually('leadership moves to the newly eligible node', () => sealed.isLeader() && !active.isLeader());
  });
});

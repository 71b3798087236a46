import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isAppError } from '../errors/app-error.js';
import { createLocalChangeBus } from '../lib/change-bus.js';
import { createAuthorizer } from '../services/authorizer.js';
import { SYSTEM_IDENTITY, type Identity } from '../auth/identity.types.js';
import { openStorage, type Storage } from '../storage/database.js';
import { createLeaseStore } from '../storage/lease-store.js';
import { createPolicyStore } from '../storage/policy-store.js';
import type { AuditEvent } from '../audit/audit-chain.js';
import { createLeaseManager } from './lease-manager.js';
import { createLeaseSweeper } from './lease-sweeper.js';
import type { Lease, LeaseRevoker } from './lease.types.js';

/**
 * Leases over real SQLite storage with an injected clock. The revocation target is a stand-in
 * for an external system (a set of "users" that can be made unreachable), as a database would be.
 */
const code = (error: unknown) => (isAppError(error) ? error.code : String(error));
const quiet = { warn: () => undefined, error: () => undefined };

function target() {
  const users = new Set<string>();
  const drops: string[] = [];
  let down = false;
  const revoker: LeaseRevoker = {
    async revoke(lease: Lease) {
      if (down) throw new Error('connection refused');
      // Idempotent like DROP ... IF EXISTS: a user already gone counts as revoked.
      if (users.delete(lease.data.username!)) drops.push(lease.data.username!);
    },
    resourceOf: (lease) => `database:creds/${lease.role}`,
  };
  return { users, drops, revoker, setDown: (v: boolean) => (down = v) };
}

describe('lease manager', () => {
  let dir: string;
  let storage: Storage;
  let clock = 1_000_000_000_000;
  const now = () => clock;
  const events: AuditEvent[] = [];

  async function open(file: string) {
    storage = await openStorage({ url: `sqlite:${path.join(dir, file + '.db')}` });
    const authorizer = createAuthorizer({ db: storage.db, policyStore: createPolicyStore(), changes: createLocalChangeBus() });
    return createLeaseManager({ db: storage.db, store: createLeaseStore(), authorizer, now, audit: async (e) => void events.push(e), nodeId: 'n1', logger: quiet, batchSize: 10, concurrency: 3, backoffMs: 1000, alertAfterAttempts: 2 });
  }

  async function issue(leases: Awaited<ReturnType<typeof open>>, t: ReturnType<typeof target>, username: string, ttl = 60, max = 300, accessor: string | null = 'acc_owner') {
    t.users.add(username);
    return storage.db.transaction().execute((tx) => leases.issue(tx, { prefix: 'database/creds/ro', engine: 'database', role: 'ro', env: 'prod', accessor, data: { username }, ttlSeconds: ttl, maxTtlSeconds: max, renewable: true }));
  }

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'custos-leases-'));
  });
  after(async () => {
    await storage?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('renew extends up to the max TTL, never past it; at the max it is refused; expired leases cannot be renewed', async () => {
    const leases = await open('renew');
    const t = target();
    leases.register('database', t.revoker);
    const lease = await issue(leases, t, 'u_renew', 60, 150);
    assert.equal(lease.expiresAt, clock + 60_000);
    clock += 50_000;
    const renewed = await leases.renew(SYSTEM_IDENTITY, lease.id, 60);
    assert.equal(renewed.expiresAt, clock + 60_000);
    clock += 50_000;
    const capped = await leases.renew(SYSTEM_IDENTITY, lease.id, 3600);
    assert.equal(capped.expiresAt, lease.maxExpiresAt, 'capped at the max TTL');
    await assert.rejects(leases.renew(SYSTEM_IDENTITY, lease.id, 10), (e) => code(e) === 'lease_max_ttl_reached');
    const other = await issue(leases, t, 'u_expired', 10, 100);
    clock += 11_000;
    await assert.rejects(leases.renew(SYSTEM_IDENTITY, other.id, 10), (e) => code(e) === 'lease_expired');
    await storage.close();
  });

  test('only the issuing token, or sys:leases, may renew, revoke or read a lease', async () => {
    const leases = await open('owner');
    const t = target();
    leases.register('database', t.revoker);
    const lease = await issue(leases, t, 'u_owner');
    const stranger: Identity = { accessor: 'acc_other', displayName: 'other', policies: [], env: null, isRoot: false, expiresAt: null };
    await assert.rejects(leases.renew(stranger, lease.id, 10), (e) => code(e) === 'permission_denied');
    await assert.rejects(leases.revoke(stranger, lease.id), (e) => code(e) === 'permission_denied');
    await assert.rejects(leases.list(stranger, {}), (e) => code(e) === 'permission_denied');
    assert.ok(t.users.has('u_owner'), 'a refused revoke drops nothing');
    const owner: Identity = { ...stranger, accessor: 'acc_owner' };
    await leases.revoke(owner, lease.id);
    assert.ok(!t.users.has('u_owner'));
    await storage.close();
  });

  test('revoke is idempotent: the user is dropped once, revoking again succeeds without another drop', async () => {
    const leases = await open('idem');
    const t = target();
    leases.register('database', t.revoker);
    const lease = await issue(leases, t, 'u_twice');
    assert.equal((await leases.revoke(SYSTEM_IDENTITY, lease.id)).state, 'revoked');
    assert.equal((await leases.revoke(SYSTEM_IDENTITY, lease.id)).state, 'revoked');
    assert.deepEqual(t.drops, ['u_twice']);
    await assert.rejects(leases.renew(SYSTEM_IDENTITY, lease.id, 10), (e) => code(e) === 'lease_revoked');
    await storage.close();
  });

  test('a crash after the user was dropped but before the lease was marked revoked: the restarted sweeper finishes it, no harm', async () => {
    let leases = await open('crash');
    const t = target();
    leases.register('database', t.revoker);
    const lease = await issue(leases, t, 'u_crash');
    // What the process had done when it died: intent stored, user dropped, row not yet revoked.
    await createLeaseStore().markRevoking(storage.db, lease.id, clock);
    await t.revoker.revoke({ ...lease });
    await storage.close();

    leases = await open('crash'); // the restart: state comes only from the database
    leases.register('database', t.revoker);
    assert.equal(await leases.sweepBatch(), 1);
    const row = await createLeaseStore().find(storage.db, lease.id);
    assert.equal(row!.state, 'revoked');
    assert.deepEqual(t.drops, ['u_crash'], 'dropped exactly once');
    await storage.close();
  });

  test('expired leases are revoked by the sweeper after a restart, in bounded batches, each exactly once', async () => {
    let leases = await open('expiry');
    const t = target();
    leases.register('database', t.revoker);
    for (let i = 0; i < 25; i++) await issue(leases, t, `u_exp_${i}`, 30);
    const keeper = await issue(leases, t, 'u_keep', 3600, 7200);
    await storage.close();

    clock += 31_000;
    leases = await open('expiry');
    leases.register('database', t.revoker);
    const sweeper = createLeaseSweeper({ leases, leadership: { isLeader: () => true }, isSealed: () => false, logger: quiet, tickMs: 1000 });
    assert.equal(await leases.sweepBatch(), 10, 'one batch is bounded by batchSize');
    assert.equal(await sweeper.tick(), 15, 'the tick pages through the rest');
    assert.equal(t.drops.filter((u) => u.startsWith('u_exp_')).length, 25);
    assert.equal(new Set(t.drops).size, t.drops.length, 'no user dropped twice');
    assert.ok(t.users.has('u_keep'), 'an unexpired lease is left alone');
    assert.equal((await leases.read(SYSTEM_IDENTITY, keeper.id)).state, 'active');
    const revokedEvents = events.filter((e) => e.operation === 'lease.revoke' && e.outcome === 'success' && e.detail?.reason === 'expired');
    assert.ok(revokedEvents.length >= 25);
    await storage.close();
  });

  test('a sweeper that is not the leader does nothing', async () => {
    const leases = await open('follower');
    const t = target();
    leases.register('database', t.revoker);
    await issue(leases, t, 'u_follower', 1);
    clock += 2000;
    const sweeper = createLeaseSweeper({ leases, leadership: { isLeader: () => false }, isSealed: () => false, logger: quiet, tickMs: 1000 });
    assert.equal(await sweeper.tick(), 0);
    assert.ok(t.users.has('u_follower'));
    await leases.sweepBatch();
    await storage.close();
  });

  test('a failing revocation is retried with backoff, alerted after repeated failures, and succeeds when the target returns', async () => {
    const leases = await open('backoff');
    const t = target();
    leases.register('database', t.revoker);
    const lease = await issue(leases, t, 'u_down', 5);
    clock += 6000;
    t.setDown(true);
    await leases.sweepBatch();
    let row = await createLeaseStore().find(storage.db, lease.id);
    assert.equal(row!.state, 'revoking');
    assert.equal(row!.revoke_attempts, 1);
    assert.equal(row!.next_attempt_at, clock + 1000);
    assert.match(row!.last_error!, /connection refused/);
    assert.equal(await leases.sweepBatch(), 0, 'not retried before its backoff');
    clock += 1000;
    await leases.sweepBatch();
    row = await createLeaseStore().find(storage.db, lease.id);
    assert.equal(row!.revoke_attempts, 2);
    assert.equal(row!.next_attempt_at, clock + 2000, 'the delay doubles');
    assert.ok(events.some((e) => e.detail?.lease_id === lease.id && e.detail?.alert === 'lease_revocation_failing'), 'alerted after 2 attempts');
    t.setDown(false);
    clock += 2000;
    await leases.sweepBatch();
    assert.equal((await createLeaseStore().find(storage.db, lease.id))!.state, 'revoked');
    assert.ok(!t.users.has('u_down'));
    await storage.close();
  });

  test('per-target backoff: when one connection is down, its other leases wait without an attempt; other connections are unaffected', async () => {
    const leases = await open('groups');
    const users = new Set<string>();
    let attemptsOnDown = 0;
    leases.register('database', {
      async revoke(lease) {
        if (lease.data.connection === 'down') {
          attemptsOnDown++;
          throw new Error('connection refused');
        }
        users.delete(lease.data.username!);
      },
      resourceOf: (lease) => `database:creds/${lease.role}`,
      groupOf: (lease) => lease.data.connection!,
    });
    for (let i = 0; i < 8; i++) {
      for (const connection of ['down', 'up']) {
        users.add(`${connection}_${i}`);
        await storage.db.transaction().execute((tx) => leases.issue(tx, { prefix: 'database/creds/g', engine: 'database', role: 'g', env: null, accessor: null, data: { connection, username: `${connection}_${i}` }, ttlSeconds: 1, maxTtlSeconds: 10, renewable: true }));
      }
    }
    clock += 2000;
    await leases.sweepBatch();
    await leases.sweepBatch();
    assert.ok(attemptsOnDown <= 3, `at most one wave of the concurrency tried the down connection (${attemptsOnDown})`);
    assert.equal([...users].filter((u) => u.startsWith('up_')).length, 0, 'the healthy connection was swept fully');
    const rows = await storage.db.selectFrom('leases').selectAll().where('id', 'like', 'database/creds/g/%').where('state', '=', 'revoking').execute();
    assert.equal(rows.length, 8, 'every lease of the down connection is kept for a retry');
    for (const row of rows) assert.ok(row.next_attempt_at! > clock);
    await storage.close();
  });

  test('revoke-prefix marks every lease under the prefix in one statement; the sweeper revokes them', async () => {
    const leases = await open('prefix');
    const t = target();
    leases.register('database', t.revoker);
    for (let i = 0; i < 12; i++) await issue(leases, t, `u_pfx_${i}`, 3600, 7200);
    assert.equal(await leases.revokePrefix(SYSTEM_IDENTITY, 'database/creds/ro/'), 12);
    while ((await leases.sweepBatch()) > 0);
    assert.equal([...t.users].filter((u) => u.startsWith('u_pfx_')).length, 0);
    const page = await leases.list(SYSTEM_IDENTITY, { prefix: 'database/creds/ro/' });
    assert.equal(page.leases.length, 0, 'no lease is left unrevoked');
    await assert.rejects(leases.revokePrefix(SYSTEM_IDENTITY, ''), (e) => code(e) === 'validation_failed');
    assert.deepEqual(await leases.countByState(), {});
    // Revoked rows are kept for the retention (7 days by default), then pruned.
    assert.equal(await leases.pruneRevoked(), 0);
    clock += 7 * 86_400_000 + 1;
    assert.equal(await leases.pruneRevoked(), 12);
    assert.equal((await leases.list(SYSTEM_IDENTITY, { prefix: 'database/creds/ro/', includeRevoked: true })).leases.length, 0);
    await storage.close();
  });
});

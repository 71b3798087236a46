import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createAuditLog, createInProcessAppender, createPgAppender } from '../../src/audit/audit-log.js';
import { createBarrier } from '../../src/barrier/barrier.js';
import { createLocalChangeBus } from '../../src/lib/change-bus.js';
import { createAuthorizer } from '../../src/services/authorizer.js';
import { SYSTEM_IDENTITY } from '../../src/auth/identity.types.js';
import { createSecretsService } from '../../src/engines/secrets/secrets-service.js';
import { createAuditStore, type AuditStore } from '../../src/storage/audit-store.js';
import type { Storage } from '../../src/storage/database.js';
import { createPolicyStore } from '../../src/storage/policy-store.js';
import { createSecretStore } from '../../src/storage/secret-store.js';
import { createSystemStore } from '../../src/storage/system-store.js';
import { createTokenStore } from '../../src/storage/token-store.js';
import { createPageCursors } from '../../src/engines/secrets/page-cursor.js';

/**
 * The storage contract: every store method the services use, transactions, concurrent writers
 * and dialect edge cases, defined once and run against each engine (sqlite.test.ts,
 * postgres.test.ts). `open` returns a fresh, migrated, empty database each call; calling it
 * several times for one database (`openAnother`) gives separate connections/pools, like nodes.
 */
export interface ContractEngine {
  name: string;
  /** A fresh empty database, plus a way to open more connections to that same database. */
  open(): Promise<{ storage: Storage; openAnother(): Promise<Storage> }>;
  /** Stops whatever the engine started (after every storage was closed). */
  teardown?(): Promise<void>;
}

const DAY = 86_400_000;
const T0 = 1_763_800_000_000; // epoch ms, well past 2^32
const id = () => randomBytes(8).toString('hex');

function secretRow(name: string, overrides: Record<string, unknown> = {}) {
  return {
    id: id(), region: 'us-east-1', name, arn_suffix: 'AbCdEf', description: null, owner: null, kms_key_id: null,
    created_at: T0, updated_at: T0, last_accessed_at: null, last_rotated_at: null, deleted_at: null, delete_after: null,
    rotation: null, primary_region: null, ...overrides,
  };
}

function versionRow(secretId: string, versionId: string, createdAt: number) {
  return {
    secret_id: secretId, version_id: versionId, created_at: createdAt, value_kind: 'string' as const, key_term: 1,
    wrapped_key: randomBytes(60), ciphertext: Buffer.from([0, 1, 2, 0xff, 0x00, 0x80]), last_accessed_at: null,
  };
}

function tokenRow(accessor: string, parent: string | null, overrides: Record<string, unknown> = {}) {
  return {
    accessor, token_hash: `hash-${accessor}`, parent_accessor: parent, display_name: 'token', policies: JSON.stringify(['p']), env: null,
    is_root: 0, created_at: T0, ttl_seconds: 3600, expires_at: T0 + 3_600_000, max_expires_at: T0 + 7_200_000, revoked_at: null, ...overrides,
  };
}

export function storageContract(engine: ContractEngine): void {
  describe(`storage contract: ${engine.name}`, () => {
    let storage: Storage;
    let openAnother: () => Promise<Storage>;
    const extra: Storage[] = [];
    const secrets = () => createSecretStore(storage.dialect);

    before(async () => {
      ({ storage, openAnother } = await engine.open());
    });
    after(async () => {
      for (const s of extra) await s.close();
      await storage.close();
      await engine.teardown?.();
    });

    test('system store: get/set upserts; keyring rows come back ordered with Buffer blobs', async () => {
      const store = createSystemStore();
      assert.equal(await store.get(storage.db, 'missing'), undefined);
      await store.set(storage.db, 'k', 'one');
      await store.set(storage.db, 'k', 'two');
      assert.equal(await store.get(storage.db, 'k'), 'two');
      const blob = Buffer.concat([Buffer.from([0, 0xff, 0x00]), randomBytes(64)]);
      await store.insertKey(storage.db, { key_id: 'data:2', purpose: 'data', term: 2, sealed_key: blob, created_at: T0 });
      await store.insertKey(storage.db, { key_id: 'data:1', purpose: 'data', term: 1, sealed_key: Buffer.from('x'), created_at: T0 });
      const ring = await store.keyring(storage.db);
      assert.deepEqual(ring.map((r) => r.term), [1, 2]);
      assert.ok(Buffer.isBuffer(ring[1]!.sealed_key));
      assert.ok(ring[1]!.sealed_key.equals(blob));
      assert.equal(typeof ring[1]!.created_at, 'number');
      assert.equal(ring[1]!.created_at, T0);
    });

    test('secret store: insert, find (also for update), update, bigint times as numbers', async () => {
      const store = secrets();
      const row = secretRow('app/db', { delete_after: 2 ** 52, description: 'ünïcødé ✓' });
      await store.insert(storage.db, row);
      const found = await store.findByName(storage.db, 'us-east-1', 'app/db');
      assert.deepEqual(found, row);
      assert.equal(typeof found!.created_at, 'number');
      assert.equal(found!.delete_after, 2 ** 52);
      assert.deepEqual(await store.findById(storage.db, row.id), row);
      assert.equal(await store.findByName(storage.db, 'eu-west-1', 'app/db'), undefined);
      await storage.db.transaction().execute(async (tx) => {
        const locked = await store.findByName(tx, 'us-east-1', 'app/db', { forUpdate: true });
        assert.equal(locked?.id, row.id);
        await store.update(tx, row.id, { owner: 'team', updated_at: T0 + 1 });
      });
      const updated = await store.findById(storage.db, row.id);
      assert.equal(updated?.owner, 'team');
      assert.equal(updated?.updated_at, T0 + 1);
      await store.touchAccessed(storage.db, row.id, T0 - (T0 % DAY));
      assert.equal((await store.findById(storage.db, row.id))?.last_accessed_at, T0 - (T0 % DAY));
    });

    test('secret store: versions, labels, readByLabel, readLabelled, deleteVersions, tags, remove cascades', async () => {
      const store = secrets();
      const s = secretRow('app/versions');
      await store.insert(storage.db, s);
      await store.insertVersion(storage.db, versionRow(s.id, 'v1', T0));
      await store.insertVersion(storage.db, versionRow(s.id, 'v2', T0 + 10));
      await store.insertVersion(storage.db, versionRow(s.id, 'v3', T0 + 10));
      assert.deepEqual((await store.listVersions(storage.db, s.id)).map((v) => v.version_id), ['v2', 'v3', 'v1']);
      const v1 = await store.findVersion(storage.db, s.id, 'v1');
      assert.ok(Buffer.isBuffer(v1!.ciphertext));
      assert.ok(v1!.ciphertext.equals(Buffer.from([0, 1, 2, 0xff, 0x00, 0x80])));

      await store.setLabel(storage.db, s.id, 'CURRENT', 'v1');
      await store.setLabel(storage.db, s.id, 'CURRENT', 'v2'); // upsert moves it
      await store.setLabel(storage.db, s.id, 'PREVIOUS', 'v1');
      assert.deepEqual((await store.labels(storage.db, s.id)).map((l) => [l.label, l.version_id]), [['CURRENT', 'v2'], ['PREVIOUS', 'v1']]);
      const current = await store.readByLabel(storage.db, 'us-east-1', 'app/versions', 'CURRENT');
      assert.equal(current?.version_id, 'v2');
      assert.equal(current?.version_created_at, T0 + 10);
      assert.equal(current?.id, s.id);
      assert.ok(Buffer.isBuffer(current?.wrapped_key));
      assert.equal(await store.readByLabel(storage.db, 'us-east-1', 'app/versions', 'PENDING'), undefined);
      await store.setLabel(storage.db, s.id, 'AWSCURRENT', 'v2');
      const labelled = await store.readLabelled(storage.db, 'us-east-1', 'app/versions', 'CURRENT');
      assert.equal(labelled?.row.version_id, 'v2');
      assert.ok(labelled?.row.ciphertext.equals(Buffer.from([0, 1, 2, 0xff, 0x00, 0x80])));
      assert.deepEqual(labelled?.labels, ['AWSCURRENT', 'CURRENT']); // the version's labels only, ordered
      assert.equal(await store.readLabelled(storage.db, 'us-east-1', 'app/versions', 'PENDING'), undefined);
      await store.removeLabel(storage.db, s.id, 'AWSCURRENT');
      await store.removeLabel(storage.db, s.id, 'PREVIOUS');
      assert.deepEqual((await store.labels(storage.db, s.id)).map((l) => l.label), ['CURRENT']);
      await store.deleteVersions(storage.db, s.id, ['v1', 'v3']);
      await store.deleteVersions(storage.db, s.id, []);
      assert.deepEqual((await store.listVersions(storage.db, s.id)).map((v) => v.version_id), ['v2']);

      await store.putTags(storage.db, s.id, { team: 'data', 'cost-center': '42' });
      await store.putTags(storage.db, s.id, { team: 'platform' });
      const other = secretRow('app/other');
      await store.insert(storage.db, other);
      await store.putTags(storage.db, other.id, { a: '1' });
      const tags = await store.tags(storage.db, [s.id, other.id, 'nope']);
      assert.deepEqual(tags.get(s.id), { 'cost-center': '42', team: 'platform' });
      assert.deepEqual(tags.get(other.id), { a: '1' });
      assert.equal((await store.tags(storage.db, [])).size, 0);
      await store.removeTags(storage.db, s.id, ['cost-center']);
      assert.deepEqual((await store.tags(storage.db, [s.id])).get(s.id), { team: 'platform' });

      await storage.db.transaction().execute((tx) => store.remove(tx, s.id));
      assert.equal(await store.findById(storage.db, s.id), undefined);
      assert.deepEqual(await store.listVersions(storage.db, s.id), []);
      assert.deepEqual(await store.labels(storage.db, s.id), []);
      assert.equal((await store.tags(storage.db, [s.id])).size, 0);
    });

    test('secret store: prefix listing treats _ and % literally, keeps unicode, paginates, hides deleted', async () => {
      const store = secrets();
      const names = ['pfx/a_b', 'pfx/aXb', 'pfx/a%b', 'pfx/a%', 'pfx/ab', 'pfx/a_b/c', 'pfx/a_😀', 'pfx/a_é', 'pfx/a_ü', 'pfx-other', 'pfy/a_b'];
      for (const name of names) await store.insert(storage.db, secretRow(name));
      await store.insert(storage.db, secretRow('pfx/a_gone', { deleted_at: T0, delete_after: T0 + DAY }));
      const list = async (prefix: string, extra: object = {}) => (await store.list(storage.db, { region: 'us-east-1', prefix, limit: 100, ...extra })).map((r) => r.name).sort();
      assert.deepEqual(await list('pfx/a_'), ['pfx/a_b', 'pfx/a_b/c', 'pfx/a_é', 'pfx/a_ü', 'pfx/a_😀'].sort());
      assert.deepEqual(await list('pfx/a%'), ['pfx/a%', 'pfx/a%b']);
      assert.deepEqual(await list('pfx/a_😀'), ['pfx/a_😀']);
      assert.deepEqual(await list('pfx/a_', { includeDeleted: true }), ['pfx/a_b', 'pfx/a_b/c', 'pfx/a_gone', 'pfx/a_é', 'pfx/a_ü', 'pfx/a_😀'].sort());
      assert.deepEqual(await list('nothing/'), []);
      assert.equal(await store.findByName(storage.db, 'us-east-1', 'pfx/a_😀').then((r) => r?.name), 'pfx/a_😀');
      // Keyset pagination visits every name once, in the engine's order.
      const seen: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await store.list(storage.db, { region: 'us-east-1', prefix: 'pfx/', limit: 3, afterName: after });
        if (page.length === 0) break;
        seen.push(...page.map((r) => r.name));
        after = page[page.length - 1]!.name;
      }
      assert.deepEqual([...seen].sort(), names.filter((n) => n.startsWith('pfx/')).sort());
      assert.equal(new Set(seen).size, seen.length);
    });

    test('secret store: expired deletions are listed for the purge job', async () => {
      const store = secrets();
      const due = secretRow('purge/due', { deleted_at: T0 - 40 * DAY, delete_after: T0 - DAY });
      const later = secretRow('purge/later', { deleted_at: T0, delete_after: T0 + 7 * DAY });
      await store.insert(storage.db, due);
      await store.insert(storage.db, later);
      const expired = (await store.listExpiredDeletions(storage.db, T0, 500)).map((r) => r.id);
      assert.ok(expired.includes(due.id));
      assert.ok(!expired.includes(later.id));
    });

    test('token store: insert, lookups, expiry, revoking a whole tree', async () => {
      const store = createTokenStore();
      await store.insert(storage.db, tokenRow('t-root', null));
      await store.insert(storage.db, tokenRow('t-child', 't-root'));
      await store.insert(storage.db, tokenRow('t-grandchild', 't-child'));
      await store.insert(storage.db, tokenRow('t-sibling', null));
      assert.equal((await store.findByHash(storage.db, 'hash-t-child'))?.accessor, 't-child');
      assert.equal(await store.findByHash(storage.db, 'nope'), undefined);
      const row = await store.findByAccessor(storage.db, 't-root');
      assert.equal(row?.expires_at, T0 + 3_600_000);
      assert.equal(row?.is_root, 0);
      await store.setExpiry(storage.db, 't-root', T0 + 5000);
      assert.equal((await store.findByAccessor(storage.db, 't-root'))?.expires_at, T0 + 5000);
      const revoked = await storage.db.transaction().execute((tx) => store.revokeTree(tx, 't-root', T0 + 1));
      assert.deepEqual([...revoked].sort(), ['t-child', 't-grandchild', 't-root']);
      for (const a of revoked) assert.equal((await store.findByAccessor(storage.db, a))?.revoked_at, T0 + 1);
      assert.equal((await store.findByAccessor(storage.db, 't-sibling'))?.revoked_at, null);
      // Revoking again keeps the first revocation time.
      await store.revokeTree(storage.db, 't-child', T0 + 99);
      assert.equal((await store.findByAccessor(storage.db, 't-child'))?.revoked_at, T0 + 1);
    });

    test('policy store: upsert keeps created_at, find, findMany, list ordered, remove', async () => {
      const store = createPolicyStore();
      await store.upsert(storage.db, 'zeta', 'doc-1', T0);
      await store.upsert(storage.db, 'alpha', 'doc-a', T0);
      await store.upsert(storage.db, 'zeta', 'doc-2', T0 + 5);
      const zeta = await store.find(storage.db, 'zeta');
      assert.deepEqual(zeta, { name: 'zeta', document: 'doc-2', created_at: T0, updated_at: T0 + 5 });
      assert.deepEqual((await store.findMany(storage.db, ['zeta', 'missing', 'alpha'])).map((p) => p.name).sort(), ['alpha', 'zeta']);
      assert.deepEqual(await store.findMany(storage.db, []), []);
      assert.deepEqual((await store.list(storage.db)).map((p) => p.name), ['alpha', 'zeta']);
      assert.equal(await store.remove(storage.db, 'alpha'), true);
      assert.equal(await store.remove(storage.db, 'alpha'), false);
      assert.equal(await store.find(storage.db, 'alpha'), undefined);
    });

    test('a rolled-back transaction leaves nothing behind', async () => {
      const store = secrets();
      const s = secretRow('tx/rolled-back');
      await assert.rejects(
        storage.db.transaction().execute(async (tx) => {
          await store.insert(tx, s);
          await store.insertVersion(tx, versionRow(s.id, 'v1', T0));
          await store.setLabel(tx, s.id, 'CURRENT', 'v1');
          await createPolicyStore().upsert(tx, 'tx-policy', 'doc', T0);
          await createTokenStore().insert(tx, tokenRow('tx-token', null));
          throw new Error('abort');
        }),
        /abort/,
      );
      assert.equal(await store.findById(storage.db, s.id), undefined);
      assert.equal(await store.findVersion(storage.db, s.id, 'v1'), undefined);
      assert.deepEqual(await store.labels(storage.db, s.id), []);
      assert.equal(await createPolicyStore().find(storage.db, 'tx-policy'), undefined);
      assert.equal(await createTokenStore().findByAccessor(storage.db, 'tx-token'), undefined);
      // A failing statement (duplicate key) inside a transaction rolls back its earlier writes too.
      const dup = secretRow('tx/dup');
      await store.insert(storage.db, dup);
      await assert.rejects(storage.db.transaction().execute(async (tx) => {
        await createPolicyStore().upsert(tx, 'tx-policy-2', 'doc', T0);
        await store.insert(tx, { ...secretRow('tx/dup'), id: id() });
      }));
      assert.equal(await createPolicyStore().find(storage.db, 'tx-policy-2'), undefined);
    });

    test('audit store: chunked inserts, head, page, query filters, anchor, lastBefore, deleteUpTo', async () => {
      const store = createAuditStore(storage.dialect);
      assert.equal(await store.head(storage.db), undefined);
      const rows = Array.from({ length: 450 }, (_, i) => ({
        seq: i + 1, time: T0 + i * 1000, request_id: `r${i}`, accessor: i % 2 ? 'acc-odd' : 'acc-even', source: '127.0.0.1',
        operation: i % 3 ? 'secret.read' : 'secret.write', secret_name: i % 5 ? 'a/b' : 'c/ü', version_id: null, outcome: i % 7 ? 'success' : 'denied',
        error_code: null, status: 200, latency_us: 123_456_789_012, detail: i === 0 ? JSON.stringify({ node: 'n1' }) : null, prev_hash: `p${i}`, hash: `h${i + 1}`,
      }));
      await storage.db.transaction().execute(async (tx) => {
        await store.lockChain(tx);
        await store.insertMany(tx, rows);
      });
      assert.deepEqual(await store.head(storage.db), { seq: 450, hash: 'h450' });
      const page = await store.page(storage.db, 100, 50);
      assert.deepEqual([page[0]!.seq, page.at(-1)!.seq, page.length], [101, 150, 50]);
      assert.equal(page[0]!.latency_us, 123_456_789_012);
      assert.deepEqual(await store.page(storage.db, 0, 1).then((p) => p[0]), rows[0]);
      const q = (query: object) => store.query(storage.db, { limit: 1000, ...query });
      assert.equal((await q({ secretName: 'c/ü' })).length, 90);
      assert.equal((await q({ accessor: 'acc-odd' })).length, 225);
      assert.equal((await q({ since: T0 + 400_000 })).length, 50);
      assert.equal((await q({ outcome: 'denied' })).length, 65);
      assert.equal((await q({ operation: 'secret.write' })).length, 150);
      assert.equal((await q({ afterSeq: 440 })).length, 10);
      const tail = await store.query(storage.db, { newestFirst: true, limit: 3 });
      assert.deepEqual(tail.map((r) => r.seq), [450, 449, 448]);
      assert.deepEqual(await store.lastBefore(storage.db, T0 + 10_500), { seq: 11, hash: 'h11' });
      assert.deepEqual(await store.nthUpTo(storage.db, 11, 5), { seq: 5, hash: 'h5' }, 'a retention batch ends at its n-th oldest event');
      assert.equal(await store.nthUpTo(storage.db, 11, 12), undefined, 'fewer events than a batch: none');
      assert.equal(await store.anchor(storage.db), undefined);
      await store.setAnchor(storage.db, { seq: 11, hash: 'h11', pruned_before: T0 + 10_500, mac: 'm11' });
      await store.setAnchor(storage.db, { seq: 12, hash: 'h12', pruned_before: T0 + 11_500, mac: 'm12' });
      assert.deepEqual(await store.anchor(storage.db), { id: 1, seq: 12, hash: 'h12', pruned_before: T0 + 11_500, mac: 'm12' });
      assert.equal(await store.headCheckpoint(storage.db), undefined);
      await store.setHeadCheckpoint(storage.db, { seq: 449, hash: 'h449', mac: 'm449' });
      await store.setHeadCheckpoint(storage.db, { seq: 450, hash: 'h450', mac: 'm450' });
      // The head comes with the hash of the event it names (here, event 450 is stored).
      assert.deepEqual(await store.headCheckpoint(storage.db), { seq: 450, hash: 'h450', mac: 'm450', event_hash: 'h450', event_time: T0 + 449 * 1000 });
      assert.equal(await store.deleteUpTo(storage.db, 12), 12);
      assert.equal((await store.page(storage.db, 0, 1))[0]!.seq, 13);
      // Leave an empty log (no anchor, no checkpoint) for the chain test below.
      await store.deleteUpTo(storage.db, 450);
      await storage.db.deleteFrom('audit_anchor').execute();
      await storage.db.deleteFrom('audit_head').execute();
      await storage.db.deleteFrom('audit_anchor').execute();
    });

    describe('through the services, with an unsealed barrier', () => {
      let barrier: ReturnType<typeof createBarrier>;
      before(async () => {
        barrier = createBarrier({ db: storage.db, systemStore: createSystemStore(), now: Date.now });
        // The system-store test left rows behind: use a clean slate for the keyring.
        await storage.db.deleteFrom('keyring').execute();
        await storage.db.deleteFrom('system_state').execute();
        const [key] = await storage.db.transaction().execute((tx) => barrier.initialize(tx, 1, 1));
        await barrier.submitUnsealShare(key!);
        assert.equal(barrier.isSealed(), false);
      });

      test('20 concurrent putValue on one secret: every version stored, exactly one CURRENT, one PREVIOUS', async () => {
        const changes = createLocalChangeBus();
        const service = createSecretsService({
          db: storage.db, secretStore: secrets(), barrier, authorizer: createAuthorizer({ db: storage.db, policyStore: createPolicyStore(), changes }),
          changes, cursors: createPageCursors(barrier), now: Date.now, region: 'us-east-1', accountId: '123456789012',
        });
        const name = 'concurrent/one-secret';
        await service.create(SYSTEM_IDENTITY, { name, value: { kind: 'string', text: 'v0' } });
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => service.putValue(SYSTEM_IDENTITY, { name }, { value: { kind: 'string', text: `v${i + 1}` } })));
        const { versions } = await service.listVersions(SYSTEM_IDENTITY, { name });
        for (const r of results) assert.ok(versions.some((v) => v.versionId === r.versionId), `version ${r.versionId} kept`);
        assert.equal(versions.length, 21);
        assert.equal(versions.filter((v) => v.labels.includes('CURRENT')).length, 1);
        assert.equal(versions.filter((v) => v.labels.includes('PREVIOUS')).length, 1);
        const current = await service.getValue(SYSTEM_IDENTITY, { name });
        assert.ok(results.some((r) => r.versionId === current.versionId));
        assert.equal(current.value.kind, 'string');
        await changes.close();
      });

      test('concurrent creates of one name from several connections: exactly one wins, the rest get secret_exists', async () => {
        const conns = [storage, await openAnother(), await openAnother()];
        extra.push(...conns.slice(1));
        const services = conns.map((s) => {
          const changes = createLocalChangeBus();
          return createSecretsService({
            db: s.db, secretStore: createSecretStore(s.dialect), barrier, authorizer: createAuthorizer({ db: s.db, policyStore: createPolicyStore(), changes }),
            changes, cursors: createPageCursors(barrier), now: Date.now, region: 'us-east-1', accountId: '123456789012',
          });
        });
        const outcomes = await Promise.allSettled(services.flatMap((service, n) => Array.from({ length: 4 }, (_, i) =>
          service.create(SYSTEM_IDENTITY, { name: 'concurrent/created-once', value: { kind: 'string', text: `from ${n}-${i}` } }))));
        assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
        for (const o of outcomes) if (o.status === 'rejected') assert.equal((o.reason as { code?: string }).code, 'secret_exists');
        const rows = await storage.db.selectFrom('secrets').select('id').where('name', '=', 'concurrent/created-once').execute();
        assert.equal(rows.length, 1);
      });

      test('one-statement appends fail closed: a head whose MAC does not verify is refused, and nothing is appended', async (t) => {
        if (storage.dialect !== 'postgres') return t.skip('the function is PostgreSQL only');
        await storage.db.deleteFrom('audit_events').execute();
        await storage.db.deleteFrom('audit_head').execute();
        const store = createAuditStore(storage.dialect);
        const found: string[] = [];
        const log = createAuditLog({
          db: storage.db, auditStore: store, appender: createPgAppender(storage.db, store), chainKey: () => barrier.auditKey(), isSealed: () => false, now: Date.now,
          onError: () => undefined, onTamper: (problem) => found.push(problem), allowMissingHead: () => true,
        });
        const event = (i: number) => ({
          time: Date.now(), requestId: `req-${i}`, accessor: 'node-a', source: null, operation: 'test.append', secretName: null, versionId: null,
          outcome: 'success' as const, errorCode: null, status: 200, latencyUs: 10,
        });
        await Promise.all([1, 2, 3].map((i) => log.record(event(i))));
        await log.record(event(4)); // the head row exists now: this batch takes the one-statement path
        assert.equal((await log.verify()).ok, true);
        // The head moved to a seq beyond the stored events, with a MAC forged without the key.
        await storage.db.updateTable('audit_head').set({ seq: 9, mac: 'f'.repeat(64) }).where('id', '=', 1).execute();
        await assert.rejects(log.record(event(5)), (error: { code?: string }) => error.code === 'audit_tampered');
        assert.equal(log.isTampered(), true);
        assert.match(found[0] ?? '', /MAC does not verify/);
        const seqs = (await storage.db.selectFrom('audit_events').select('seq').orderBy('seq').execute()).map((r) => r.seq);
        assert.deepEqual(seqs, [1, 2, 3, 4]);
      });

      // PostgreSQL's one-statement appender, also with one optimistic try so that most batches
      // that lose the race take the locked path; and the locked transaction alone.
      type Race = 'rechained' | 'locked';
      const appenders = [
        { name: 'one-statement appends', postgresOnly: true, tries: 3, make: (s: Storage, store: AuditStore, onHeadRace: (r: Race) => void) => createPgAppender(s.db, store, { onHeadRace }) },
        { name: 'one optimistic try, then the lock', postgresOnly: true, tries: 1, make: (s: Storage, store: AuditStore, onHeadRace: (r: Race) => void) => createPgAppender(s.db, store, { optimisticTries: 1, onHeadRace }) },
        { name: 'locked transactions', postgresOnly: false, tries: 0, make: (s: Storage, store: AuditStore) => createInProcessAppender(s.db, store) },
      ];
      for (const variant of appenders) test(`concurrent audit appends from three connections (like three nodes) keep one gapless chain: ${variant.name}`, async (t) => {
        if (variant.postgresOnly && storage.dialect !== 'postgres') return t.skip('the function is PostgreSQL only');
        await storage.db.deleteFrom('audit_events').execute();
        await storage.db.deleteFrom('audit_head').execute();
        const others = [await openAnother(), await openAnother()];
        extra.push(...others);
        const races: Race[] = [];
        const logs = [storage, ...others].map((s) => createAuditLog({
          db: s.db, auditStore: createAuditStore(s.dialect), appender: variant.make(s, createAuditStore(s.dialect), (r) => races.push(r)), chainKey: () => barrier.auditKey(), isSealed: () => false, now: Date.now, onError: () => undefined,
          // A fresh store with no head yet: the first batch of any node writes it.
          allowMissingHead: () => true,
        }));
        const event = (n: number, i: number) => ({
          time: Date.now(), requestId: `req-${n}-${i}`, accessor: `node-${n}`, source: null, operation: 'test.append', secretName: null, versionId: null,
          outcome: 'success' as const, errorCode: null, status: 200, latencyUs: 10, detail: { node: `n${n}` },
        });
        // Waves of concurrent records so each log writes several batches that interleave.
        for (let wave = 0; wave < 5; wave++) {
          await Promise.all(logs.flatMap((log, n) => Array.from({ length: 10 }, (_, i) => log.record(event(n, wave * 10 + i)))));
        }
        const result = await logs[2]!.verify();
        assert.equal(result.ok, true, JSON.stringify(result.problem));
        assert.equal(result.checked, 150);
        const seqs = (await storage.db.selectFrom('audit_events').select('seq').orderBy('seq').execute()).map((r) => r.seq);
        assert.deepEqual(seqs, Array.from({ length: 150 }, (_, i) => i + 1));
        const nodes = new Set((await storage.db.selectFrom('audit_events').select('accessor').execute()).map((r) => r.accessor));
        assert.equal(nodes.size, 3);
        // Whatever the interleaving: a batch goes to the lock only after losing every optimistic try.
        const count = (r: Race) => races.filter((x) => x === r).length;
        assert.ok(count('rechained') >= count('locked') * (variant.tries - 1), JSON.stringify({ races: { rechained: count('rechained'), locked: count('locked') } }));
        if (variant.tries === 1) assert.equal(count('rechained'), 0);
      });
    });
  });
}

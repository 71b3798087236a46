import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLocalChangeBus, type ChangeBus } from '../../lib/change-bus.js';
import { createAuthorizer } from '../../services/authorizer.js';
import { SYSTEM_IDENTITY, type Identity } from '../../auth/identity.types.js';
import { openStorage, type Storage } from '../../storage/database.js';
import { createPolicyStore } from '../../storage/policy-store.js';
import { createChangeFeed, type ChangeEvent } from './change-feed.js';

/** The feed over a real bus and a real authorizer on SQLite: ring bounds, resumption, resets, filtering. */
describe('change feed', () => {
  let dir: string;
  let storage: Storage;
  let changes: ChangeBus;
  let feed: ReturnType<typeof createChangeFeed>;
  const nobody: Identity = { accessor: 'acc_nobody', displayName: 'nobody', policies: [], env: null, isRoot: false, expiresAt: null };
  const written = (name: string, region = 'us-east-1') => changes.publish('secret', `id-${name}`, { name, region, kind: 'written', versionId: 'v1' });

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'custos-feed-'));
    storage = await openStorage({ url: `sqlite:${path.join(dir, 'custos.db')}` });
    changes = createLocalChangeBus();
    const authorizer = createAuthorizer({ db: storage.db, policyStore: createPolicyStore(), changes });
    feed = createChangeFeed({ changes, authorizer, region: 'us-east-1', ringSize: 5 });
  });
  after(async () => {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function collect(who: Identity, lastEventId?: string) {
    const live: ChangeEvent[] = [];
    const sub = await feed.open(() => who, lastEventId, (e) => live.push(e));
    sub.start();
    return { sub, live };
  }

  test('resumes from an id still in the ring; an id that fell off it, or from another epoch, gets a reset', async () => {
    const first = await collect(SYSTEM_IDENTITY);
    const head = first.sub.headId;
    first.sub.close();
    for (const n of ['a', 'b', 'c']) await written(`dev/${n}`);
    const resumed = await collect(SYSTEM_IDENTITY, head);
    assert.deepEqual(resumed.sub.backlog.map((e) => e.type === 'secret' && e.name), ['dev/a', 'dev/b', 'dev/c']);
    resumed.sub.close();
    for (const n of ['d', 'e', 'f', 'g']) await written(`dev/${n}`); // 7 since head: the ring holds 5
    const tooOld = await collect(SYSTEM_IDENTITY, head);
    assert.deepEqual(tooOld.sub.backlog.map((e) => e.type), ['reset']);
    tooOld.sub.close();
    const otherNode = await collect(SYSTEM_IDENTITY, 'feedfeedfeed.1');
    assert.deepEqual(otherNode.sub.backlog.map((e) => e.type), ['reset']);
    otherNode.sub.close();
  });

  test('live events are filtered per subscriber; other regions and nameless changes are not reported; a missed-notification key resets everyone', async () => {
    const root = await collect(SYSTEM_IDENTITY);
    const none = await collect(nobody);
    await written('dev/visible-to-root');
    await written('dev/elsewhere', 'eu-west-1');
    await changes.publish('secret', 'replica-id');
    await changes.publish('secret', '*');
    // Delivery runs through each subscriber's queue: a reset published last arrives last.
    await new Promise<void>((resolve) => {
      const check = () => (root.live.length >= 2 && none.live.length >= 1 ? resolve() : setImmediate(check));
      check();
    });
    assert.deepEqual(root.live.map((e) => (e.type === 'secret' ? e.name : e.type)), ['dev/visible-to-root', 'reset']);
    assert.deepEqual(none.live.map((e) => e.type), ['reset']);
    root.sub.close();
    none.sub.close();
    assert.equal(feed.subscriberCount(), 0);
  });

  test('a subscriber whose token has expired learns no more names', async () => {
    const expired = await collect({ ...SYSTEM_IDENTITY, expiresAt: Date.now() - 1 });
    const root = await collect(SYSTEM_IDENTITY);
    await written('dev/after-expiry');
    await new Promise<void>((resolve) => {
      const check = () => (root.live.length >= 1 ? resolve() : setImmediate(check));
      check();
    });
    // Both queues handled the event (the expired one first: it subscribed first).
    assert.deepEqual(expired.live, []);
    expired.sub.close();
    root.sub.close();
  });

  test('a change to a policy the subscriber holds resets it; another policy does not', async () => {
    const holder: Identity = { ...nobody, policies: ['etl-read'] };
    const sub = await collect(holder);
    await changes.publish('policy', 'unrelated');
    await changes.publish('policy', 'etl-read');
    await new Promise<void>((resolve) => {
      const check = () => (sub.live.length >= 1 ? resolve() : setImmediate(check));
      check();
    });
    assert.deepEqual(sub.live.map((e) => e.type === 'reset' && e.reason), ['rights_changed']);
    sub.sub.close();
  });

  test('subscribers are capped per node and per token; a closed subscription frees its slot', async () => {
    const capped = createChangeFeed({ changes, authorizer: { allows: async () => true }, region: 'us-east-1', maxSubscribers: 3, maxPerToken: 2 });
    const other: Identity = { ...nobody, accessor: 'acc_other' };
    const refusal = (scope: string) => (e: unknown) => (e as { code?: string }).code === 'too_many_subscribers' && (e as { details?: { scope?: string } }).details?.scope === scope;
    const a1 = await capped.open(() => nobody, undefined, () => undefined);
    const a2 = await capped.open(() => nobody, undefined, () => undefined);
    await assert.rejects(capped.open(() => nobody, undefined, () => undefined), refusal('token'));
    const b1 = await capped.open(() => other, undefined, () => undefined);
    await assert.rejects(capped.open(() => ({ ...nobody, accessor: 'acc_third' }), undefined, () => undefined), refusal('node'));
    a1.close();
    a1.close(); // closing twice frees one slot, not two
    const a3 = await capped.open(() => nobody, undefined, () => undefined);
    await assert.rejects(capped.open(() => other, undefined, () => undefined), refusal('node'));
    for (const s of [a2, b1, a3]) s.close();
    assert.equal(capped.subscriberCount(), 0);
  });
});

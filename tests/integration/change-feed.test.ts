import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { openChangeFeed, type ChangeFeedEvent } from '../../src/sdk/change-feed.js';
import { api, startServer, type RunningServer } from '../support/custos-server.js';
import { createToken, writePolicy } from '../support/http-helpers.js';
import { sharedDatabaseForNodes } from '../support/shared-database.js';

/**
 * GET /v1/changes through the SDK's SSE client against real server processes: names and
 * version ids only, filtered by what the subscriber may list, resumable by Last-Event-ID.
 */

interface Feed {
  events: ChangeFeedEvent[];
  raw: string[];
  ended: Promise<unknown>;
  waitFor(what: string, predicate: (e: ChangeFeedEvent) => boolean): Promise<ChangeFeedEvent>;
  stop(): void;
}

function subscribe(server: Pick<RunningServer, 'address'>, token: string, lastEventId?: string): Feed {
  const events: ChangeFeedEvent[] = [];
  const waiters: { predicate: (e: ChangeFeedEvent) => boolean; resolve: (e: ChangeFeedEvent) => void }[] = [];
  const controller = new AbortController();
  const ended = openChangeFeed({
    address: server.address, token, lastEventId, signal: controller.signal,
    onEvent: (event) => {
      events.push(event);
      for (const w of [...waiters]) if (w.predicate(event)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(event);
      }
    },
  }).then(() => 'ended', (error: unknown) => error);
  return {
    events, raw: [], ended,
    waitFor(what, predicate) {
      const seen = events.find(predicate);
      if (seen) return Promise.resolve(seen);
      // Bounded by the test's timeout, not by a sleep: the event either comes or the test fails.
      return Promise.race([
        new Promise<ChangeFeedEvent>((resolve) => waiters.push({ predicate, resolve })),
        ended.then(() => assert.fail(`feed ended before: ${what}`)),
      ]);
    },
    stop: () => controller.abort(),
  };
}

describe('change feed on one node', () => {
  let server: RunningServer;
  const canary = `feed-canary-${randomBytes(8).toString('hex')}`;
  before(async () => {
    server = await startServer();
    await writePolicy(server, 'feed-visible', JSON.stringify({ rules: [{ path: 'dev/feed/**', capabilities: ['list'] }] }));
  });
  after(async () => {
    await server?.stop();
    server?.cleanup();
  });

  test('a subscriber sees written, rotated, label moved and deleted events for names it may list, never another name, never a value', { timeout: 60_000 }, async () => {
    const { token } = await createToken(server, { policies: ['feed-visible'] });
    const feed = subscribe(server, token);
    const root = subscribe(server, server.token);
    await feed.waitFor('ready', (e) => e.type === 'ready');
    await root.waitFor('ready', (e) => e.type === 'ready');
    // Hidden first: by the time the visible event arrives, the hidden one has been filtered.
    const hidden = `dev/hidden/${randomBytes(4).toString('hex')}`;
    const visible = `dev/feed/${randomBytes(4).toString('hex')}`;
    assert.equal((await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name: hidden, value: canary } })).status, 201);
    const made = await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name: visible, value: canary } });
    assert.equal(made.status, 201);
    const written = await feed.waitFor('visible written', (e) => e.type === 'secret' && e.name === visible && e.kind === 'written');
    assert.equal(written.versionId, made.body.version_id);
    const second = await api(server, 'POST', `/v1/values/${visible}`, { token: server.token, body: { value: `${canary}-2`, labels: ['STAGED'] } });
    const moved = await api(server, 'POST', `/v1/labels/${visible}`, { token: server.token, body: { label: 'CURRENT', move_to_version_id: second.body.version_id, remove_from_version_id: made.body.version_id } });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    await feed.waitFor('rotated', (e) => e.type === 'secret' && e.name === visible && e.kind === 'rotated' && e.versionId === second.body.version_id);
    const staged = await api(server, 'POST', `/v1/labels/${visible}`, { token: server.token, body: { label: 'STAGED', remove_from_version_id: second.body.version_id } });
    assert.equal(staged.status, 200, JSON.stringify(staged.body));
    await feed.waitFor('label moved', (e) => e.type === 'secret' && e.name === visible && e.kind === 'label_moved');
    assert.equal((await api(server, 'DELETE', `/v1/secrets/${visible}?force=true`, { token: server.token })).status, 200);
    await feed.waitFor('deleted', (e) => e.type === 'secret' && e.name === visible && e.kind === 'deleted');
    // The root subscriber did see the hidden name: the filter, not the event, kept it away.
    await root.waitFor('root sees hidden', (e) => e.name === hidden);
    assert.ok(!feed.events.some((e) => e.name === hidden), 'a name the subscriber may not list reached it');
    assert.ok(!JSON.stringify([...feed.events, ...root.events]).includes(canary), 'a value reached the feed');
    feed.stop();
    root.stop();
  });

  test('Last-Event-ID resumes with exactly what was missed (filtered); an unknown id gets reset', { timeout: 60_000 }, async () => {
    const { token } = await createToken(server, { policies: ['feed-visible'] });
    const first = subscribe(server, token);
    const ready = await first.waitFor('ready', (e) => e.type === 'ready');
    first.stop();
    const missedVisible = `dev/feed/missed-${randomBytes(4).toString('hex')}`;
    const missedHidden = `dev/other/missed-${randomBytes(4).toString('hex')}`;
    await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name: missedHidden, value: canary } });
    await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name: missedVisible, value: canary } });
    const resumed = subscribe(server, token, ready.id!);
    await resumed.waitFor('ready after resume', (e) => e.type === 'ready');
    const secretEvents = resumed.events.filter((e) => e.type === 'secret');
    assert.deepEqual(secretEvents.map((e) => e.name), [missedVisible]);
    assert.ok(!resumed.events.some((e) => e.type === 'reset'));
    resumed.stop();

    for (const bogus of ['0000.1', `${ready.id!.split('.')[0]}.999999999`, 'garbage']) {
      const reset = subscribe(server, token, bogus);
      await reset.waitFor(`reset for ${bogus}`, (e) => e.type === 'reset');
      reset.stop();
    }
  });

  test('a token revoked while subscribed is cut off; an invalid token cannot subscribe', { timeout: 60_000 }, async () => {
    const { token } = await createToken(server, { policies: ['feed-visible'] });
    const feed = subscribe(server, token);
    await feed.waitFor('ready', (e) => e.type === 'ready');
    assert.equal((await api(server, 'POST', '/v1/tokens/revoke', { token })).status, 200);
    assert.equal(await feed.ended, 'ended');
    assert.ok(feed.events.some((e) => e.type === 'error'), 'the stream says why it ended');
    await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name: `dev/feed/after-${randomBytes(4).toString('hex')}`, value: canary } });
    const refused = subscribe(server, token);
    const error = (await refused.ended) as { code?: string };
    assert.match(String(error.code), /token_revoked|invalid_token/);
    const anonymous = subscribe(server, '');
    assert.equal(((await anonymous.ended) as { status?: number }).status, 401);
  });
});

describe('change feed subscriber caps', () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer({ env: { CUSTOS_CHANGE_FEED_MAX_SUBSCRIBERS: '2', CUSTOS_CHANGE_FEED_MAX_SUBSCRIBERS_PER_TOKEN: '1' } });
    await writePolicy(server, 'feed-visible', JSON.stringify({ rules: [{ path: 'dev/feed/**', capabilities: ['list'] }] }));
  });
  after(async () => {
    await server?.stop();
    server?.cleanup();
  });

  /** A subscription attempt the server refuses: its status, Retry-After and error body. */
  async function refusedSubscription(token: string) {
    const response = await fetch(`${server.address}/v1/changes`, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } });
    const body = response.status === 200 ? null : await response.json() as { error: { code: string; details?: { scope: string; limit: number } } };
    if (response.status === 200) await response.body?.cancel();
    return { status: response.status, retryAfter: response.headers.get('retry-after'), body };
  }

  test('over the per-token or per-node cap: 503 too_many_subscribers with Retry-After; a closed subscription frees its slot', { timeout: 60_000 }, async () => {
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => createToken(server, { policies: ['feed-visible'] })));
    const first = subscribe(server, a!.token);
    await first.waitFor('ready', (e) => e.type === 'ready');
    const sameToken = await refusedSubscription(a!.token);
    assert.deepEqual([sameToken.status, sameToken.retryAfter, sameToken.body?.error.code, sameToken.body?.error.details?.scope], [503, '5', 'too_many_subscribers', 'token']);
    const second = subscribe(server, b!.token);
    await second.waitFor('ready', (e) => e.type === 'ready');
    const full = await refusedSubscription(c!.token);
    assert.deepEqual([full.status, full.retryAfter, full.body?.error.code, full.body?.error.details], [503, '5', 'too_many_subscribers', { limit: 2, scope: 'node' }]);
    // The SDK client sees the stable code (the agent retries with backoff and resumes).
    const viaSdk = subscribe(server, c!.token);
    assert.equal(((await viaSdk.ended) as { code?: string }).code, 'too_many_subscribers');
    first.stop();
    // The server notices the closed connection on its own time: poll for the freed slot.
    const deadline = Date.now() + 30_000;
    let third: Feed | undefined;
    while (!third) {
      const attempt = subscribe(server, c!.token);
      const outcome = await Promise.race([attempt.waitFor('ready', (e) => e.type === 'ready').then(() => 'ready'), attempt.ended]);
      if (outcome === 'ready') third = attempt;
      else if (Date.now() > deadline) assert.fail('the slot of a closed subscription was never freed');
      else await new Promise((r) => setTimeout(r, 100));
    }
    third.stop();
    second.stop();
  });
});

test('multi-node PostgreSQL: a write on node A reaches a subscriber of node B', { timeout: 180_000 }, async (t) => {
  const { database, servers } = await sharedDatabaseForNodes(t);
  const env = { CUSTOS_STORAGE_PASSWORD: database.password };
  const a = await startServer({ dev: false, args: ['--storage', database.url], env: { ...env, CUSTOS_NODE_ID: 'feed-a' } });
  servers.push(a);
  const init = await api(a, 'POST', '/v1/sys/init', { body: { shares: 1, threshold: 1 } });
  const root: string = init.body.root_token;
  await api(a, 'POST', '/v1/sys/unseal', { body: { key: init.body.keys[0] } });
  const b = await startServer({ dev: false, args: ['--storage', database.url], env: { ...env, CUSTOS_NODE_ID: 'feed-b', CUSTOS_UNSEAL_KEY: init.body.keys[0] } });
  servers.push(b);
  await writePolicy(a, 'feed-visible', JSON.stringify({ rules: [{ path: 'prod/feed/**', capabilities: ['read'] }] }), root);
  const { token } = await createToken(a, { policies: ['feed-visible'] }, root);
  const feed = subscribe(b, token);
  await feed.waitFor('ready on b', (e) => e.type === 'ready');
  await api(a, 'POST', '/v1/secrets', { token: root, body: { name: 'prod/hidden/x', value: 'v' } });
  const made = await api(a, 'POST', '/v1/secrets', { token: root, body: { name: 'prod/feed/x', value: 'v' } });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const event = await feed.waitFor('event on b', (e) => e.type === 'secret' && e.name === 'prod/feed/x');
  assert.equal(event.versionId, made.body.version_id);
  assert.ok(!feed.events.some((e) => e.name === 'prod/hidden/x'));
  feed.stop();
});

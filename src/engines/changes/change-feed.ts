/**
 * The change feed: what changed about secrets (written, label moved, rotated, deleted,
 * restored, metadata), by name and version id only, never a value, for clients that cache (the agent).
 *
 * Each node keeps a bounded ring of recent events fed by the change bus, so with several
 * nodes on PostgreSQL every node sees every change (the bus carries the detail across).
 * Event ids are `<epoch>.<seq>`: the epoch is this process's, so an id from another node or
 * from before a restart is unknown here, and the subscriber is told to `reset` (revalidate
 * everything it holds). So is one that fell off the end of the ring, and every subscriber
 * when the bus itself may have missed notifications (a `*` key).
 *
 * Every event is filtered per subscriber by the authorizer: a subscriber only learns of a
 * name it may list (or read, which already tells it the name exists), exactly as describe
 * decides.
 */
import { randomBytes } from 'node:crypto';
import { AppError } from '../../errors/app-error.js';
import type { ChangeBus, ChangeDetail } from '../../lib/change-bus.js';
import type { Identity } from '../../auth/identity.types.js';
import type { Authorizer } from '../../services/authorizer.js';

export interface SecretChangeEvent {
  id: string;
  type: 'secret';
  name: string;
  kind: ChangeDetail['kind'];
  versionId: string | null;
}

export interface ResetEvent {
  id: string;
  type: 'reset';
  reason: 'resume_unknown' | 'missed_notifications' | 'rights_changed';
}

export type ChangeEvent = SecretChangeEvent | ResetEvent;

export interface ChangeFeedDeps {
  changes: ChangeBus;
  authorizer: Pick<Authorizer, 'allows'>;
  /** Only changes in this region are reported (the native API's region). */
  region: string;
  /** Events each node remembers for resumption (default 2,000). */
  ringSize?: number;
  /** The server's clock: a subscriber whose token has expired learns nothing more. */
  now?: () => number;
  /** Open subscriptions this node holds at most (default 1,000); each is a connection and a filter per event. */
  maxSubscribers?: number;
  /** Open subscriptions one token holds at most on this node (default 20): one runaway client cannot take them all. */
  maxPerToken?: number;
}

/** Seconds a refused subscriber is asked to wait (it resumes by Last-Event-ID and misses nothing). */
export const SUBSCRIBER_RETRY_AFTER_SECONDS = 5;

export interface FeedSubscription {
  /** Id of the newest event now: the client resumes after it if nothing else arrives. */
  headId: string;
  /** What the subscriber missed since its Last-Event-ID (already filtered), or a reset. */
  backlog: ChangeEvent[];
  /** Call once the backlog is written: live events flow from then on. */
  start(): void;
  close(): void;
}

export function createChangeFeed(deps: ChangeFeedDeps) {
  const epoch = randomBytes(6).toString('hex');
  const ringSize = deps.ringSize ?? 2000;
  const ring: ChangeEvent[] = [];
  let seq = 0;
  const listeners = new Set<(event: ChangeEvent) => void>();
  const idOf = (n: number) => `${epoch}.${n}`;

  function push(event: Omit<SecretChangeEvent, 'id'> | Omit<ResetEvent, 'id'>): void {
    seq += 1;
    const stamped = { ...event, id: idOf(seq) } as ChangeEvent;
    ring.push(stamped);
    if (ring.length > ringSize) ring.shift();
    for (const listener of listeners) listener(stamped);
  }

  // The token/policy/group topics carry no names; subscribers re-check their identity on them.
  const identityListeners = new Set<(topic: 'token' | 'policy' | 'group', key: string) => void>();
  deps.changes.subscribe((topic, key, detail) => {
    if (topic === 'token' || topic === 'policy' || topic === 'group') {
      for (const listener of identityListeners) listener(topic, key);
      return;
    }
    if (topic !== 'secret') return;
    if (key === '*') return push({ type: 'reset', reason: 'missed_notifications' });
    // Changes without a name (replica bookkeeping) concern no cache of the native region.
    if (!detail || (detail.region !== undefined && detail.region !== deps.region)) return;
    push({ type: 'secret', name: detail.name, kind: detail.kind, versionId: detail.versionId ?? null });
  });

  const maxSubscribers = deps.maxSubscribers ?? 1000;
  const maxPerToken = deps.maxPerToken ?? 20;
  let open_ = 0;
  const perToken = new Map<string, number>();
  /** Takes a subscriber slot for `accessor`, or refuses with `too_many_subscribers` (503). */
  function admit(accessor: string): void {
    const held = perToken.get(accessor) ?? 0;
    if (open_ >= maxSubscribers) throw new AppError('too_many_subscribers', `this node serves at most ${maxSubscribers} change feed subscribers; retry later or on another node`, { details: { limit: maxSubscribers, scope: 'node' } });
    if (held >= maxPerToken) throw new AppError('too_many_subscribers', `a token may hold at most ${maxPerToken} change feed subscriptions on a node; close one first`, { details: { limit: maxPerToken, scope: 'token' } });
    open_ += 1;
    perToken.set(accessor, held + 1);
  }
  function release(accessor: string): void {
    open_ -= 1;
    const held = (perToken.get(accessor) ?? 1) - 1;
    if (held <= 0) perToken.delete(accessor);
    else perToken.set(accessor, held);
  }

  /** Whether `identity` may learn of this event at all. */
  async function visible(identity: Identity, event: ChangeEvent): Promise<boolean> {
    if (event.type === 'reset') return true;
    // Between heartbeats (which end the stream) an expired token still learns no name.
    if (identity.expiresAt !== null && identity.expiresAt <= (deps.now ?? Date.now)()) return false;
    return (await deps.authorizer.allows(identity, 'list', event.name)) || deps.authorizer.allows(identity, 'read', event.name);
  }

  /** Events after `lastEventId`, or null when they are no longer (or never were) known here. */
  function since(lastEventId: string): ChangeEvent[] | null {
    const [e, n] = lastEventId.split('.');
    const after = Number(n);
    if (e !== epoch || !Number.isSafeInteger(after) || after < 0 || after > seq) return null;
    const oldest = ring.length ? Number(ring[0]!.id.split('.')[1]) : seq + 1;
    // Everything after `after` must still be in the ring.
    if (after + 1 < oldest) return null;
    return ring.filter((event) => Number(event.id.split('.')[1]) > after);
  }

  /**
   * Subscribes the caller (`who()`: its identity as last authenticated). `deliver` gets, in order, only the events it may see. Events that
   * arrive before `start()` are queued, so none is lost or overtakes the backlog.
   */
  async function open(who: () => Identity, lastEventId: string | undefined, deliver: (event: ChangeEvent) => void, onIdentityChange?: () => void): Promise<FeedSubscription> {
    // Counted by the accessor the subscription was opened with (a token renewed in place keeps it).
    const holder = who().accessor;
    admit(holder);
    // Live events wait behind the backlog: the caller writes the backlog, then calls start().
    let start!: () => void;
    let chain = new Promise<void>((resolve) => (start = resolve));
    let closed = false;
    const listener = (event: ChangeEvent) => {
      chain = chain.then(async () => {
        if (!closed && (await visible(who(), event).catch(() => false)) && !closed) deliver(event);
      });
    };
    // Rights may have narrowed: this subscriber gets a reset (in order, through its queue),
    // stamped with the head id so a resume after it skips nothing.
    const identityListener = (topic: 'token' | 'policy' | 'group', key: string) => {
      // A change to one of its policies (or a resource policy, or groups) may narrow what
      // the subscriber may read; other policies' changes do not concern it.
      const identity = who();
      const narrowed = topic === 'group' || (topic === 'policy' && (key === '*' || !/^[\w.-]+$/.test(key) || identity.policies.includes(key) || (identity.groupPolicies ?? []).includes(key)));
      if (narrowed) listener({ id: idOf(seq), type: 'reset', reason: 'rights_changed' });
      onIdentityChange?.();
    };
    const headId = idOf(seq);
    const missed = lastEventId === undefined || lastEventId === '' ? [] : since(lastEventId);
    listeners.add(listener);
    identityListeners.add(identityListener);
    const backlog: ChangeEvent[] = [];
    try {
      if (missed === null) backlog.push({ id: headId, type: 'reset', reason: 'resume_unknown' });
      else for (const event of missed) if (await visible(who(), event)) backlog.push(event);
    } catch (error) {
      closed = true;
      listeners.delete(listener);
      identityListeners.delete(identityListener);
      release(holder);
      throw error;
    }
    return {
      headId,
      backlog,
      start,
      close() {
        if (!closed) release(holder);
        closed = true;
        listeners.delete(listener);
        identityListeners.delete(identityListener);
      },
    };
  }

  return { open, subscriberCount: () => listeners.size };
}

export type ChangeFeed = ReturnType<typeof createChangeFeed>;

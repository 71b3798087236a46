import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { ChangeBus, ChangeDetail, ChangeTopic } from '../lib/change-bus.js';
import { pgConnectionFields } from './database.js';

/** Every node LISTENs on this one channel; payloads are small JSON objects (never values). */
export const CHANGE_CHANNEL = 'custos_changes';
const TOPICS: readonly ChangeTopic[] = ['token', 'policy', 'keyring', 'secret', 'transit', 'audit', 'rotation', 'auth', 'group'];

export interface PgChangeBusOptions {
  url: string;
  password?: string;
  /** Distinguishes this node's own notifications, which it has already delivered locally. */
  nodeId: string;
  /** Reports connection problems (never payloads). */
  onError?: (error: unknown) => void;
  /** First reconnect delay; doubles up to 5 s. */
  reconnectDelayMs?: number;
  /** How often a NOTIFY that failed is sent again before it is given up (default 5, 100 ms apart, doubling). */
  notifyAttempts?: number;
}

export interface PgChangeBus extends ChangeBus {
  /** Resolves once the first LISTEN is in place, or its first attempt failed (reconnects continue). */
  readonly ready: Promise<void>;
  /** True while the LISTEN connection is up. */
  isConnected(): boolean;
}

/**
 * ChangeBus across nodes with PostgreSQL LISTEN/NOTIFY. A dedicated connection LISTENs;
 * `publish` delivers to this node's subscribers at once and sends a NOTIFY (publish is
 * called after the change committed, so other nodes never learn of uncommitted data).
 *
 * Notifications sent while a node's LISTEN connection is down are lost, so after every
 * (re)connect and on every disconnect subscribers receive `(topic, '*')` for each topic:
 * "drop everything you cached under this topic".
 *
 * Other nodes receive this node's notifications in the order they were published: they are
 * sent one batch at a time over one connection, and PostgreSQL delivers NOTIFYs in commit
 * order (and in order within one transaction). Order matters: a rotation's CURRENT move must
 * empty other nodes' read caches before its hold release lets their waiting reads through.
 * A NOTIFY that fails is sent again (later ones wait behind it, keeping the order); one that
 * still fails is given up, and caches fall back on their age bound.
 */
export function createPgChangeBus(options: PgChangeBusOptions): PgChangeBus {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(100);
  const fields = pgConnectionFields(options.url, options.password);
  const baseDelay = options.reconnectDelayMs ?? 250;
  let delay = baseDelay;
  let closed = false;
  let connected = false;
  let listener: pg.Client | null = null;
  let timer: NodeJS.Timeout | null = null;
  // NOTIFY goes through its own connection so publishing never waits behind request queries;
  // one connection, so notifications leave in the order they were published.
  const notifier = new pg.Pool({ ...fields, max: 1, idleTimeoutMillis: 10_000, application_name: `custos-notify ${options.nodeId}`.slice(0, 63) });
  notifier.on('error', (err) => options.onError?.(err));
  const attempts = Math.max(1, options.notifyAttempts ?? 5);
  const outbox: { payload: string; sent: () => void }[] = [];
  let sending = false;
  // PostgreSQL folds identical payloads within one transaction into one, which would lose a
  // repeated hold after its release: a counter keeps every payload distinct.
  let published = 0;

  async function sendBatch(payloads: string[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        // One statement, one transaction: the NOTIFYs are delivered in array order.
        await notifier.query('SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p', [CHANGE_CHANNEL, payloads]);
        return;
      } catch (err) {
        options.onError?.(err);
        if (closed || attempt >= attempts) return;
        await new Promise((r) => setTimeout(r, 100 * 2 ** (attempt - 1)).unref());
      }
    }
  }

  async function drainOutbox(): Promise<void> {
    sending = true;
    try {
      while (outbox.length > 0 && !closed) {
        const batch = outbox.splice(0, 200);
        await sendBatch(batch.map((m) => m.payload));
        for (const m of batch) m.sent();
      }
    } finally {
      sending = false;
      for (const m of outbox.splice(0)) m.sent();
    }
  }

  const deliver = (topic: ChangeTopic, key: string, detail?: ChangeDetail) => emitter.emit('change', topic, key, detail);
  const dropEverything = () => {
    for (const topic of TOPICS) deliver(topic, '*');
  };

  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => (resolveReady = r));

  async function connect(): Promise<void> {
    if (closed) return;
    const client = new pg.Client({ ...fields, keepAlive: true });
    listener = client;
    client.on('notification', (message) => {
      if (message.channel !== CHANGE_CHANNEL || !message.payload) return;
      try {
        const { t, k, n, d } = JSON.parse(message.payload) as { t: ChangeTopic; k: string; n: string; d?: ChangeDetail };
        if (n !== options.nodeId && TOPICS.includes(t)) deliver(t, String(k), d);
      } catch {
        // not ours: ignore
      }
    });
    client.on('error', (err) => lost(client, err));
    client.on('end', () => lost(client, new Error('LISTEN connection ended')));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGE_CHANNEL}`);
    } catch (err) {
      lost(client, err);
      return;
    }
    if (closed || listener !== client) return;
    connected = true;
    delay = baseDelay;
    // Anything may have changed while we were not listening.
    dropEverything();
    resolveReady();
  }

  function lost(client: pg.Client, err: unknown): void {
    if (listener !== client) return; // already handled
    listener = null;
    const wasConnected = connected;
    connected = false;
    client.removeAllListeners('notification');
    client.end().catch(() => undefined);
    // Start-up does not wait for a bus that cannot connect: caches start empty, and the
    // reconnect below tells subscribers to drop whatever they cached meanwhile.
    resolveReady();
    if (closed) return;
    options.onError?.(err);
    if (wasConnected) dropEverything();
    timer = setTimeout(() => {
      timer = null;
      void connect();
    }, delay);
    timer.unref();
    delay = Math.min(delay * 2, 5000);
  }

  void connect();

  return {
    ready,
    isConnected: () => connected,
    async publish(topic, key, detail) {
      deliver(topic, key, detail);
      if (closed) return;
      published += 1;
      const message = { t: topic, k: key, n: options.nodeId, s: published, ...(detail ? { d: detail } : {}) };
      const sent = new Promise<void>((resolve) => outbox.push({ payload: JSON.stringify(message), sent: resolve }));
      if (!sending) void drainOutbox();
      await sent;
    },
    subscribe(fn) {
      emitter.on('change', fn);
    },
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      const client = listener;
      listener = null;
      connected = false;
      resolveReady();
      emitter.removeAllListeners();
      await Promise.all([client?.end().catch(() => undefined), notifier.end().catch(() => undefined)]);
    },
  };
}

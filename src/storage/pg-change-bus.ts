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
  // NOTIFY goes through its own small pool so publishing never waits behind request queries.
  const notifier = new pg.Pool({ ...fields, max: 2, idleTimeoutMillis: 10_000 });
  notifier.on('error', (err) => options.onError?.(err));

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
      const payload = JSON.stringify(detail ? { t: topic, k: key, n: options.nodeId, d: detail } : { t: topic, k: key, n: options.nodeId });
      await notifier.query('SELECT pg_notify($1, $2)', [CHANGE_CHANNEL, payload]).then(() => undefined, (err) => options.onError?.(err));
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

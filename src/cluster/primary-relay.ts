import type { Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { MetricsSnapshot } from '../lib/metrics.js';
import { isOurs, type Announcement, type PrimaryToWorker, type SealState, type WorkerToPrimary } from './ipc.js';

/** How long a metrics scrape waits for a worker that does not answer (busy or dying). */
const COLLECT_TIMEOUT_MS = 5000;

/**
 * The primary's half of the worker protocol: forwards announcements (cache changes, unseal
 * shares, seals) to every other worker and tells the announcer once all have applied them,
 * keeps the unseal shares in memory for workers that restart, and adds up workers' metrics.
 * It never logs a message's content.
 */
export function createPrimaryRelay(options: { live: () => Worker[] }) {
  const seal: SealState = { shares: [], sealedByOperator: false };
  // An announcement waits for these workers to apply it.
  const pending = new Map<string, { waiting: Set<Worker>; done: () => void }>();
  const collections = new Map<string, { waiting: Set<Worker>; snapshots: MetricsSnapshot[]; done: () => void }>();
  let nextId = 1;

  const send = (worker: Worker, message: PrimaryToWorker) => {
    if (!worker.isConnected()) return false;
    try {
      worker.send(message);
      return true;
    } catch {
      return false;
    }
  };

  function observeSeal(announcement: Announcement): void {
    if (announcement.kind === 'unseal-share') {
      if (!seal.shares.includes(announcement.share)) seal.shares.push(announcement.share);
      seal.sealedByOperator = false;
    } else if (announcement.kind === 'unseal-reset') {
      seal.shares = [];
    } else if (announcement.kind === 'seal') {
      seal.shares = [];
      seal.sealedByOperator = true;
    }
  }

  function forward(from: Worker, requestId: number, announcement: Announcement): void {
    observeSeal(announcement);
    const id = `${nextId++}`;
    const waiting = new Set(options.live().filter((w) => w !== from));
    const done = () => {
      pending.delete(id);
      send(from, { custos: 'announced', id: requestId });
    };
    if (waiting.size === 0) return done();
    pending.set(id, { waiting, done });
    for (const worker of [...waiting]) {
      if (!send(worker, { custos: 'deliver', id, announcement })) settle(pending.get(id), worker);
    }
  }

  function settle(entry: { waiting: Set<Worker>; done: () => void } | undefined, worker: Worker): void {
    if (!entry || !entry.waiting.delete(worker)) return;
    if (entry.waiting.size === 0) entry.done();
  }

  function gatherMetrics(from: Worker, requestId: number): void {
    const id = `${nextId++}`;
    const snapshots: MetricsSnapshot[] = [];
    const waiting = new Set(options.live());
    const timer = setTimeout(() => finish(), COLLECT_TIMEOUT_MS);
    const finish = () => {
      clearTimeout(timer);
      if (!collections.delete(id)) return;
      void AggregatorRegistry.aggregate(snapshots as never).metrics().then(
        (body) => send(from, { custos: 'metrics', id: requestId, contentType: AggregatorRegistry.PROMETHEUS_CONTENT_TYPE, body }),
        () => send(from, { custos: 'metrics', id: requestId, contentType: 'text/plain', body: '' }),
      );
    };
    collections.set(id, { waiting, snapshots, done: finish });
    for (const worker of [...waiting]) {
      if (!send(worker, { custos: 'collect', id })) settle(collections.get(id), worker);
    }
    if (waiting.size === 0) finish();
  }

  return {
    /** Handles one message from a worker; false when it is not part of this protocol. */
    handle(from: Worker, message: unknown): boolean {
      if (!isOurs<WorkerToPrimary>(message)) return false;
      switch (message.custos) {
        case 'announce':
          forward(from, message.id, message.announcement);
          return true;
        case 'applied':
          settle(pending.get(message.id), from);
          return true;
        case 'seal-state':
          send(from, { custos: 'seal-state', id: message.id, state: { shares: [...seal.shares], sealedByOperator: seal.sealedByOperator } });
          return true;
        case 'metrics':
          gatherMetrics(from, message.id);
          return true;
        case 'collected': {
          const entry = collections.get(message.id);
          if (entry?.waiting.has(from)) entry.snapshots.push(message.snapshot);
          settle(entry, from);
          return true;
        }
        default:
          return false;
      }
    },
    /** A worker exited: nothing waits for it any more. */
    forget(worker: Worker): void {
      for (const entry of [...pending.values()]) settle(entry, worker);
      for (const entry of [...collections.values()]) settle(entry, worker);
    },
    /** Drops the key shares (on shutdown). */
    clear(): void {
      seal.shares = [];
    },
  };
}

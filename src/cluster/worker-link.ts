import cluster from 'node:cluster';
import { EventEmitter } from 'node:events';
import type { ChangeBus, ChangeDetail, ChangeTopic } from '../lib/change-bus.js';
import { createSingleNodeLeadership, type Leadership } from '../lib/leadership.js';
import type { MetricsSnapshot } from '../lib/metrics.js';
import { openCoordination, type Coordination, type CoordinationOptions } from '../storage/cluster.js';
import { isOurs, WORKER_INDEX_ENV, WORKER_NODE_BASE_ENV, type Announcement, type PrimaryToWorker, type SealState, type WorkerToPrimary } from './ipc.js';

/** What a worker does when another worker was unsealed or sealed (the operator service, through the composition root). */
export interface PeerSealTarget {
  applyPeerShare(share: string): Promise<void>;
  applyPeerReset(): void;
  sealFromPeer(): Promise<void>;
}

/**
 * One worker's side of `custos server --workers N`: its index, the change bus across workers
 * (SQLite), seal and unseal relayed to every worker, and metrics added up over all workers.
 */
export interface WorkerLink {
  readonly index: number;
  /**
   * Coordination for this worker. SQLite: the change bus below, and worker 0 is the one leader.
   * PostgreSQL: each worker is another node (`<node>-w<index>`) on LISTEN/NOTIFY and the advisory lock.
   */
  coordination(options: CoordinationOptions): Promise<Coordination>;
  /**
   * Null (synchronously) when every announcement this worker made has reached every other
   * worker; else resolves when they have. A response waits for it, so a client that got an
   * answer from this worker finds the change applied on whichever worker it asks next.
   */
  settled(): Promise<void> | null;
  /** Told of each accepted unseal share and each seal; resolves once every worker applied it. */
  readonly sealPeers: { shareSubmitted(share: string): Promise<void>; unsealReset(): Promise<void>; sealed(): Promise<void> };
  /** Follows the other workers' unseals and seals from now on; returns the shares given so far (to unseal a restarted worker). */
  joinSeal(target: PeerSealTarget): Promise<SealState>;
  /** Answers the primary's metric collections with `collect`; `render` returns every worker's metrics added up. */
  clusterMetrics(collect: () => Promise<MetricsSnapshot>): { render(): Promise<{ contentType: string; body: string }> };
  /** Tells the primary this worker listens. */
  ready(address: string): void;
}

/** This process's link when it is a worker forked by `custos server --workers N`; null otherwise. */
export function workerLinkFromEnvironment(): WorkerLink | null {
  const index = Number(process.env[WORKER_INDEX_ENV]);
  if (!cluster.isWorker || !Number.isInteger(index) || index < 0) return null;
  return createWorkerLink(index, process.env[WORKER_NODE_BASE_ENV]);
}

function createWorkerLink(index: number, nodeBase: string | undefined): WorkerLink {
  const changes = new EventEmitter();
  changes.setMaxListeners(100);
  let nextId = 1;
  const waiting = new Map<number, (message: PrimaryToWorker) => void>();
  const inFlight = new Set<Promise<void>>();
  let sealTarget: PeerSealTarget | null = null;
  let collect: (() => Promise<MetricsSnapshot>) | null = null;

  const send = (message: WorkerToPrimary): boolean => {
    if (!process.connected) return false;
    try {
      process.send!(message);
      return true;
    } catch {
      return false; // the channel closed (the primary is gone or we are stopping)
    }
  };

  /** Sends a request and resolves with the primary's answer; at once with null when the primary is gone. */
  function ask(build: (id: number) => WorkerToPrimary): Promise<PrimaryToWorker | null> {
    const id = nextId++;
    return new Promise((resolve) => {
      waiting.set(id, resolve);
      if (!send(build(id))) {
        waiting.delete(id);
        resolve(null);
      }
    });
  }

  function announce(announcement: Announcement): Promise<void> {
    const done: Promise<void> = ask((id) => ({ custos: 'announce', id, announcement })).then(() => {
      inFlight.delete(done);
    });
    inFlight.add(done);
    return done;
  }

  async function apply(announcement: Announcement): Promise<void> {
    switch (announcement.kind) {
      case 'change':
        changes.emit('change', announcement.topic, announcement.key, announcement.detail);
        return;
      case 'unseal-share':
        await sealTarget?.applyPeerShare(announcement.share);
        return;
      case 'unseal-reset':
        sealTarget?.applyPeerReset();
        return;
      case 'seal':
        await sealTarget?.sealFromPeer();
    }
  }

  process.on('message', (message: unknown) => {
    if (!isOurs<PrimaryToWorker>(message)) return;
    switch (message.custos) {
      case 'deliver':
        // Applied before the answer: the announcing worker's response waits for it.
        void apply(message.announcement).catch(() => undefined).finally(() => send({ custos: 'applied', id: message.id }));
        return;
      case 'collect':
        void (collect?.() ?? Promise.resolve([])).catch(() => []).then((snapshot) => send({ custos: 'collected', id: message.id, snapshot }));
        return;
      default: {
        const resolve = waiting.get(message.id);
        waiting.delete(message.id);
        resolve?.(message);
      }
    }
  });
  // The primary is gone: nobody waits on answers any more (cluster ends this process too).
  process.on('disconnect', () => {
    for (const resolve of waiting.values()) resolve(null as never);
    waiting.clear();
  });

  const ipcChangeBus: ChangeBus = {
    publish(topic: ChangeTopic, key: string, detail?: ChangeDetail) {
      changes.emit('change', topic, key, detail);
      return announce({ kind: 'change', topic, key, detail });
    },
    subscribe: (listener) => void changes.on('change', listener),
    close: async () => void changes.removeAllListeners(),
  };

  return {
    index,
    async coordination(options) {
      if (options.dialect !== 'sqlite') {
        // Each worker is one more node; a restarted worker gets its old id back from the primary.
        return openCoordination({ ...options, nodeId: `${options.nodeId ?? nodeBase ?? 'node'}-w${index}` });
      }
      // Worker 0 keeps the single node's id, so it resumes at once work a one-process server leased.
      const nodeId = index === 0 ? (options.nodeId ?? 'local') : `${options.nodeId ?? 'local'}-w${index}`;
      const leadership: Leadership = index === 0 ? createSingleNodeLeadership(nodeId) : { isLeader: () => false, nodeId, close: async () => undefined };
      return { nodeId, changes: ipcChangeBus, leadership, close: () => ipcChangeBus.close() };
    },
    settled() {
      if (inFlight.size === 0) return null;
      return Promise.all(inFlight).then(() => undefined);
    },
    sealPeers: {
      shareSubmitted: (share) => announce({ kind: 'unseal-share', share }),
      unsealReset: () => announce({ kind: 'unseal-reset' }),
      sealed: () => announce({ kind: 'seal' }),
    },
    async joinSeal(target) {
      sealTarget = target; // before asking: a share announced meanwhile is applied, not lost
      const answer = await ask((id) => ({ custos: 'seal-state', id }));
      return answer?.custos === 'seal-state' ? answer.state : { shares: [], sealedByOperator: false };
    },
    clusterMetrics(collector) {
      collect = collector;
      return {
        async render() {
          const answer = await ask((id) => ({ custos: 'metrics', id }));
          if (answer?.custos === 'metrics') return { contentType: answer.contentType, body: answer.body };
          throw new Error('the primary process did not answer the metrics request');
        },
      };
    },
    ready(address) {
      send({ custos: 'ready', address });
    },
  };
}

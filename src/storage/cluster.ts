import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { createLocalChangeBus, type ChangeBus } from '../lib/change-bus.js';
import { createSingleNodeLeadership, type Leadership } from '../lib/leadership.js';
import type { Dialect } from './schema.js';
import { createPgChangeBus } from './pg-change-bus.js';
import { createPgLeadership } from './pg-leadership.js';

export interface CoordinationOptions {
  dialect: Dialect;
  url: string;
  password?: string;
  /** Configured node id; a host-and-random default otherwise (unique per process start). */
  nodeId?: string;
  /** Whether this node may take leadership now (e.g. only while unsealed); PostgreSQL only. */
  leaderEligible?: () => boolean;
  /** How often followers try to take leadership (PostgreSQL). */
  leaderPollMs?: number;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

export interface Coordination {
  readonly nodeId: string;
  readonly changes: ChangeBus;
  readonly leadership: Leadership;
  close(): Promise<void>;
}

export function defaultNodeId(): string {
  return `${os.hostname()}-${randomBytes(3).toString('hex')}`;
}

/**
 * Cache invalidation and singleton-work leadership for this node: in-process for SQLite (one
 * node), LISTEN/NOTIFY and a session advisory lock for PostgreSQL (any number of nodes).
 */
export async function openCoordination(options: CoordinationOptions): Promise<Coordination> {
  // One SQLite file has one node, so its id is stable across restarts: work it owned before
  // a crash (e.g. a rotation run's lease) is its own to resume at once.
  const nodeId = options.nodeId ?? (options.dialect === 'sqlite' ? 'local' : defaultNodeId());
  if (options.dialect === 'sqlite') {
    const changes = createLocalChangeBus();
    const leadership = createSingleNodeLeadership(nodeId);
    return { nodeId, changes, leadership, close: async () => { await leadership.close(); await changes.close(); } };
  }
  const changes = createPgChangeBus({
    url: options.url, password: options.password, nodeId,
    onError: (err) => options.log.warn({ err: { message: (err as Error).message } }, 'change bus connection problem; caches are dropped and it reconnects'),
  });
  const leadership = createPgLeadership({
    url: options.url, password: options.password, nodeId, pollMs: options.leaderPollMs, eligible: options.leaderEligible,
    onChange: (leader) => options.log.info({ nodeId, leader }, leader ? 'this node is now the leader for singleton work' : 'this node is no longer the leader'),
    onError: (err) => options.log.warn({ err: { message: (err as Error).message } }, 'leadership connection problem; retrying'),
  });
  await Promise.all([changes.ready, leadership.ready]);
  return { nodeId, changes, leadership, close: async () => { await leadership.close(); await changes.close(); } };
}

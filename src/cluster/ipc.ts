import type { ChangeDetail, ChangeTopic } from '../lib/change-bus.js';
import type { MetricsSnapshot } from '../lib/metrics.js';

/**
 * The messages between the primary and its workers (`custos server --workers N`), over the
 * cluster IPC channel: a pipe between processes of one user in one process tree. Unseal key
 * shares cross it (so that unsealing one worker unseals all) and are never logged or stored.
 */

/** What one worker tells all the others; the primary forwards it and reports when all have applied it. */
export type Announcement =
  | { kind: 'change'; topic: ChangeTopic; key: string; detail?: ChangeDetail }
  | { kind: 'unseal-share'; share: string }
  | { kind: 'unseal-reset' }
  | { kind: 'seal' };

/** What the primary keeps for a worker that (re)starts: the shares given since the last seal. */
export interface SealState {
  shares: string[];
  /** An operator sealed the workers (and nobody unsealed since): a restarted worker stays sealed too. */
  sealedByOperator: boolean;
}

export type WorkerToPrimary =
  | { custos: 'ready'; address: string }
  | { custos: 'announce'; id: number; announcement: Announcement }
  | { custos: 'applied'; id: string }
  | { custos: 'seal-state'; id: number }
  | { custos: 'metrics'; id: number }
  | { custos: 'collected'; id: string; snapshot: MetricsSnapshot };

export type PrimaryToWorker =
  | { custos: 'deliver'; id: string; announcement: Announcement }
  | { custos: 'announced'; id: number }
  | { custos: 'seal-state'; id: number; state: SealState }
  | { custos: 'collect'; id: string }
  | { custos: 'metrics'; id: number; contentType: string; body: string };

/** Our messages carry a `custos` field; anything else on the channel is not ours. */
export function isOurs<T extends { custos: string }>(message: unknown): message is T {
  return typeof message === 'object' && message !== null && typeof (message as { custos?: unknown }).custos === 'string';
}

/** Environment variables the primary sets for each worker it forks (not configuration). */
export const WORKER_INDEX_ENV = 'CUSTOS_WORKER_INDEX';
export const WORKER_NODE_BASE_ENV = 'CUSTOS_WORKER_NODE_BASE';

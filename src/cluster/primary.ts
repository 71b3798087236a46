import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { defaultNodeId } from '../storage/cluster.js';
import { ensurePortFree } from '../lib/port-check.js';
import { WORKER_INDEX_ENV, WORKER_NODE_BASE_ENV } from './ipc.js';
import { createPrimaryRelay } from './primary-relay.js';

/** A worker that dies this many times within CRASH_WINDOW_MS is crash-looping: the server gives up. */
const CRASH_LIMIT = 5;
const CRASH_WINDOW_MS = 60_000;
const FIRST_RESTART_DELAY_MS = 100;
const MAX_RESTART_DELAY_MS = 5000;

export interface PrimaryOptions {
  config: Config;
  logger: Logger;
  /** Lines for the person running the server (the listening address). */
  output: (line: string) => void;
  exit: (code: number) => void;
}

/**
 * `custos server --workers N`: this process forks N workers that each run the whole server
 * (the composition root in app.ts) on the same port, through the cluster module's shared
 * listener; it serves no HTTP itself. Worker 0 starts alone first, so that first-start work
 * (migrations, --dev initialization) runs once; the others start when it listens. A worker
 * that dies is started again after a growing delay; a crash loop stops the server with exit
 * code 1. SIGTERM or SIGINT drains every worker (each its own graceful shutdown) and exits.
 */
export async function runPrimary(options: PrimaryOptions): Promise<void> {
  const { config, logger } = options;
  const count = config.workers;
  await ensurePortFree(config.host, config.port);
  // PostgreSQL: worker i is node `<base>-w<i>`, the same id after a restart (it resumes its own work).
  const nodeBase = config.node_id ?? defaultNodeId();
  const slots: (Worker | null)[] = new Array<Worker | null>(count).fill(null);
  const crashes: number[][] = Array.from({ length: count }, () => []);
  const relay = createPrimaryRelay({ live: () => slots.filter((w): w is Worker => w !== null && w.isConnected()) });
  let stopping = false;
  let exitCode = 0;

  function fork(index: number): Promise<string> {
    const worker = cluster.fork({ [WORKER_INDEX_ENV]: String(index), [WORKER_NODE_BASE_ENV]: nodeBase });
    slots[index] = worker;
    return new Promise<string>((resolve, reject) => {
      let listening = false;
      worker.on('message', (message: unknown) => {
        if (relay.handle(worker, message)) return;
        const m = message as { custos?: string; address?: string };
        if (m?.custos === 'ready' && typeof m.address === 'string') {
          listening = true;
          logger.info({ worker: index, pid: worker.process.pid }, 'worker listening');
          resolve(m.address);
        }
      });
      worker.on('exit', (code, signal) => {
        relay.forget(worker);
        if (slots[index] === worker) slots[index] = null;
        if (!listening) reject(Object.assign(new Error(`worker ${index} exited before listening (code ${code}, signal ${signal})`), { exitCode: code || 1 }));
        if (stopping) return;
        if (listening) restartLater(index, code, signal);
      });
    });
  }

  function restartLater(index: number, code: number | null, signal: string | null): void {
    const now = Date.now();
    const recent = crashes[index]!.filter((t) => now - t < CRASH_WINDOW_MS);
    recent.push(now);
    crashes[index] = recent;
    if (recent.length >= CRASH_LIMIT) {
      logger.fatal({ worker: index, code, signal, crashes: recent.length }, `worker ${index} died ${recent.length} times within ${CRASH_WINDOW_MS / 1000} s; giving up: stopping all workers and exiting with code 1`);
      void stop(1);
      return;
    }
    const delay = Math.min(FIRST_RESTART_DELAY_MS * 2 ** (recent.length - 1), MAX_RESTART_DELAY_MS);
    logger.error({ worker: index, code, signal, restart_in_ms: delay }, `worker ${index} died; starting it again`);
    setTimeout(() => {
      if (stopping) return;
      fork(index).catch((error: Error) => {
        if (!stopping) restartLater(index, (error as { exitCode?: number }).exitCode ?? 1, null);
      });
    }, delay);
  }

  function stop(code: number): Promise<void> {
    if (!stopping) {
      stopping = true;
      exitCode = Math.max(exitCode, code);
      relay.clear();
    }
    const live = slots.filter((w): w is Worker => w !== null);
    return Promise.all(live.map((worker) => new Promise<void>((resolve) => {
      if (worker.isDead()) return resolve();
      worker.once('exit', (workerCode) => {
        if (workerCode) exitCode = Math.max(exitCode, 1);
        resolve();
      });
      worker.process.kill('SIGTERM'); // each worker drains its requests and flushes its audit events
    }))).then(() => {
      logger.flush();
      options.exit(exitCode);
    });
  }

  const onSignal = (signal: string) => {
    if (stopping) return;
    logger.info({ signal, workers: count }, 'shutting down: draining every worker');
    void stop(0);
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));

  let address: string;
  try {
    address = await fork(0);
    const rest = await Promise.all(Array.from({ length: count - 1 }, (_, i) => fork(i + 1)));
    if (rest.some((a) => a !== address)) throw new Error(`workers listen on different addresses: ${[address, ...rest].join(', ')}`);
  } catch (error) {
    logger.error({ err: { message: (error as Error).message } }, 'a worker failed to start; stopping');
    await stop((error as { exitCode?: number }).exitCode ?? 1);
    return;
  }
  logger.info({ address, workers: count, storage: config.storage.startsWith('sqlite:') ? 'sqlite' : 'postgres' }, 'custos listening with workers');
  options.output(`Custos listening on ${address}`);
}

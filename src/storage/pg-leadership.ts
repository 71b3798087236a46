import pg from 'pg';
import type { Leadership } from '../lib/leadership.js';
import { pgConnectionFields } from './database.js';

// Any constant works; it only has to be the same on every node (and differ from the audit chain's).
export const LEADER_LOCK_ID = 7_236_002;

const appName = (nodeId: string) => `custos-leader ${nodeId}`;

export interface PgLeadershipOptions {
  url: string;
  password?: string;
  nodeId: string;
  /** How often a follower tries to take the lock and the leader checks its connection. Default 2 s. */
  pollMs?: number;
  /**
   * Whether this node may lead right now (e.g. only while unsealed, since singleton work such as
   * rotation needs keys). A leader that becomes ineligible releases the lock on its next poll.
   */
  eligible?: () => boolean;
  /** Called when this node gains (true) or loses (false) leadership. */
  onChange?: (leader: boolean) => void;
  onError?: (error: unknown) => void;
}

export interface PgLeadership extends Leadership {
  /** Resolves after the first acquisition attempt (leader or not). */
  readonly ready: Promise<void>;
}

/**
 * Leadership on PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) held on a
 * dedicated connection. PostgreSQL releases it when that connection ends, so when the leader
 * process dies (even kill -9, which closes its sockets) a follower's next poll takes it:
 * takeover within one poll interval. TCP keepalives bound the time for a vanished host.
 *
 * The leader re-checks its connection every poll; if the check fails or the connection
 * reports an error it stops being leader at once (before the server could hand the lock to
 * another node), so two nodes never both believe they lead.
 */
export function createPgLeadership(options: PgLeadershipOptions): PgLeadership {
  const fields = pgConnectionFields(options.url, options.password);
  const pollMs = options.pollMs ?? 2000;
  let client: pg.Client | null = null;
  let leader = false;
  let closed = false;
  let busy = false;
  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => (resolveReady = r));

  const setLeader = (value: boolean) => {
    if (leader === value) return;
    leader = value;
    options.onChange?.(value);
  };

  function drop(err: unknown): void {
    setLeader(false);
    const old = client;
    client = null;
    old?.removeAllListeners('error');
    old?.on('error', () => undefined);
    old?.end().catch(() => undefined);
    if (!closed) options.onError?.(err);
  }

  async function tick(): Promise<void> {
    if (busy || closed) return;
    busy = true;
    try {
      if (!client) {
        const fresh = new pg.Client({ ...fields, keepAlive: true, keepAliveInitialDelayMillis: 5000, query_timeout: Math.min(5000, Math.max(1000, pollMs * 2)), application_name: appName(options.nodeId) });
        fresh.on('error', (err) => {
          if (client === fresh) drop(err);
        });
        fresh.on('end', () => {
          if (client === fresh) drop(new Error('leadership connection ended'));
        });
        client = fresh;
        await fresh.connect();
        // If this host vanishes (no FIN), the server drops our session and its lock after about
        // 5 + 3 x 2 = 11 s; our own heartbeat times out sooner, so we step down first.
        await fresh.query('SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 3');
      }
      const current = client;
      const eligible = options.eligible?.() ?? true;
      if (leader && eligible) {
        await current.query('SELECT 1');
      } else if (leader) {
        setLeader(false);
        await current.query('SELECT pg_advisory_unlock($1)', [LEADER_LOCK_ID]);
      } else if (eligible) {
        const result = await current.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [LEADER_LOCK_ID]);
        if (client === current && !closed) setLeader(result.rows[0]?.locked === true);
      }
      if (closed && client === current) {
        // close() ran while this poll was in flight: end the session so the lock is released.
        client = null;
        await current.end().catch(() => undefined);
      }
    } catch (err) {
      drop(err);
    } finally {
      busy = false;
      resolveReady();
    }
  }

  const timer = setInterval(() => void tick(), pollMs);
  timer.unref();
  void tick();

  return {
    nodeId: options.nodeId,
    ready,
    isLeader: () => leader && !closed,
    // Every node, leader or follower, keeps its leadership session (named after it) open while
    // it runs; PostgreSQL ends the session when the process dies, kill -9 included.
    async isNodeGone(nodeId: string): Promise<boolean> {
      const name = appName(nodeId);
      // PostgreSQL truncates application_name to 63 bytes: a longer name cannot be matched exactly.
      if (!client || closed || !leader || Buffer.byteLength(name) > 63) return false;
      try {
        const result = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [name]);
        return result.rows[0]?.n === 0;
      } catch {
        return false;
      }
    },
    async close() {
      closed = true;
      clearInterval(timer);
      setLeader(false);
      const old = client;
      client = null;
      // Ending the session releases the lock for the next node immediately.
      await old?.end().catch(() => undefined);
      resolveReady();
    },
  };
}

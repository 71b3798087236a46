import { AppError, isAppError } from '../../errors/app-error.js';
import { newId } from '../../lib/ids.js';
import type { TransactionAuditor } from '../../lib/audit-scope.js';
import { transaction } from '../../storage/transaction.js';
import { isUniqueViolation, type RotationRow } from '../../storage/rotation-store.js';
import type { RotationEngineDeps } from './rotation-engine.types.js';
import { errorText, LEASE_MS, refOf, runRef, TERMINAL, type RotationIo, type RotationTarget } from './rotation-io.js';
import { isDue, overdueAt, parseSettings, RETRY_FAILED_AFTER_MS, type RotationSettings } from './rotation-settings.js';
import type { RunMachine } from './run-machine.js';

/**
 * Run scheduling: which runs this node drives, when, and how many at once. It owns starting
 * runs (manual and due), the per-node concurrency slots, waiting for a run, and the leader's
 * singleton work: resuming interrupted or backed-off runs (taking over a gone node's runs
 * before their leases end), starting due rotations, marking overdue ones and ending grace
 * periods. The phases themselves are the run machine's (run-machine.ts).
 */

/** A node must be seen gone this long before its runs are taken over (rides out a reconnect). */
const GONE_CONFIRM_MS = 5_000;
/**
 * Rotators whose phases run entirely inside the Custos process, so nothing of a phase outlives
 * a killed node. A command's child process can (and a webhook endpoint may still be working on
 * an aborted call): their runs wait for the lease, which outlives the longest phase.
 */
const IN_PROCESS_ROTATORS: readonly string[] = ['postgres', 'postgres-alternating'];

export type RunSchedulingDeps = Pick<RotationEngineDeps, 'db' | 'rotationStore' | 'logger' | 'now' | 'nodeId' | 'nodeGone' | 'maxConcurrent'>;

export function createRunScheduling(deps: RunSchedulingDeps, io: RotationIo, machine: RunMachine) {
  const { db, rotationStore: store, now } = deps;
  const { audit, settingsOf } = io;
  const inFlight = new Map<string, Promise<void>>();
  /** Owner node -> when this node first saw it gone (leader only). */
  const goneSince = new Map<string, number>();
  const waiters = new Map<string, (() => void)[]>();
  const maxConcurrent = deps.maxConcurrent ?? 8;
  let running = 0;
  const queue: (() => void)[] = [];

  async function slot<T>(fn: () => Promise<T>): Promise<T> {
    if (running >= maxConcurrent) await new Promise<void>((r) => queue.push(r));
    running++;
    try {
      return await fn();
    } finally {
      running--;
      queue.shift()?.();
    }
  }

  function kick(id: string): Promise<void> {
    let p = inFlight.get(id);
    if (!p) {
      p = slot(() => machine.drive(id))
        .catch((error) => deps.logger.error({ err: error, rotation: id }, 'rotation driver failed'))
        .finally(() => {
          inFlight.delete(id);
          for (const w of waiters.get(id) ?? []) w();
          waiters.delete(id);
        });
      inFlight.set(id, p);
    }
    return p;
  }

  /**
   * Starts a run. With `auditor` (an approved change request's), the run's row commits with the
   * auditor's event, which carries the request's approved → applied: a run starts at most once.
   */
  async function start(requestedBy: string, target: RotationTarget, trigger: 'manual' | 'schedule', auditor?: TransactionAuditor): Promise<RotationRow> {
    const { name } = refOf(target);
    const info = await settingsOf(target);
    if (!info.settings) throw new AppError('rotation_not_configured', `secret "${name}" has no rotation settings; set them with \`custos rotation set\``);
    const at = now();
    const row: RotationRow = {
      id: newId(), secret_id: info.id, secret_name: name, secret_region: info.regionColumn, active_secret_id: info.id, token: newId(), rotator: info.settings.rotator, trigger,
      requested_by: requestedBy, step: 'create', status: 'running', attempts: 0, error: null, previous_version_id: null, owner_node: deps.nodeId,
      lease_until: at + LEASE_MS, next_attempt_at: null, grace_until: null, started_at: at, updated_at: at, finished_at: null,
    };
    try {
      if (auditor) {
        auditor.annotate({ versionId: row.token, detail: { rotation: row.id } });
        await transaction(db, auditor, (tx) => store.insert(tx, row));
      } else {
        await store.insert(db, row);
      }
    } catch (error) {
      if (isUniqueViolation(error)) throw new AppError('rotation_in_progress', `a rotation of "${name}" is already in progress`);
      throw error;
    }
    await audit(row, 'rotation.start', 'success', { detail: { trigger } });
    void kick(row.id);
    return row;
  }

  async function waitFor(id: string, timeoutMs: number): Promise<void> {
    const deadline = now() + timeoutMs;
    while (now() < deadline) {
      const row = await store.find(db, id);
      if (!row || TERMINAL.includes(row.status)) return;
      if (row.next_attempt_at !== null && row.next_attempt_at > now()) return; // waiting for a retry
      const p = inFlight.get(id);
      if (p) await Promise.race([p, new Promise((r) => setTimeout(r, Math.max(0, deadline - now())))]);
      else await new Promise((r) => setTimeout(r, 100));
    }
  }

  return {
    /** Inserts a run (one active run per secret) and starts driving it on this node at once. */
    start,
    /** Resolves once the run ended, is waiting for a retry, or `timeoutMs` passed. */
    waitFor,

    // ---- singleton work, called by the scheduler on the leader ----

    /** Resumes in-flight runs (after a restart) and retries whose backoff has passed. */
    async resumeDue(): Promise<number> {
      const at = now();
      const rows = await store.listResumable(db, at, 100);
      const seen = new Set<string>();
      for (const row of rows) {
        const owner = row.owner_node;
        if (deps.nodeGone && owner !== null && owner !== deps.nodeId && row.lease_until !== null && row.lease_until >= at && !inFlight.has(row.id) && IN_PROCESS_ROTATORS.includes(row.rotator)) {
          // Leased to another node: take it over early only if that node is gone (its lease
          // would otherwise hold the run for minutes). Its driver, should it still be alive
          // after all, is fenced off at its next phase boundary (advance checks the owner).
          seen.add(owner);
          if (!(await deps.nodeGone(owner).catch(() => false))) {
            goneSince.delete(owner);
            continue;
          }
          const since = goneSince.get(owner) ?? at;
          goneSince.set(owner, since);
          if (at - since < GONE_CONFIRM_MS) continue;
          if (!(await store.releaseLease(db, row.id, owner, row.lease_until))) continue;
          deps.logger.warn({ secret: row.secret_name, rotation: row.id, from: owner, step: row.step }, 'taking over a rotation whose node is gone');
        }
        void kick(row.id);
      }
      for (const owner of goneSince.keys()) if (!seen.has(owner)) goneSince.delete(owner);
      return rows.length;
    },

    /** Starts scheduled rotations that are due (inside their window) and marks overdue ones. */
    async startDue(): Promise<number> {
      const at = now();
      let started = 0;
      for (const due of await store.listDue(db, at, 100)) {
        let settings: RotationSettings;
        try {
          settings = parseSettings(JSON.parse(due.rotation ?? 'null'));
        } catch {
          continue;
        }
        if (due.overdue_since === null && at >= overdueAt(settings, due.next_due_at) && (await store.markOverdue(db, due.secret_id, at))) {
          await audit({ id: `overdue-${due.secret_id}`, secret_name: due.name, secret_region: due.region, token: null as never, rotator: settings.rotator, requested_by: 'system' }, 'rotation.overdue', 'failure', { errorCode: 'rotation_overdue' });
          deps.logger.warn({ secret: due.name, dueAt: new Date(due.next_due_at).toISOString() }, 'rotation overdue');
        }
        if (!isDue(settings, due.next_due_at, at)) continue;
        // Provisional next due time: a run that fails for good is tried again later, not every tick.
        await store.upsertSchedule(db, { secret_id: due.secret_id, next_due_at: at + RETRY_FAILED_AFTER_MS, overdue_since: due.overdue_since, updated_at: at });
        try {
          await start('system', { name: due.name, region: due.region }, 'schedule');
          started++;
        } catch (error) {
          if (!(isAppError(error) && error.code === 'rotation_in_progress')) deps.logger.error({ secret: due.name, cause: errorText(error) }, 'scheduled rotation did not start');
        }
      }
      return started;
    },

    /** Revokes PREVIOUS for runs whose grace period ended, and marks them complete. */
    async endGraces(): Promise<number> {
      const rows = await store.listGraceEnded(db, now(), 100);
      for (const row of rows) {
        try {
          const info = await settingsOf(runRef(row));
          const rotator = machine.rotatorFor(row.rotator);
          if (info.settings && rotator?.revokePrevious) await machine.revokeNow(row, info.settings, rotator);
          await store.advance(db, row.id, { status: 'grace', step: row.step }, { status: 'succeeded', updated_at: now() });
        } catch (error) {
          deps.logger.error({ secret: row.secret_name, rotation: row.id, cause: errorText(error) }, 'revoking PREVIOUS after the grace period failed; will retry');
        }
      }
      return rows.length;
    },

    /** Resolves when every run this node is driving has stopped (tests, shutdown). */
    async idle(): Promise<void> {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight.values()]);
    },
  };
}

export type RunScheduling = ReturnType<typeof createRunScheduling>;

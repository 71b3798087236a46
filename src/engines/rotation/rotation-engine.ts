import { transaction } from '../../storage/transaction.js';
import { AppError } from '../../errors/app-error.js';
import type { RotationRow } from '../../storage/rotation-store.js';
import type { Identity } from '../../auth/identity.types.js';
import type { RotationEngineDeps, RotationInfo, RotationStatus } from './rotation-engine.types.js';
import { createRotationIo, refOf, type RotationTarget } from './rotation-io.js';
import { nextDueAt, parseSettings, type RotationSettings } from './rotation-settings.js';
import { createRunMachine } from './run-machine.js';
import { createRunScheduling } from './run-scheduling.js';
import { rotationHealth } from './rotation-health.js';

export type { RotationEngineDeps, RotationInfo, RotationStatus } from './rotation-engine.types.js';
export type { RotationTarget } from './rotation-io.js';
export { parseRotationFault, type RotationFault } from './rotation-fault.js';

/**
 * The rotation engine's public face: who may configure, start and read rotations, and the
 * settings and schedule a secret carries. It composes the run state machine (run-machine.ts:
 * phases, labels, rollback) and run scheduling (run-scheduling.ts: starting runs, slots,
 * leases and takeover, due starts, grace periods). Credentials never leave the secrets engine
 * except to the rotator.
 */

const toInfo = (r: RotationRow): RotationInfo => ({
  id: r.id, secretName: r.secret_name, token: r.token, rotator: r.rotator, trigger: r.trigger, requestedBy: r.requested_by, step: r.step,
  status: r.status, attempts: r.attempts, error: r.error, startedAt: r.started_at, updatedAt: r.updated_at, finishedAt: r.finished_at,
  nextAttemptAt: r.next_attempt_at, graceUntil: r.grace_until,
});

export function createRotationEngine(deps: RotationEngineDeps) {
  const { db, rotationStore: store, authorizer, now } = deps;
  const io = createRotationIo(deps);
  const { settingsOf } = io;
  const runs = createRunScheduling(deps, io, createRunMachine(deps, io));

  async function requireRotate(caller: Identity, name: string): Promise<void> {
    await authorizer.require(caller, 'rotate', name);
  }

  return {
    /** Stores rotation settings for a secret (null clears them) and (re)computes its schedule. */
    async configure(caller: Identity, target: RotationTarget, input: unknown | null): Promise<RotationStatus> {
      const { name } = refOf(target);
      await requireRotate(caller, name);
      const settings = input === null ? null : parseSettings(input);
      const info = await settingsOf(target);
      if (settings?.admin_secret) await authorizer.require(caller, 'read', settings.admin_secret);
      if (settings?.webhook) await authorizer.require(caller, 'read', settings.webhook.hmac_secret);
      // A command runs on the server and a webhook calls out from it: configuring either is an
      // administrative act, not something `rotate` on one secret may grant.
      if (settings?.rotator === 'command' || settings?.rotator === 'webhook') await authorizer.require(caller, 'update', `sys:rotation/${settings.rotator}`);
      // A run in flight uses these settings for its remaining phases and its rollback.
      if (await store.findActive(db, info.id)) throw new AppError('rotation_in_progress', `a rotation of "${name}" is in progress; change its settings when it has ended`);
      const at = now();
      await transaction(db, caller.audit, async (tx) => {
        await store.setSettings(tx, info.id, settings ? JSON.stringify(settings) : null, at);
        const next = settings ? nextDueAt(settings, info.lastRotatedAt ?? at) : null;
        if (next === null) await store.removeSchedule(tx, info.id);
        else await store.upsertSchedule(tx, { secret_id: info.id, next_due_at: next, overdue_since: null, updated_at: at });
      });
      return this.status(caller, target);
    },

    /** Starts a rotation now; with `waitMs` resolves once it ended (or is waiting to retry). */
    async rotateNow(caller: Identity, target: RotationTarget, options: { waitMs?: number } = {}): Promise<RotationInfo> {
      await requireRotate(caller, refOf(target).name);
      // A direct call's audit event is written after the response (its status depends on the run);
      // an approved change request's commits with the run, so the request applies exactly once.
      const row = await runs.start(caller.accessor, target, 'manual', caller.approvedChange ? caller.audit : undefined);
      if (options.waitMs) await runs.waitFor(row.id, options.waitMs);
      return toInfo((await store.find(db, row.id))!);
    },

    async status(caller: Identity, target: RotationTarget): Promise<RotationStatus> {
      const { name } = refOf(target);
      if (!(await authorizer.allows(caller, 'read', name))) await requireRotate(caller, name);
      const info = await settingsOf(target);
      const [latest, schedule] = await Promise.all([store.latest(db, info.id), store.findSchedule(db, info.id)]);
      return {
        secretName: name, region: info.region, settings: info.settings, lastRotatedAt: info.lastRotatedAt, nextDueAt: schedule?.next_due_at ?? null,
        overdueSince: schedule?.overdue_since ?? null, latest: latest ? toInfo(latest) : null,
      };
    },

    async history(caller: Identity, target: RotationTarget, limit = 50): Promise<RotationInfo[]> {
      const { name } = refOf(target);
      if (!(await authorizer.allows(caller, 'read', name))) await requireRotate(caller, name);
      const info = await settingsOf(target);
      return (await store.history(db, info.id, Math.min(Math.max(limit, 1), 500))).map(toInfo);
    },

    /** Secrets with rotation settings the caller may list (optionally only overdue ones), with what is failing. */
    async list(caller: Identity, options: { overdueOnly?: boolean; limit?: number } = {}) {
      const rows = await store.listSchedules(db, { overdueOnly: options.overdueOnly, limit: Math.min(options.limit ?? 1000, 5000) });
      const visible = [];
      for (const r of rows) if (await authorizer.allows(caller, 'list', r.name)) visible.push(r);
      const latest = await store.latestRuns(db, visible.map((r) => r.secret_id));
      const at = now();
      return visible.map((r) => ({
        secretName: r.name, region: r.region, rotator: r.rotation ? (JSON.parse(r.rotation) as RotationSettings).rotator : null, lastRotatedAt: r.last_rotated_at,
        nextDueAt: r.next_due_at, overdueSince: r.overdue_since, latestStatus: latest.get(r.secret_id)?.status ?? null, health: rotationHealth(latest.get(r.secret_id), at),
      }));
    },

    // ---- singleton work, called by the scheduler on the leader ----

    /** Resumes in-flight runs (after a restart) and retries whose backoff has passed. */
    resumeDue: runs.resumeDue,
    /** Starts scheduled rotations that are due (inside their window) and marks overdue ones. */
    startDue: runs.startDue,
    /** Revokes PREVIOUS for runs whose grace period ended, and marks them complete. */
    endGraces: runs.endGraces,
    /** Resolves when every run this node is driving has stopped (tests, shutdown). */
    idle: runs.idle,
  };
}

export type RotationEngine = ReturnType<typeof createRotationEngine>;

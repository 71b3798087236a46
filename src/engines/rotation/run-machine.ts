import { createHash } from 'node:crypto';
import { generatePassword } from '../../crypto/password.js';
import type { RotationRow } from '../../storage/rotation-store.js';
import { SYSTEM_IDENTITY } from '../../auth/identity.types.js';
import { LABEL_CURRENT, LABEL_PENDING, LABEL_PREVIOUS } from '../secrets/secret-rules.js';
import type { RotationEngineDeps } from './rotation-engine.types.js';
import { errorText, LEASE_MS, runRef, TERMINAL, type AuditedRun, type RotationIo } from './rotation-io.js';
import type { SecretRef } from '../secrets/secrets.types.js';
import {
  backoffMs, defaultGraceSeconds, settleMs, MAX_ATTEMPTS, nextDueAt, passwordOptions,
  type RotationSettings, type RotationStep, type RotatorName,
} from './rotation-settings.js';
import { PermanentRotationError, TestFailedError, type RotationContext, type Rotator, type VersionPayload } from './rotator.types.js';
import { createCommandRotator } from './rotators/command.js';
import { createPostgresAlternatingRotator } from './rotators/postgres-alternating.js';
import { createPostgresRotator } from './rotators/postgres.js';
import { createWebhookRotator } from './rotators/webhook.js';

/**
 * The run state machine: a persisted four-phase run (create, set, test, finish) driven phase
 * by phase, with the row updated by compare-and-set after each, so a crash resumes at the
 * recorded phase. A failed `test` (or a run out of retries) rolls back: the rotator restores
 * the target to CURRENT, PENDING is removed, the cause is recorded and an alert is emitted.
 * It owns the phases, the staging labels a run moves, rollback and grace-period revocation;
 * which runs are driven when, and by which node, is run-scheduling.ts's business.
 */

const NEXT_STEP: Record<RotationStep, RotationStep | null> = { create: 'set', set: 'test', test: 'finish', finish: null };

export type RunMachineDeps = Pick<RotationEngineDeps, 'db' | 'rotationStore' | 'secrets' | 'identity' | 'policies' | 'logger' | 'now' | 'nodeId' | 'address' | 'fault' | 'crash' | 'rotators' | 'currentHold'>;

/** The secret whose CURRENT reads this driver holds (single-user rotators, from `set` until CURRENT moved). */
interface HeldReads { secret: { region: string; name: string } | null }

export function createRunMachine(deps: RunMachineDeps, io: RotationIo) {
  const { db, rotationStore: store, secrets, now } = deps;
  const { audit, readVersion, settingsOf } = io;
  const rotators: Record<RotatorName, Rotator> = {
    postgres: createPostgresRotator(),
    'postgres-alternating': createPostgresAlternatingRotator(),
    command: createCommandRotator(),
    webhook: createWebhookRotator(),
    ...deps.rotators,
  };

  function faultAt(when: 'before' | 'after', step: RotationStep): void {
    if (deps.fault && deps.fault.when === when && deps.fault.step === step) {
      deps.logger.warn({ fault: `crash-${when}:${step}` }, 'rotation fault injection: crashing now');
      (deps.crash ?? (() => process.kill(process.pid, 'SIGKILL')))();
    }
  }

  /** A short-lived token limited to one secret, for the command rotator; revoked afterwards. */
  async function withScopedToken<T>(secretName: string, ttlSeconds: number, fn: (address: string, token: string) => Promise<T>): Promise<T> {
    const policyName = 'rotation-' + createHash('sha256').update(secretName).digest('hex').slice(0, 24);
    await deps.policies.write(SYSTEM_IDENTITY, policyName, JSON.stringify({ rules: [{ path: secretName, capabilities: ['read', 'update', 'stage'] }] }));
    const { token, info } = await deps.identity.create(SYSTEM_IDENTITY, { policies: [policyName], ttlSeconds, displayName: `rotation ${secretName}`.slice(0, 128) });
    try {
      return await fn(deps.address(), token);
    } finally {
      await deps.identity.revoke(SYSTEM_IDENTITY, info.accessor).catch(() => undefined);
    }
  }

  async function contextFor(row: RotationRow, settings: RotationSettings): Promise<RotationContext> {
    const [current, pending, previous] = await Promise.all([
      readVersion(runRef(row), { label: LABEL_CURRENT }),
      readVersion(runRef(row), { versionId: row.token }),
      readVersion(runRef(row), { label: LABEL_PREVIOUS }),
    ]);
    if (!current) throw new PermanentRotationError('the secret has no CURRENT version to rotate');
    return {
      secretName: row.secret_name, ...(row.secret_region === null ? {} : { secretRegion: row.secret_region }), token: row.token, settings, current, pending, previous,
      readSecret: async (name) => {
        const v = await readVersion({ name, region: runRef(row).region }, { label: LABEL_CURRENT });
        if (!v) throw new PermanentRotationError(`secret "${name}" has no CURRENT version`);
        return v.text;
      },
      generatePassword: () => generatePassword(passwordOptions(settings)),
      // Revoked after the phase; if this process dies first, the TTL (phase timeout + 1 min) ends it.
      withScopedToken: (fn) => withScopedToken(row.secret_name, (settings.command?.timeout_seconds ?? 60) + 60, fn),
    };
  }

  const needPending = (ctx: RotationContext): RotationContext & { pending: VersionPayload } => {
    if (!ctx.pending) throw new PermanentRotationError('the PENDING version of this rotation is missing');
    return ctx as RotationContext & { pending: VersionPayload };
  };

  /** One phase; each is idempotent, so re-running it after a crash or a retry does no harm. */
  async function runPhase(row: RotationRow, step: RotationStep, settings: RotationSettings, rotator: Rotator, held: HeldReads): Promise<void> {
    let ctx = await contextFor(row, settings);
    switch (step) {
      case 'create': {
        if (!ctx.pending) {
          // PostgreSQL targets: no new PENDING (and so no password change) until `settle` after the
          // last rotation, so a client that just fetched CURRENT/PENDING is not overtaken (settle_seconds).
          const settle = settleMs(settings);
          const last = settle > 0 ? (await settingsOf(runRef(row))).lastRotatedAt : null;
          const wait = last === null ? 0 : Math.min(last + settle - now(), settle);
          if (wait > 0) {
            await new Promise((r) => setTimeout(r, wait));
            ctx = await contextFor(row, settings);
          }
          const value = rotator.generate(ctx);
          if (value !== null) await secrets.putValue(SYSTEM_IDENTITY, runRef(row), { value: { kind: 'string', text: value }, labels: [LABEL_PENDING], versionId: row.token });
        } else {
          await ensurePendingLabel(row);
        }
        if (rotator.onCreate) {
          await rotator.onCreate({ ...ctx, pending: ctx.pending ?? (await readVersion(runRef(row), { versionId: row.token })) });
          ctx = await contextFor(row, settings);
        }
        if (!(await readVersion(runRef(row), { versionId: row.token }))) throw new PermanentRotationError('create did not store a PENDING version with the rotation token as its id');
        await ensurePendingLabel(row);
        return;
      }
      case 'set':
        return rotator.set(needPending(ctx));
      case 'test':
        return rotator.test(needPending(ctx));
      case 'finish': {
        const pendingCtx = needPending(ctx);
        if (rotator.onFinish && ctx.current.versionId !== row.token) await rotator.onFinish(pendingCtx);
        if (ctx.current.versionId !== row.token) {
          await secrets.moveLabel(SYSTEM_IDENTITY, runRef(row), { label: LABEL_CURRENT, moveToVersionId: row.token, removeFromVersionId: ctx.current.versionId });
        }
        // CURRENT logs in again: held reads go on now, not after the bookkeeping below.
        releaseReads(held);
        await removePending(row);
        return;
      }
    }
  }

  async function pendingHolder(ref: SecretRef): Promise<string | null> {
    const described = await secrets.describe(SYSTEM_IDENTITY, ref);
    return described.versions.find((v) => v.labels.includes(LABEL_PENDING))?.versionId ?? null;
  }

  async function ensurePendingLabel(row: RotationRow): Promise<void> {
    const holder = await pendingHolder(runRef(row));
    if (holder === row.token) return;
    await secrets.moveLabel(SYSTEM_IDENTITY, runRef(row), { label: LABEL_PENDING, moveToVersionId: row.token, ...(holder ? { removeFromVersionId: holder } : {}) });
  }

  /** Removes PENDING if this rotation's version holds it (idempotent). */
  async function removePending(row: RotationRow): Promise<void> {
    if ((await pendingHolder(runRef(row))) !== row.token) return;
    await secrets.moveLabel(SYSTEM_IDENTITY, runRef(row), { label: LABEL_PENDING, removeFromVersionId: row.token });
  }

  async function completeSuccess(row: RotationRow, settings: RotationSettings, rotator: Rotator, previousVersionId: string | null): Promise<boolean> {
    const at = now();
    const grace = rotator.revokePrevious && previousVersionId ? defaultGraceSeconds(settings) : 0;
    const ok = await db.transaction().execute(async (tx) => {
      await store.closeGrace(tx, row.secret_id, at);
      const advanced = await store.advance(tx, row.id, { status: 'running', step: 'finish', owner: deps.nodeId }, {
        status: grace > 0 ? 'grace' : 'succeeded', active_secret_id: null, updated_at: at, finished_at: at, error: null, next_attempt_at: null,
        grace_until: grace > 0 ? at + grace * 1000 : null, lease_until: null,
      });
      if (!advanced) return false;
      await store.markRotated(tx, row.secret_id, at);
      const next = nextDueAt(settings, at);
      if (next !== null) await store.upsertSchedule(tx, { secret_id: row.secret_id, next_due_at: next, overdue_since: null, updated_at: at });
      return true;
    });
    // A rotator that cannot revoke, or no grace: revoke right away where supported.
    if (ok && grace === 0 && rotator.revokePrevious && previousVersionId && defaultGraceSeconds(settings) === 0) await revokeNow(row, settings, rotator);
    return ok;
  }

  async function revokeNow(row: AuditedRun, settings: RotationSettings, rotator: Rotator): Promise<void> {
    const current = await readVersion(runRef(row), { label: LABEL_CURRENT });
    const previous = await readVersion(runRef(row), { label: LABEL_PREVIOUS });
    if (!current || !previous || !rotator.revokePrevious) return;
    await rotator.revokePrevious({
      settings, current, previous,
      readSecret: async (name) => (await readVersion({ name, region: runRef(row).region }, { label: LABEL_CURRENT }))?.text ?? Promise.reject(new PermanentRotationError(`secret "${name}" has no CURRENT version`)),
    });
    await audit(row, 'rotation.revoke_previous', 'success', { detail: { previous_version: previous.versionId } });
  }

  async function fail(row: RotationRow, step: RotationStep, cause: string): Promise<void> {
    await audit(row, 'rotation.alert', 'failure', { step, errorCode: 'rotation_failed', detail: { cause: cause.slice(0, 200) } });
    deps.logger.warn({ secret: row.secret_name, rotation: row.id, step, cause }, 'rotation failed and was rolled back');
  }

  function releaseReads(held: HeldReads): void {
    if (held.secret === null) return;
    deps.currentHold?.release(held.secret.region, held.secret.name);
    held.secret = null;
  }

  /** Drives one run from its recorded phase until it ends, waits for a retry, or another driver owns it. */
  async function drive(id: string): Promise<void> {
    const held: HeldReads = { secret: null };
    try {
      await driveRun(id, held);
    } finally {
      // Ended, rolled back, waiting for a retry or fenced off: CURRENT is what logs in (or the
      // best there is), so reads stop waiting.
      releaseReads(held);
    }
  }

  async function driveRun(id: string, held: HeldReads): Promise<void> {
    const first = await store.find(db, id);
    if (!first) return;
    const settingsInfo = await settingsOf(runRef(first)).catch(() => null);
    // The lease outlives the longest phase, so no other node takes over a run that is merely slow.
    const leaseMs = Math.max(LEASE_MS, ((settingsInfo?.settings?.command?.timeout_seconds ?? 0) + 60) * 1000);
    if (!(await store.claim(db, id, deps.nodeId, now(), now() + leaseMs))) return;
    // Every state change is fenced on this node still owning the run: if its lease ran out
    // mid-phase and another node claimed the run, this driver stops at the next phase boundary
    // instead of driving on beside the new owner.
    const mine = (r: RotationRow) => ({ status: r.status, step: r.step, owner: deps.nodeId });
    for (;;) {
      const row = await store.find(db, id);
      if (!row || TERMINAL.includes(row.status) || row.owner_node !== deps.nodeId) return;
      if (!settingsInfo?.settings) {
        await removePending(row).catch(() => undefined);
        await store.advance(db, id, mine(row), { status: 'failed', active_secret_id: null, error: 'rotation settings were removed', updated_at: now(), finished_at: now() });
        return;
      }
      const settings = settingsInfo.settings;
      const rotator = rotators[row.rotator as RotatorName] ?? rotators[settings.rotator];
      const startedAt = now();
      // A single-user target accepts only PENDING from `set` on: CURRENT reads wait for `finish`
      // (or the rollback) instead of handing out a password that no longer logs in.
      if (rotator.singleUser && row.step !== 'create' && held.secret === null && deps.currentHold) {
        held.secret = { region: settingsInfo.region, name: row.secret_name };
        await deps.currentHold.hold(held.secret.region, held.secret.name);
      }
      if (row.status === 'running') {
        faultAt('before', row.step);
        let previousVersionId = row.previous_version_id;
        try {
          if (row.step === 'create' && previousVersionId === null) previousVersionId = (await readVersion(runRef(row), { label: LABEL_CURRENT }))?.versionId ?? null;
          await runPhase(row, row.step, settings, rotator, held);
        } catch (error) {
          const cause = errorText(error);
          await audit(row, `rotation.${row.step}`, 'failure', { step: row.step, errorCode: 'rotation_step_failed', startedAt, detail: { cause: cause.slice(0, 200) } });
          const attempts = row.attempts + 1;
          const giveUp = row.step !== 'finish' && (error instanceof TestFailedError || error instanceof PermanentRotationError || attempts >= MAX_ATTEMPTS);
          if (giveUp) {
            if (!(await store.advance(db, id, mine(row), { status: 'rolling_back', attempts, error: cause, updated_at: now(), next_attempt_at: null }))) return;
            continue;
          }
          if (!(await store.advance(db, id, mine(row), { attempts, error: cause, updated_at: now(), next_attempt_at: now() + backoffMs(attempts), lease_until: null }))) return;
          deps.logger.warn({ secret: row.secret_name, rotation: id, step: row.step, attempts, cause }, 'rotation step failed; will retry');
          return;
        }
        await audit(row, `rotation.${row.step}`, 'success', { step: row.step, startedAt });
        const next = NEXT_STEP[row.step];
        if (next === null) {
          if (!(await completeSuccess(row, settings, rotator, previousVersionId))) return;
          await audit(row, 'rotation.complete', 'success', { detail: { trigger: row.trigger } });
          faultAt('after', row.step);
          return;
        }
        if (!(await store.advance(db, id, mine(row), { step: next, attempts: 0, error: null, updated_at: now(), previous_version_id: previousVersionId, lease_until: now() + leaseMs }))) return;
        faultAt('after', row.step);
        continue;
      }
      // rolling_back
      try {
        const ctx = await contextFor(row, settings);
        if (row.step !== 'create' || ctx.pending) await rotator.rollback(ctx);
        await removePending(row);
      } catch (error) {
        const attempts = row.attempts + 1;
        if (!(await store.advance(db, id, mine(row), { attempts, updated_at: now(), next_attempt_at: now() + backoffMs(attempts), lease_until: null }))) return;
        deps.logger.error({ secret: row.secret_name, rotation: id, cause: errorText(error) }, 'rotation rollback failed; will retry');
        return;
      }
      if (!(await store.advance(db, id, mine(row), { status: 'failed', active_secret_id: null, updated_at: now(), finished_at: now(), lease_until: null, next_attempt_at: null }))) return;
      await audit(row, 'rotation.rollback', 'success', { step: row.step, startedAt });
      await fail(row, row.step, row.error ?? 'unknown');
      return;
    }
  }

  return {
    /** Drives one run from its recorded phase until it ends, waits for a retry, or another driver owns it. */
    drive,
    /** The rotator a run or a secret's settings name. */
    rotatorFor: (name: string): Rotator | undefined => rotators[name as RotatorName],
    /** Revokes PREVIOUS now (grace period over) and records it. */
    revokeNow,
  };
}

export type RunMachine = ReturnType<typeof createRunMachine>;

import { createHash } from 'node:crypto';
import { transaction } from '../../storage/transaction.js';
import type { Kysely } from 'kysely';
import type { AuditEvent } from '../../audit/audit-log.js';
import { generatePassword } from '../../crypto/password.js';
import { AppError, isAppError } from '../../errors/app-error.js';
import { newId } from '../../lib/ids.js';
import { isUniqueViolation, type RotationRow, type RotationStore } from '../../storage/rotation-store.js';
import type { Database } from '../../storage/schema.js';
import type { Authorizer } from '../authorizer.js';
import type { IdentityService } from '../identity-service.js';
import { SYSTEM_IDENTITY, type Identity } from '../identity.types.js';
import type { PolicyService } from '../policy-service.js';
import { LABEL_CURRENT, LABEL_PENDING, LABEL_PREVIOUS } from '../../engines/secrets/secret-rules.js';
import type { SecretsService } from '../../engines/secrets/secrets-service.js';
import {
  backoffMs, defaultGraceSeconds, isDue, settleMs, MAX_ATTEMPTS, nextDueAt, overdueAt, parseSettings, passwordOptions, RETRY_FAILED_AFTER_MS,
  type RotationSettings, type RotationStep, type RotatorName,
} from './rotation-settings.js';
import { PermanentRotationError, TestFailedError, type RotationContext, type Rotator, type VersionPayload } from './rotator.types.js';
import { createCommandRotator } from './rotators/command.js';
import { createPostgresAlternatingRotator } from './rotators/postgres-alternating.js';
import { createPostgresRotator } from './rotators/postgres.js';
import { createWebhookRotator } from './rotators/webhook.js';

/**
 * Fault injection for crash tests and drills (documented in the rotation README): the process
 * kills itself with SIGKILL right before running, or right after persisting, the given phase.
 * Set with `rotation_fault` / CUSTOS_ROTATION_FAULT=crash-after:set (never in production).
 */
export interface RotationFault {
  when: 'before' | 'after';
  step: RotationStep;
}

export function parseRotationFault(text: string | undefined): RotationFault | null {
  if (!text) return null;
  const m = /^crash-(before|after):(create|set|test|finish)$/.exec(text.trim());
  if (!m) throw new Error(`invalid rotation fault "${text}" (use crash-before:<step> or crash-after:<step>)`);
  return { when: m[1] as 'before' | 'after', step: m[2] as RotationStep };
}

export interface RotationEngineDeps {
  db: Kysely<Database>;
  rotationStore: RotationStore;
  secrets: Pick<SecretsService, 'describe' | 'getValue' | 'putValue' | 'moveLabel'>;
  identity: Pick<IdentityService, 'create' | 'revoke'>;
  policies: Pick<PolicyService, 'write'>;
  authorizer: Authorizer;
  auditLog: { record(event: AuditEvent): Promise<void> };
  logger: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  now: () => number;
  nodeId: string;
  /** Where this node's API listens (for the command rotator's CUSTOS_ADDR). */
  address: () => string;
  fault?: RotationFault | null;
  /** What the fault does: the composition root passes a SIGKILL of this process. */
  crash?: () => void;
  /**
   * Whether a node is certainly gone (no running process): the leader then takes over its
   * runs without waiting for their leases (Leadership.isNodeGone). Absent: leases only.
   */
  nodeGone?: (nodeId: string) => Promise<boolean>;
  /** Rotations driven at once by this node (each holds database connections to targets). */
  maxConcurrent?: number;
  rotators?: Partial<Record<RotatorName, Rotator>>;
}

export interface RotationInfo {
  id: string;
  secretName: string;
  token: string;
  rotator: string;
  trigger: string;
  requestedBy: string;
  step: RotationStep;
  status: RotationRow['status'];
  attempts: number;
  error: string | null;
  startedAt: number;
  updatedAt: number;
  finishedAt: number | null;
  nextAttemptAt: number | null;
  graceUntil: number | null;
}

export interface RotationStatus {
  secretName: string;
  settings: RotationSettings | null;
  lastRotatedAt: number | null;
  nextDueAt: number | null;
  overdueSince: number | null;
  latest: RotationInfo | null;
}

const NEXT_STEP: Record<RotationStep, RotationStep | null> = { create: 'set', set: 'test', test: 'finish', finish: null };
const LEASE_MS = 5 * 60_000;
/** A node must be seen gone this long before its runs are taken over (rides out a reconnect). */
const GONE_CONFIRM_MS = 5_000;
/**
 * Rotators whose phases run entirely inside the Custos process, so nothing of a phase outlives
 * a killed node. A command's child process can (and a webhook endpoint may still be working on
 * an aborted call): their runs wait for the lease, which outlives the longest phase.
 */
const IN_PROCESS_ROTATORS: readonly string[] = ['postgres', 'postgres-alternating'];
const MAX_ERROR_LENGTH = 500;
const TERMINAL: RotationRow['status'][] = ['succeeded', 'failed', 'grace'];

const toInfo = (r: RotationRow): RotationInfo => ({
  id: r.id, secretName: r.secret_name, token: r.token, rotator: r.rotator, trigger: r.trigger, requestedBy: r.requested_by, step: r.step,
  status: r.status, attempts: r.attempts, error: r.error, startedAt: r.started_at, updatedAt: r.updated_at, finishedAt: r.finished_at,
  nextAttemptAt: r.next_attempt_at, graceUntil: r.grace_until,
});

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error)).slice(0, MAX_ERROR_LENGTH);

/**
 * The rotation engine: a persisted four-phase state machine (create, set, test, finish) per
 * run, driven phase by phase with the row updated by compare-and-set after each, so a crash
 * resumes at the recorded phase. A failed `test` (or a run out of retries) rolls back: the
 * rotator restores the target to CURRENT, PENDING is removed, the cause is recorded and an
 * alert is emitted. Credentials never leave the secrets engine except to the rotator.
 */
export function createRotationEngine(deps: RotationEngineDeps) {
  const { db, rotationStore: store, secrets, authorizer, now } = deps;
  const rotators: Record<RotatorName, Rotator> = {
    postgres: createPostgresRotator(),
    'postgres-alternating': createPostgresAlternatingRotator(),
    command: createCommandRotator(),
    webhook: createWebhookRotator(),
    ...deps.rotators,
  };
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

  async function audit(row: Pick<RotationRow, 'id' | 'secret_name' | 'token' | 'rotator' | 'requested_by'>, operation: string, outcome: AuditEvent['outcome'], extra: { step?: string; errorCode?: string; startedAt?: number; detail?: AuditEvent['detail'] } = {}): Promise<void> {
    await deps.auditLog.record({
      time: now(), requestId: `rotation:${row.id}`, accessor: row.requested_by, source: `node:${deps.nodeId}`, operation,
      secretName: row.secret_name, versionId: row.token, outcome, errorCode: extra.errorCode ?? null, status: outcome === 'success' ? 200 : 500,
      latencyUs: extra.startedAt === undefined ? 0 : (now() - extra.startedAt) * 1000,
      detail: { rotator: row.rotator, ...(extra.step ? { step: extra.step } : {}), node: deps.nodeId, ...extra.detail },
    }).catch((error) => deps.logger.error({ err: error, rotation: row.id }, 'rotation audit write failed'));
  }

  function faultAt(when: 'before' | 'after', step: RotationStep): void {
    if (deps.fault && deps.fault.when === when && deps.fault.step === step) {
      deps.logger.warn({ fault: `crash-${when}:${step}` }, 'rotation fault injection: crashing now');
      (deps.crash ?? (() => process.kill(process.pid, 'SIGKILL')))();
    }
  }

  async function readVersion(name: string, selector: { label?: string; versionId?: string }): Promise<VersionPayload | null> {
    try {
      const v = await secrets.getValue(SYSTEM_IDENTITY, { name }, selector);
      if (v.value.kind !== 'string') throw new PermanentRotationError('rotation needs a string (JSON) secret value');
      return { versionId: v.versionId, text: v.value.text };
    } catch (error) {
      if (isAppError(error) && error.code === 'version_not_found') return null;
      throw error;
    }
  }

  async function settingsOf(name: string): Promise<{ id: string; settings: RotationSettings | null; lastRotatedAt: number | null; createdAt: number }> {
    const meta = await secrets.describe(SYSTEM_IDENTITY, { name });
    return { id: meta.id, settings: meta.rotation ? parseSettings(meta.rotation) : null, lastRotatedAt: meta.lastRotatedAt, createdAt: meta.createdAt };
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
      readVersion(row.secret_name, { label: LABEL_CURRENT }),
      readVersion(row.secret_name, { versionId: row.token }),
      readVersion(row.secret_name, { label: LABEL_PREVIOUS }),
    ]);
    if (!current) throw new PermanentRotationError('the secret has no CURRENT version to rotate');
    return {
      secretName: row.secret_name, token: row.token, settings, current, pending, previous,
      readSecret: async (name) => {
        const v = await readVersion(name, { label: LABEL_CURRENT });
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
  async function runPhase(row: RotationRow, step: RotationStep, settings: RotationSettings, rotator: Rotator): Promise<void> {
    let ctx = await contextFor(row, settings);
    switch (step) {
      case 'create': {
        if (!ctx.pending) {
          // PostgreSQL targets: no new PENDING (and so no password change) until `settle` after the
          // last rotation, so a client that just fetched CURRENT/PENDING is not overtaken (settle_seconds).
          const settle = settleMs(settings);
          const last = settle > 0 ? (await settingsOf(row.secret_name)).lastRotatedAt : null;
          const wait = last === null ? 0 : Math.min(last + settle - now(), settle);
          if (wait > 0) {
            await new Promise((r) => setTimeout(r, wait));
            ctx = await contextFor(row, settings);
          }
          const value = rotator.generate(ctx);
          if (value !== null) await secrets.putValue(SYSTEM_IDENTITY, { name: row.secret_name }, { value: { kind: 'string', text: value }, labels: [LABEL_PENDING], versionId: row.token });
        } else {
          await ensurePendingLabel(row);
        }
        if (rotator.onCreate) {
          await rotator.onCreate({ ...ctx, pending: ctx.pending ?? (await readVersion(row.secret_name, { versionId: row.token })) });
          ctx = await contextFor(row, settings);
        }
        if (!(await readVersion(row.secret_name, { versionId: row.token }))) throw new PermanentRotationError('create did not store a PENDING version with the rotation token as its id');
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
          await secrets.moveLabel(SYSTEM_IDENTITY, { name: row.secret_name }, { label: LABEL_CURRENT, moveToVersionId: row.token, removeFromVersionId: ctx.current.versionId });
        }
        await removePending(row);
        return;
      }
    }
  }

  async function pendingHolder(name: string): Promise<string | null> {
    const described = await secrets.describe(SYSTEM_IDENTITY, { name });
    return described.versions.find((v) => v.labels.includes(LABEL_PENDING))?.versionId ?? null;
  }

  async function ensurePendingLabel(row: RotationRow): Promise<void> {
    const holder = await pendingHolder(row.secret_name);
    if (holder === row.token) return;
    await secrets.moveLabel(SYSTEM_IDENTITY, { name: row.secret_name }, { label: LABEL_PENDING, moveToVersionId: row.token, ...(holder ? { removeFromVersionId: holder } : {}) });
  }

  /** Removes PENDING if this rotation's version holds it (idempotent). */
  async function removePending(row: RotationRow): Promise<void> {
    if ((await pendingHolder(row.secret_name)) !== row.token) return;
    await secrets.moveLabel(SYSTEM_IDENTITY, { name: row.secret_name }, { label: LABEL_PENDING, removeFromVersionId: row.token });
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

  async function revokeNow(row: Pick<RotationRow, 'id' | 'secret_name' | 'token' | 'rotator' | 'requested_by'>, settings: RotationSettings, rotator: Rotator): Promise<void> {
    const current = await readVersion(row.secret_name, { label: LABEL_CURRENT });
    const previous = await readVersion(row.secret_name, { label: LABEL_PREVIOUS });
    if (!current || !previous || !rotator.revokePrevious) return;
    await rotator.revokePrevious({
      settings, current, previous,
      readSecret: async (name) => (await readVersion(name, { label: LABEL_CURRENT }))?.text ?? Promise.reject(new PermanentRotationError(`secret "${name}" has no CURRENT version`)),
    });
    await audit(row, 'rotation.revoke_previous', 'success', { detail: { previous_version: previous.versionId } });
  }

  async function fail(row: RotationRow, step: RotationStep, cause: string): Promise<void> {
    await audit(row, 'rotation.alert', 'failure', { step, errorCode: 'rotation_failed', detail: { cause: cause.slice(0, 200) } });
    deps.logger.warn({ secret: row.secret_name, rotation: row.id, step, cause }, 'rotation failed and was rolled back');
  }

  /** Drives one run from its recorded phase until it ends, waits for a retry, or another driver owns it. */
  async function drive(id: string): Promise<void> {
    const first = await store.find(db, id);
    if (!first) return;
    const settingsInfo = await settingsOf(first.secret_name).catch(() => null);
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
      if (row.status === 'running') {
        faultAt('before', row.step);
        let previousVersionId = row.previous_version_id;
        try {
          if (row.step === 'create' && previousVersionId === null) previousVersionId = (await readVersion(row.secret_name, { label: LABEL_CURRENT }))?.versionId ?? null;
          await runPhase(row, row.step, settings, rotator);
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

  function kick(id: string): Promise<void> {
    let p = inFlight.get(id);
    if (!p) {
      p = slot(() => drive(id))
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

  async function start(requestedBy: string, name: string, trigger: 'manual' | 'schedule'): Promise<RotationRow> {
    const info = await settingsOf(name);
    if (!info.settings) throw new AppError('rotation_not_configured', `secret "${name}" has no rotation settings; set them with \`custos rotation set\``);
    const at = now();
    const row: RotationRow = {
      id: newId(), secret_id: info.id, secret_name: name, active_secret_id: info.id, token: newId(), rotator: info.settings.rotator, trigger,
      requested_by: requestedBy, step: 'create', status: 'running', attempts: 0, error: null, previous_version_id: null, owner_node: deps.nodeId,
      lease_until: at + LEASE_MS, next_attempt_at: null, grace_until: null, started_at: at, updated_at: at, finished_at: null,
    };
    try {
      await store.insert(db, row);
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

  async function requireRotate(caller: Identity, name: string): Promise<void> {
    await authorizer.require(caller, 'rotate', name);
  }

  return {
    /** Stores rotation settings for a secret (null clears them) and (re)computes its schedule. */
    async configure(caller: Identity, name: string, input: unknown | null): Promise<RotationStatus> {
      await requireRotate(caller, name);
      const settings = input === null ? null : parseSettings(input);
      const info = await settingsOf(name);
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
      return this.status(caller, name);
    },

    /** Starts a rotation now; with `waitMs` resolves once it ended (or is waiting to retry). */
    async rotateNow(caller: Identity, name: string, options: { waitMs?: number } = {}): Promise<RotationInfo> {
      await requireRotate(caller, name);
      const row = await start(caller.accessor, name, 'manual');
      if (options.waitMs) await waitFor(row.id, options.waitMs);
      return toInfo((await store.find(db, row.id))!);
    },

    async status(caller: Identity, name: string): Promise<RotationStatus> {
      if (!(await authorizer.allows(caller, 'read', name))) await requireRotate(caller, name);
      const info = await settingsOf(name);
      const [latest, schedule] = await Promise.all([store.latest(db, info.id), store.findSchedule(db, info.id)]);
      return {
        secretName: name, settings: info.settings, lastRotatedAt: info.lastRotatedAt, nextDueAt: schedule?.next_due_at ?? null,
        overdueSince: schedule?.overdue_since ?? null, latest: latest ? toInfo(latest) : null,
      };
    },

    async history(caller: Identity, name: string, limit = 50): Promise<RotationInfo[]> {
      if (!(await authorizer.allows(caller, 'read', name))) await requireRotate(caller, name);
      const info = await settingsOf(name);
      return (await store.history(db, info.id, Math.min(Math.max(limit, 1), 500))).map(toInfo);
    },

    /** Secrets with rotation schedules the caller may list (optionally only overdue ones). */
    async list(caller: Identity, options: { overdueOnly?: boolean; limit?: number } = {}) {
      const rows = await store.listSchedules(db, { overdueOnly: options.overdueOnly, limit: Math.min(options.limit ?? 1000, 5000) });
      const visible = [];
      for (const r of rows) {
        if (!(await authorizer.allows(caller, 'list', r.name))) continue;
        visible.push({ secretName: r.name, rotator: r.rotation ? (JSON.parse(r.rotation) as RotationSettings).rotator : null, lastRotatedAt: r.last_rotated_at, nextDueAt: r.next_due_at, overdueSince: r.overdue_since });
      }
      return visible;
    },

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
          await audit({ id: `overdue-${due.secret_id}`, secret_name: due.name, token: null as never, rotator: settings.rotator, requested_by: 'system' }, 'rotation.overdue', 'failure', { errorCode: 'rotation_overdue' });
          deps.logger.warn({ secret: due.name, dueAt: new Date(due.next_due_at).toISOString() }, 'rotation overdue');
        }
        if (!isDue(settings, due.next_due_at, at)) continue;
        // Provisional next due time: a run that fails for good is tried again later, not every tick.
        await store.upsertSchedule(db, { secret_id: due.secret_id, next_due_at: at + RETRY_FAILED_AFTER_MS, overdue_since: due.overdue_since, updated_at: at });
        try {
          await start('system', due.name, 'schedule');
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
          const info = await settingsOf(row.secret_name);
          const rotator = rotators[row.rotator as RotatorName];
          if (info.settings && rotator?.revokePrevious) await revokeNow(row, info.settings, rotator);
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

export type RotationEngine = ReturnType<typeof createRotationEngine>;

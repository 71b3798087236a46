import type { AuditEvent } from '../../audit/audit-log.js';
import { isAppError } from '../../errors/app-error.js';
import type { SecretRef } from '../secrets/secrets.types.js';
import type { RotationRow } from '../../storage/rotation-store.js';
import { SYSTEM_IDENTITY } from '../../auth/identity.types.js';
import type { RotationEngineDeps } from './rotation-engine.types.js';
import { parseSettings, type RotationSettings } from './rotation-settings.js';
import { PermanentRotationError, type VersionPayload } from './rotator.types.js';

/**
 * What the run machine and the run scheduling share: reading a secret's versions and rotation
 * settings as the engine, writing rotation audit events, and the constants both go by.
 */

/** How long a claimed run belongs to its node before another may take it over. */
export const LEASE_MS = 5 * 60_000;
export const TERMINAL: RotationRow['status'][] = ['succeeded', 'failed', 'grace'];
const MAX_ERROR_LENGTH = 500;

/** A secret the engine rotates: a name, or a name in a region other than the server's default. */
export type RotationTarget = string | SecretRef;
export const refOf = (target: RotationTarget): SecretRef => (typeof target === 'string' ? { name: target } : target);
/** The secret a run rotates (runs recorded before regions were stored are in the default region). */
export const runRef = (row: Pick<RotationRow, 'secret_name' | 'secret_region'>): SecretRef =>
  (row.secret_region === null ? { name: row.secret_name } : { name: row.secret_name, region: row.secret_region });

export const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error)).slice(0, MAX_ERROR_LENGTH);

export type AuditedRun = Pick<RotationRow, 'id' | 'secret_name' | 'secret_region' | 'token' | 'rotator' | 'requested_by'>;
export interface AuditExtra { step?: string; errorCode?: string; startedAt?: number; detail?: AuditEvent['detail'] }

export function createRotationIo(deps: Pick<RotationEngineDeps, 'secrets' | 'auditLog' | 'logger' | 'now' | 'nodeId'>) {
  const { secrets, now } = deps;

  async function audit(row: AuditedRun, operation: string, outcome: AuditEvent['outcome'], extra: AuditExtra = {}): Promise<void> {
    await deps.auditLog.record({
      time: now(), requestId: `rotation:${row.id}`, accessor: row.requested_by, source: `node:${deps.nodeId}`, operation,
      secretName: row.secret_name, versionId: row.token, outcome, errorCode: extra.errorCode ?? null, status: outcome === 'success' ? 200 : 500,
      latencyUs: extra.startedAt === undefined ? 0 : (now() - extra.startedAt) * 1000,
      detail: { rotator: row.rotator, ...(row.secret_region ? { region: row.secret_region } : {}), ...(extra.step ? { step: extra.step } : {}), node: deps.nodeId, ...extra.detail },
    }).catch((error) => deps.logger.error({ err: error, rotation: row.id }, 'rotation audit write failed'));
  }

  async function readVersion(target: RotationTarget, selector: { label?: string; versionId?: string }): Promise<VersionPayload | null> {
    try {
      const v = await secrets.getValue(SYSTEM_IDENTITY, refOf(target), selector);
      if (v.value.kind !== 'string') throw new PermanentRotationError('rotation needs a string (JSON) secret value');
      return { versionId: v.versionId, text: v.value.text };
    } catch (error) {
      if (isAppError(error) && error.code === 'version_not_found') return null;
      throw error;
    }
  }

  async function settingsOf(target: RotationTarget): Promise<{ id: string; region: string; regionColumn: string | null; settings: RotationSettings | null; lastRotatedAt: number | null; createdAt: number }> {
    const meta = await secrets.describe(SYSTEM_IDENTITY, refOf(target));
    // Runs record a region only outside the default one, so a default-region run reads as it always did.
    return { id: meta.id, region: meta.region, regionColumn: meta.region === secrets.defaultRegion ? null : meta.region, settings: meta.rotation ? parseSettings(meta.rotation) : null, lastRotatedAt: meta.lastRotatedAt, createdAt: meta.createdAt };
  }

  return { audit, readVersion, settingsOf };
}

export type RotationIo = ReturnType<typeof createRotationIo>;

import type { AuditEvent } from '../../audit/audit-log.js';
import { isAppError } from '../../errors/app-error.js';
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

export const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error)).slice(0, MAX_ERROR_LENGTH);

export type AuditedRun = Pick<RotationRow, 'id' | 'secret_name' | 'token' | 'rotator' | 'requested_by'>;
export interface AuditExtra { step?: string; errorCode?: string; startedAt?: number; detail?: AuditEvent['detail'] }

export function createRotationIo(deps: Pick<RotationEngineDeps, 'secrets' | 'auditLog' | 'logger' | 'now' | 'nodeId'>) {
  const { secrets, now } = deps;

  async function audit(row: AuditedRun, operation: string, outcome: AuditEvent['outcome'], extra: AuditExtra = {}): Promise<void> {
    await deps.auditLog.record({
      time: now(), requestId: `rotation:${row.id}`, accessor: row.requested_by, source: `node:${deps.nodeId}`, operation,
      secretName: row.secret_name, versionId: row.token, outcome, errorCode: extra.errorCode ?? null, status: outcome === 'success' ? 200 : 500,
      latencyUs: extra.startedAt === undefined ? 0 : (now() - extra.startedAt) * 1000,
      detail: { rotator: row.rotator, ...(extra.step ? { step: extra.step } : {}), node: deps.nodeId, ...extra.detail },
    }).catch((error) => deps.logger.error({ err: error, rotation: row.id }, 'rotation audit write failed'));
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

  return { audit, readVersion, settingsOf };
}

export type RotationIo = ReturnType<typeof createRotationIo>;

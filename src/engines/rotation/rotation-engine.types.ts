import type { Kysely } from 'kysely';
import type { AuditEvent } from '../../audit/audit-log.js';
import type { RotationRow, RotationStore } from '../../storage/rotation-store.js';
import type { Database } from '../../storage/schema.js';
import type { Authorizer } from '../../services/authorizer.js';
import type { IdentityService } from '../../auth/tokens/identity-service.js';
import type { PolicyService } from '../../services/policy-service.js';
import type { SecretsService } from '../secrets/secrets-service.js';
import type { CurrentHold } from './current-hold.js';
import type { RotationFault } from './rotation-fault.js';
import type { RotationSettings, RotationStep, RotatorName } from './rotation-settings.js';
import type { Rotator } from './rotator.types.js';

/** What the rotation engine (run machine, run scheduling and public API) is built from. */
export interface RotationEngineDeps {
  db: Kysely<Database>;
  rotationStore: RotationStore;
  secrets: Pick<SecretsService, 'describe' | 'getValue' | 'putValue' | 'moveLabel' | 'defaultRegion'>;
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
  /** Holds CURRENT reads during single-user rotations (current-hold.ts); absent: never held. */
  currentHold?: Pick<CurrentHold, 'hold' | 'release'>;
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
  region: string;
  settings: RotationSettings | null;
  lastRotatedAt: number | null;
  nextDueAt: number | null;
  overdueSince: number | null;
  latest: RotationInfo | null;
}

/**
 * Types of the change-request engine: the operations a request can hold (the write that a
 * policy said needs approval) and the request as callers see it (never the operation's value).
 */
import type { Kysely } from 'kysely';
import type { AuditEvent } from '../../audit/audit-chain.js';
import type { Authorizer } from '../../services/authorizer.js';
import type { ChangeRequestStore } from '../../storage/change-request-store.js';
import type { GroupStore } from '../../storage/group-store.js';
import type { Database, Queryable } from '../../storage/schema.js';
import type { TokenStore } from '../../storage/token-store.js';
import type { AwsKeyStore } from '../../storage/aws-key-store.js';
import type { SecretsService } from '../secrets/secrets-service.js';
import type { RotationEngine } from '../rotation/rotation-engine.js';
import type { SecretStore } from '../../storage/secret-store.js';
import type { ReplicationService } from '../secrets/replication-service.js';
import type { ResourcePolicyService } from '../secrets/resource-policy-service.js';
import type { ResourcePolicyStore } from '../../storage/resource-policy-store.js';

/** A value as a held operation carries it: base64, so a binary value survives the JSON the barrier seals. */
export interface HeldValue { kind: 'string' | 'binary'; base64: string }

/** Metadata a create or update sets; `null` clears a field. */
export interface MetadataPatch { description?: string | null; owner?: string | null; kmsKeyId?: string | null }

/**
 * A held write. `region` is set for writes made over the AWS API in another region than the
 * server's own. Everything but `value` is metadata and may be shown to the request's viewers.
 */
export type ChangeOperation = { region?: string } & (
  | {
    kind: 'secret.write';
    name: string;
    value: HeldValue;
    labels?: string[];
    versionId?: string;
    createIfMissing?: { description?: string; owner?: string; tags?: Record<string, string> };
  }
  | { kind: 'secret.delete'; name: string; recoveryDays?: number; force?: boolean }
  | { kind: 'secret.label'; name: string; label: string; moveToVersionId?: string; removeFromVersionId?: string }
  | {
    kind: 'secret.create';
    name: string;
    description?: string;
    owner?: string;
    kmsKeyId?: string;
    tags?: Record<string, string>;
    value?: HeldValue;
    labels?: string[];
    versionId?: string;
    /** AWS CreateSecret with AddReplicaRegions: replicated once created (a second step, as `exact` replication). */
    replicas?: { region: string; kmsKeyId?: string }[];
    overwriteReplicas?: boolean;
  }
  /** Metadata and, over the AWS API (UpdateSecret), a new value too: the value is written first. */
  | { kind: 'secret.update'; name: string; metadata: MetadataPatch; value?: HeldValue; versionId?: string }
  | { kind: 'secret.tag'; name: string; tags: Record<string, string> }
  | { kind: 'secret.untag'; name: string; keys: string[] }
  /** New rotation settings (validated when held), or null to remove them. */
  | { kind: 'rotation.configure'; name: string; settings: Record<string, unknown> | null }
  /** Rotate now with the stored settings. */
  | { kind: 'rotation.rotate'; name: string; settings?: Record<string, unknown> }
  /**
   * AWS RotateSecret with RotationRules (rotate: RotateImmediately) and CancelRotateSecret
   * (schedule null): the stored settings keep their rotator, only the schedule changes.
   */
  | { kind: 'rotation.schedule'; name: string; schedule: RotationSchedule | null; rotate: boolean }
  /** Undoes a scheduled deletion (native restore, AWS RestoreSecret). */
  | { kind: 'secret.restore'; name: string }
  /**
   * AWS ReplicateSecretToRegions: adds replicas. Held, it applies only if no target region holds
   * a replica or (without `overwrite`) another secret of the name by then: see `exact` in replication-service.
   */
  | { kind: 'replication.add'; name: string; regions: { region: string; kmsKeyId?: string }[]; overwrite: boolean }
  /** AWS RemoveRegionsFromReplication: deletes the replicas in `regions`. */
  | { kind: 'replication.remove'; name: string; regions: string[] }
  /** AWS StopReplicationToReplica: the replica named by `name` in `region` becomes a standalone secret. */
  | { kind: 'replication.promote'; name: string }
  /**
   * AWS PutResourcePolicy / DeleteResourcePolicy. `expected` is the document
   * attached when the request was made: a policy changed meanwhile fails the request, since the
   * approvers reviewed a change from that document.
   */
  | { kind: 'policy.put'; name: string; document: string; blockPublic: boolean; expected?: string | null }
  | { kind: 'policy.delete'; name: string; expected?: string | null }
);

/** The schedule fields of rotation settings. */
export interface RotationSchedule { every_seconds?: number; cron?: string; window?: string; aws_schedule_expression?: string }
export const SCHEDULE_FIELDS = ['every_seconds', 'cron', 'window', 'aws_schedule_expression'] as const;

/** One line of a request's metadata diff: a field, its value when the request was made, and the requested one. */
export interface MetadataChange {
  field: string;
  /** Absent when the requester could not see the current metadata. */
  from?: string | null;
  to: string | null;
}

export type ChangeRequestState = 'pending' | 'approved' | 'applied' | 'failed' | 'denied' | 'cancelled' | 'expired';

/** A request as list and show answer it: who, what (a summary, never a value), who approved. */
export interface ChangeRequestView {
  id: string;
  state: ChangeRequestState;
  operation: string;
  resource: string;
  summary: string;
  requester: { accessor: string; name: string };
  approvers: string[];
  minApprovals: number;
  approvals: { accessor: string; name: string; approvedAt: number }[];
  policy: string;
  createdAt: number;
  expiresAt: number;
  closedAt: number | null;
  closedBy: string | null;
  closeReason: string | null;
  errorCode: string | null;
  /** What the operation changes in metadata (description, owner, tags, rotation settings, a sealed value): never a value. */
  changes: MetadataChange[];
  /** Non-secret outcome of the applied operation (e.g. the version id written). */
  result: Record<string, unknown> | null;
}

export interface ApprovalsServiceDeps {
  db: Kysely<Database>;
  store: ChangeRequestStore;
  tokenStore: Pick<TokenStore, 'findByAccessor'>;
  /** Requests made over the AWS-compatible API name an access key (`aws:<id>`) as requester. */
  awsKeyStore: Pick<AwsKeyStore, 'find'>;
  groupStore: Pick<GroupStore, 'groupsOf'>;
  authorizer: Authorizer;
  secrets: SecretsService;
  rotation: Pick<RotationEngine, 'configure' | 'rotateNow' | 'status'>;
  /** The current metadata a request's diff starts from (read directly: the gate decides who may see it). */
  secretStore: Pick<SecretStore, 'findByName' | 'tags' | 'findReplicas'>;
  /** The attached resource policy a request's diff (and its `expected` document) starts from. */
  resourcePolicyStore: Pick<ResourcePolicyStore, 'find'>;
  replication: Pick<ReplicationService, 'replicate' | 'removeRegions' | 'promote'>;
  resourcePolicies: Pick<ResourcePolicyService, 'put' | 'remove'>;
  /** The server's own region (a held operation without one is in it). */
  region: string;
  barrier: {
    encryptSystemValue(purpose: string, id: string, plaintext: Buffer): Buffer;
    decryptSystemValue(purpose: string, id: string, sealed: Buffer): Promise<Buffer>;
  };
  /** Appends the applied operation's own audit event inside its transaction. */
  auditLog: { appendWithin(tx: Queryable, event: AuditEvent): Promise<unknown> };
  now: () => number;
  /** How long a request waits for approval (default 24 h). */
  ttlMs?: number;
}

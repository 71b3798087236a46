import type { Identity } from '../../auth/identity.types.js';
import type { ReplicationService } from '../../engines/secrets/replication-service.js';
import type { ResourcePolicyService } from '../../engines/secrets/resource-policy-service.js';
import type { SecretRef, SecretsService } from '../../engines/secrets/secrets-service.js';
import type { RotationEngine } from '../../engines/rotation/rotation-engine.js';
import type { ApprovalsService } from '../../engines/approvals/approvals-service.js';
import type { ChangeOperation } from '../../engines/approvals/approvals.types.js';
import { AppError } from '../../errors/app-error.js';
import { labelToAws, labelToNative, epochSeconds } from './aws-protocol.js';
import { inAwsTerms } from './aws-errors.js';
import { str, type Input } from './aws-input.js';
import { valueFields } from './aws-shapes.js';
import { readOperations } from './operations/read.js';
import { writeOperations } from './operations/write.js';
import { catalogOperations } from './operations/catalog.js';
import { deletionOperations } from './operations/deletion.js';
import { passwordOperations } from './operations/password.js';
import { replicationOperations } from './operations/replication.js';
import { resourcePolicyOperations } from './operations/resource-policy.js';
import { rotationOperations } from './operations/rotation.js';

/**
 * Every Secrets Manager operation Custos answers, assembled from one module per operation group
 * (operations/*.ts). Each operation is a thin translation of AWS fields onto a service call.
 */

/** What one AWS call carries into an operation: who, which region, and where to note audit targets. */
export interface AwsCall {
  identity: Identity;
  region: string;
  /** Records the secret (and version) the call touched for its single audit event. */
  target(secretName: string | null, versionId?: string | null): void;
  detail(detail: Record<string, string | number | boolean | null>): void;
  /** A call that reads several secrets records each as its own audit event too (see AuditItem). */
  item(secretName: string, versionId: string | null, errorCode: string | null, status: number): void;
}

export interface AwsServices {
  secrets: SecretsService;
  replication: ReplicationService;
  rotation: Pick<RotationEngine, 'status' | 'configure' | 'rotateNow'>;
  resourcePolicies: ResourcePolicyService;
  /** Writes a policy grants only with approval are held as change requests (native API to approve). */
  approvals?: Pick<ApprovalsService, 'gate'>;
}

export type Operation = (call: AwsCall, input: Input) => Promise<Record<string, unknown>>;
export type Operations = Record<string, Operation>;

/** What the operation groups share: the services and the two steps most operations start with. */
export interface OperationContext extends AwsServices {
  /** Resolves `SecretId` (name, ARN or partial ARN) in the call's region and records it as the audit target. */
  resolve(call: AwsCall, input: Input): Promise<SecretRef>;
  /** GetSecretValue's answer for one secret, with errors worded in AWS's terms. */
  readValue(call: AwsCall, ref: SecretRef, versionId?: string, stage?: string): Promise<Record<string, unknown> & { Name: string; VersionId: string }>;
  /**
   * Holds a write that needs approval as a change request and refuses the call as AccessDenied
   * naming the request (an AWS client has no "accepted" answer); returns when no approval is needed.
   * The operation names its secret's region when it is not the server's default.
   */
  holdIfNeeded(call: AwsCall, op: ChangeOperation): Promise<void>;
}

export function awsOperations(services: AwsServices): Operations {
  const { secrets } = services;
  const context: OperationContext = {
    ...services,
    async resolve(call, input) {
      const ref = await secrets.resolveSecretId(str(input, 'SecretId', true), call.region);
      call.target(ref.name);
      return ref;
    },
    async holdIfNeeded(call, op) {
      // No auditor: the call fails (AccessDenied), so its one audit event is written as a refusal, naming the request.
      const held = await services.approvals?.gate({ ...call.identity, audit: undefined }, op);
      if (!held) return;
      call.detail({ change_request: held.id, approval_required: true });
      throw new AppError('approval_pending', `This change needs approval: it is held as change request ${held.id} (${held.minApprovals} of ${held.approvers.join(', ')}) and runs once approved; see \`custos request show ${held.id}\`.`, {
        details: { change_request: held.id },
      });
    },
    async readValue(call, ref, versionId, stage) {
      let result: Awaited<ReturnType<SecretsService['getValue']>>;
      try {
        result = await secrets.getValue(call.identity, ref, { versionId, label: stage === undefined ? undefined : labelToNative(stage) });
      } catch (error) {
        inAwsTerms(error);
      }
      return {
        ARN: result.arn, Name: result.name, VersionId: result.versionId, ...valueFields(result.value),
        VersionStages: result.labels.map(labelToAws), CreatedDate: epochSeconds(result.createdAt),
      };
    },
  };
  return {
    ...readOperations(context),
    ...writeOperations(context),
    ...catalogOperations(context),
    ...deletionOperations(context),
    ...passwordOperations(),
    ...replicationOperations(context),
    ...resourcePolicyOperations(context),
    ...rotationOperations(context),
  };
}

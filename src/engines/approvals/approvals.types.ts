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

/**
 * A held write. Values travel base64 so a binary value survives the JSON the barrier seals;
 * `region` is set for writes made over the AWS API in another region than the server's own.
 */
export type ChangeOperation = { region?: string } & (
  | {
    kind: 'secret.write';
    name: string;
    value: { kind: 'string' | 'binary'; base64: string };
    labels?: string[];
    versionId?: string;
    createIfMissing?: { description?: string; owner?: string; tags?: Record<string, string> };
  }
  | { kind: 'secret.delete'; name: string; recoveryDays?: number; force?: boolean }
  | { kind: 'secret.label'; name: string; label: string; moveToVersionId?: string; removeFromVersionId?: string }
);

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
  barrier: {
    encryptSystemValue(purpose: string, id: string, plaintext: Buffer): Buffer;
    decryptSystemValue(purpose: string, id: string, sealed: Buffer): Promise<Buffer>;
  };
  /** Appends the applied operation's own audit event inside its transaction. */
  auditLog: { appendWithin(tx: Queryable, event: AuditEvent): Promise<void> };
  now: () => number;
  /** How long a request waits for approval (default 24 h). */
  ttlMs?: number;
}

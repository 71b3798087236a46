/**
 * The writes a change request can hold: what each needs from policy (so the gate can tell that
 * it needs approval before anything happens), a one-line summary that never contains a value,
 * and how it is carried out through the secrets engine once approved.
 */
import type { Identity } from '../../auth/identity.types.js';
import type { Capability } from '../../policy/policy.js';
import type { SecretValue } from '../secrets/secret-rules.js';
import type { SecretsService } from '../secrets/secrets-service.js';
import type { ChangeOperation } from './approvals.types.js';

/** The capabilities an operation needs, as the secrets engine will check them. */
export function checksOf(op: ChangeOperation): { capability: Capability; resource: string }[] {
  switch (op.kind) {
    case 'secret.write': {
      const checks: { capability: Capability; resource: string }[] = [{ capability: 'update', resource: op.name }];
      if (op.labels !== undefined && !(op.labels.length === 1 && op.labels[0] === 'CURRENT')) checks.push({ capability: 'stage', resource: op.name });
      return checks;
    }
    case 'secret.delete':
      return [{ capability: 'delete', resource: op.name }];
    case 'secret.label':
      return [{ capability: 'stage', resource: op.name }];
  }
}

/** What the request would do, for lists and audit: names, labels and options, never the value. */
export function summaryOf(op: ChangeOperation): string {
  switch (op.kind) {
    case 'secret.write':
      return `write a new version of ${op.name} (labels ${(op.labels ?? ['CURRENT']).join(',')}${op.versionId ? `, version ${op.versionId}` : ''}${op.createIfMissing ? ', create if missing' : ''})`;
    case 'secret.delete':
      return op.force ? `delete ${op.name} now, without recovery` : `schedule ${op.name} for deletion (recovery ${op.recoveryDays ?? 30} days)`;
    case 'secret.label':
      return `move label ${op.label} of ${op.name}${op.moveToVersionId ? ` to version ${op.moveToVersionId}` : ''}${op.removeFromVersionId ? ` from version ${op.removeFromVersionId}` : ''}`;
  }
}

function valueOf(op: ChangeOperation & { kind: 'secret.write' }): SecretValue {
  const bytes = Buffer.from(op.value.base64, 'base64');
  return op.value.kind === 'string' ? { kind: 'string', text: bytes.toString('utf8') } : { kind: 'binary', bytes };
}

/** Carries the operation out as `caller` (the requester, marked as approved); returns a non-secret result. */
export async function execute(secrets: SecretsService, caller: Identity, op: ChangeOperation): Promise<Record<string, string | number | boolean | null>> {
  const ref = { name: op.name, region: op.region };
  switch (op.kind) {
    case 'secret.write': {
      const input = { value: valueOf(op), labels: op.labels, versionId: op.versionId };
      const written = op.createIfMissing ? await secrets.putValueOrCreate(caller, ref, input, op.createIfMissing) : await secrets.putValue(caller, ref, input);
      return { version_id: written.versionId, labels: written.labels.join(','), created: written.created };
    }
    case 'secret.delete': {
      const deleted = await secrets.delete(caller, ref, { recoveryDays: op.recoveryDays, force: op.force });
      return { deletion_date: new Date(deleted.deletionDate).toISOString() };
    }
    case 'secret.label':
      await secrets.moveLabel(caller, ref, { label: op.label, moveToVersionId: op.moveToVersionId, removeFromVersionId: op.removeFromVersionId });
      return { label: op.label };
  }
}

/** The audit operation name of the applied write (as if the requester had made it directly). */
export function auditOperationOf(op: ChangeOperation): string {
  return op.kind;
}

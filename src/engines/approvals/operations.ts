/**
 * The writes a change request can hold: what each needs from policy (so the gate can tell that
 * it needs approval before anything happens), a one-line summary that never contains a value,
 * and how it is carried out through the secrets and rotation engines once approved.
 */
import type { Identity } from '../../auth/identity.types.js';
import type { Capability } from '../../policy/policy.js';
import { validateSecretName, validateTags, type SecretValue } from '../secrets/secret-rules.js';
import { parseSettings } from '../rotation/rotation-settings.js';
import { AppError } from '../../errors/app-error.js';
import { grantedCapabilities, isPublic, parseResourcePolicy } from '../../policy/resource-policy.js';
import { REGION_PATTERN } from '../secrets/replication-service.js';
import { SCHEDULE_FIELDS, type ApprovalsServiceDeps, type ChangeOperation, type HeldValue, type RotationSchedule } from './approvals.types.js';

type Check = { capability: Capability; resource: string };

/** What a value write needs: `update`, and `stage` for labels other than CURRENT alone. */
function writeChecks(name: string, labels: string[] | undefined): Check[] {
  const checks: Check[] = [{ capability: 'update', resource: name }];
  if (labels !== undefined && !(labels.length === 1 && labels[0] === 'CURRENT')) checks.push({ capability: 'stage', resource: name });
  return checks;
}

/** What storing rotation settings needs, as the rotation engine checks it. */
function rotationChecks(name: string, settings: Record<string, unknown> | null | undefined): Check[] {
  const checks: Check[] = [{ capability: 'rotate', resource: name }];
  if (!settings) return checks;
  if (typeof settings.admin_secret === 'string') checks.push({ capability: 'read', resource: settings.admin_secret });
  const webhook = settings.webhook as { hmac_secret?: unknown } | undefined;
  if (typeof webhook?.hmac_secret === 'string') checks.push({ capability: 'read', resource: webhook.hmac_secret });
  if (settings.rotator === 'command' || settings.rotator === 'webhook') checks.push({ capability: 'update', resource: `sys:rotation/${settings.rotator}` });
  return checks;
}

/** The capabilities an operation needs, as the engines will check them. */
export function checksOf(op: ChangeOperation): Check[] {
  switch (op.kind) {
    case 'secret.write':
      return writeChecks(op.name, op.labels);
    case 'secret.delete':
      return [{ capability: 'delete', resource: op.name }];
    case 'secret.label':
      return [{ capability: 'stage', resource: op.name }];
    case 'secret.create':
      return [
        { capability: 'create', resource: op.name }, ...(op.value ? writeChecks(op.name, op.labels) : []),
        ...(op.replicas?.length ? [{ capability: 'update' as const, resource: op.name }] : []),
      ];
    case 'secret.update':
    case 'secret.tag':
    case 'secret.untag':
      return [{ capability: 'update', resource: op.name }];
    case 'rotation.configure':
    case 'rotation.rotate':
      return rotationChecks(op.name, op.settings);
    case 'rotation.schedule':
      return [{ capability: 'rotate', resource: op.name }];
    case 'secret.restore':
      return [{ capability: 'delete', resource: op.name }];
    case 'replication.add':
    case 'replication.remove':
    case 'replication.promote':
    case 'policy.delete':
      return [{ capability: 'update', resource: op.name }];
    case 'policy.put':
      return [{ capability: 'update', resource: op.name }, ...grantsOf(op.document).map((capability) => ({ capability, resource: op.name }))];
  }
}

/** What a resource policy grants, as the policy engine checks it (a malformed one is refused by `validated` or the engine). */
function grantsOf(document: string): Capability[] {
  try {
    return grantedCapabilities(parseResourcePolicy(document));
  } catch {
    return [];
  }
}

function scheduleText(schedule: RotationSchedule): string {
  const when = schedule.aws_schedule_expression ?? (schedule.cron !== undefined ? `cron ${schedule.cron}` : schedule.every_seconds !== undefined ? `every ${schedule.every_seconds} s` : 'on demand');
  return `${when}${schedule.window ? `, window ${schedule.window}` : ''}`;
}

function validateRegions(regions: { region: string }[]): void {
  for (const r of regions) if (!REGION_PATTERN.test(r.region)) throw new AppError('validation_failed', `"${r.region.slice(0, 32)}" is not a region name`);
}

/**
 * Checks what the engines would refuse once approved, so a request an approver reviews is one
 * that can apply: a new secret's name, tags, and rotation settings (returned as the engine normalizes them).
 */
export function validated(op: ChangeOperation): ChangeOperation {
  switch (op.kind) {
    case 'secret.create':
      validateSecretName(op.name);
      if (op.tags) validateTags(op.tags);
      validateRegions(op.replicas ?? []);
      if (op.replicas?.some((r) => r.region === op.region)) throw new AppError('validation_failed', 'a secret cannot be replicated to its own region');
      return op;
    case 'secret.tag':
      validateTags(op.tags);
      return op;
    case 'rotation.configure':
    case 'rotation.rotate':
      return op.settings ? { ...op, settings: parseSettings(op.settings) as Record<string, unknown> } : op;
    case 'replication.add':
      if (op.regions.length === 0) throw new AppError('validation_failed', 'name at least one region');
      validateRegions(op.regions);
      return op;
    case 'policy.put':
      // Parsed even without BlockPublicPolicy: a malformed document is refused now, not after approval.
      if (isPublic(parseResourcePolicy(op.document)) && op.blockPublic) {
        throw new AppError('invalid_policy', 'BlockPublicPolicy is set and the policy allows access to every principal ("*")', { details: { reason: 'public' } });
      }
      return op;
    default:
      return op;
  }
}

const labelsText = (labels: string[] | undefined) => (labels ?? ['CURRENT']).join(',');

/** What the request would do, for lists and audit: names, labels and options, never the value. */
export function summaryOf(op: ChangeOperation): string {
  switch (op.kind) {
    case 'secret.write':
      return `write a new version of ${op.name} (labels ${labelsText(op.labels)}${op.versionId ? `, version ${op.versionId}` : ''}${op.createIfMissing ? ', create if missing' : ''})`;
    case 'secret.delete':
      return op.force ? `delete ${op.name} now, without recovery` : `schedule ${op.name} for deletion (recovery ${op.recoveryDays ?? 30} days)`;
    case 'secret.label':
      return `move label ${op.label} of ${op.name}${op.moveToVersionId ? ` to version ${op.moveToVersionId}` : ''}${op.removeFromVersionId ? ` from version ${op.removeFromVersionId}` : ''}`;
    case 'secret.create':
      return `create ${op.name}${op.value ? ` with a first value (labels ${labelsText(op.labels)}${op.versionId ? `, version ${op.versionId}` : ''})` : ' without a value'}${
        op.replicas?.length ? `, replicated to ${op.replicas.map((r) => r.region).join(', ')}` : ''}`;
    case 'secret.update': {
      const fields = Object.keys(op.metadata).filter((k) => op.metadata[k as keyof typeof op.metadata] !== undefined).map((k) => (k === 'kmsKeyId' ? 'kms key' : k));
      const parts = [...(op.value ? ['write a new version (labels CURRENT)'] : []), ...(fields.length ? [`update ${fields.join(', ')}`] : [])];
      return `${parts.join(' and ')} of ${op.name}`;
    }
    case 'secret.tag':
      return `set tag${Object.keys(op.tags).length === 1 ? '' : 's'} ${Object.keys(op.tags).join(', ')} on ${op.name}`;
    case 'secret.untag':
      return `remove tag${op.keys.length === 1 ? '' : 's'} ${op.keys.join(', ')} from ${op.name}`;
    case 'rotation.configure':
      return op.settings === null ? `remove the rotation settings of ${op.name}` : `set the rotation of ${op.name} (rotator ${String(op.settings.rotator)})`;
    case 'rotation.rotate':
      return `rotate ${op.name} now${op.settings ? ` after setting its rotation (rotator ${String(op.settings.rotator)})` : ''}`;
    case 'rotation.schedule':
      return `${op.schedule ? `set the rotation schedule of ${op.name} (${scheduleText(op.schedule)})` : `turn off automatic rotation of ${op.name}`}${op.rotate ? ' and rotate it now' : ''}`;
    case 'secret.restore':
      return `restore ${op.name} (cancel its scheduled deletion)`;
    case 'replication.add':
      return `replicate ${op.name} to ${op.regions.map((r) => r.region).join(', ')}${op.overwrite ? ', replacing a secret of that name there' : ''}`;
    case 'replication.remove':
      return `delete the replica${op.regions.length === 1 ? '' : 's'} of ${op.name} in ${op.regions.join(', ')}`;
    case 'replication.promote':
      return `promote the replica ${op.name} in ${op.region ?? 'the default region'} to a standalone secret`;
    case 'policy.put':
      return `attach a resource policy to ${op.name}`;
    case 'policy.delete':
      return `remove the resource policy of ${op.name}`;
  }
}

function valueOf(held: HeldValue): SecretValue {
  const bytes = Buffer.from(held.base64, 'base64');
  return held.kind === 'string' ? { kind: 'string', text: bytes.toString('utf8') } : { kind: 'binary', bytes };
}

type Engines = Pick<ApprovalsServiceDeps, 'secrets' | 'rotation' | 'replication' | 'resourcePolicies'>;
type Result = Record<string, string | number | boolean | null>;

/**
 * Carries the operation out as `caller` (the requester, marked as approved); returns a non-secret
 * result. An operation of two steps commits the first before the second runs: the step more
 * likely to fail (a value write's idempotency check, storing rotation settings) comes first.
 */
export async function execute({ secrets, rotation, replication, resourcePolicies }: Engines, caller: Identity, op: ChangeOperation): Promise<Result> {
  const ref = { name: op.name, region: op.region };
  // A rotation in another region than the server's names it (a RotateSecret signed for that region).
  const target = op.region === undefined ? op.name : { name: op.name, region: op.region };
  switch (op.kind) {
    case 'secret.write': {
      const input = { value: valueOf(op.value), labels: op.labels, versionId: op.versionId };
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
    case 'secret.create': {
      const created = await secrets.create(caller, {
        name: op.name, region: op.region, description: op.description, owner: op.owner, kmsKeyId: op.kmsKeyId, tags: op.tags,
        value: op.value ? valueOf(op.value) : undefined, labels: op.labels, versionId: op.versionId,
      });
      // The second step: the create has committed (with approved → applied); a failure here marks the request incomplete.
      if (op.replicas?.length) await replication.replicate(caller, ref, op.replicas, op.overwriteReplicas ?? false, true);
      return { arn: created.metadata.arn, version_id: created.versionId, ...(op.replicas?.length ? { replicas: op.replicas.map((r) => r.region).join(',') } : {}) };
    }
    case 'secret.update': {
      const result: Result = {};
      if (op.value) result.version_id = (await secrets.putValue(caller, ref, { value: valueOf(op.value), versionId: op.versionId })).versionId;
      if (Object.values(op.metadata).some((v) => v !== undefined)) await secrets.updateMetadata(caller, ref, op.metadata);
      return result;
    }
    case 'secret.tag':
      await secrets.tag(caller, ref, op.tags);
      return {};
    case 'secret.untag':
      await secrets.untag(caller, ref, op.keys);
      return {};
    case 'rotation.configure':
      await rotation.configure(caller, target, op.settings);
      return {};
    case 'rotation.rotate': {
      if (op.settings) await rotation.configure(caller, target, op.settings);
      const run = await rotation.rotateNow(caller, target);
      return { rotation: run.id, token: run.token };
    }
    case 'rotation.schedule': {
      // The settings as they are when approved: only the schedule is the request's.
      const { settings } = await rotation.status(caller, target);
      if (!settings) throw new AppError('rotation_not_configured', `secret "${op.name}" has no rotator`);
      const rest = Object.fromEntries(Object.entries(settings).filter(([key]) => !(SCHEDULE_FIELDS as readonly string[]).includes(key)));
      const hadSchedule = SCHEDULE_FIELDS.some((key) => settings[key] !== undefined);
      if (op.schedule || hadSchedule) await rotation.configure(caller, target, { ...rest, ...(op.schedule ?? {}) });
      if (!op.rotate) return {};
      const run = await rotation.rotateNow(caller, target);
      return { rotation: run.id, token: run.token };
    }
    case 'secret.restore':
      await secrets.restore(caller, ref);
      return {};
    case 'replication.add': {
      const { statuses } = await replication.replicate(caller, ref, op.regions, op.overwrite, true);
      return { replicas: statuses.map((s) => s.region).join(',') };
    }
    case 'replication.remove': {
      const { statuses } = await replication.removeRegions(caller, ref, op.regions);
      return { replicas: statuses.map((s) => s.region).join(',') };
    }
    case 'replication.promote':
      await replication.promote(caller, ref);
      return {};
    case 'policy.put':
      await resourcePolicies.put(caller, ref, op.document, op.blockPublic, op.expected);
      return {};
    case 'policy.delete':
      await resourcePolicies.remove(caller, ref, op.expected);
      return {};
  }
}

/** The audit operation name of the applied write (as if the requester had made it directly). */
export function auditOperationOf(op: ChangeOperation): string {
  return op.kind;
}

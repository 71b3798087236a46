/**
 * The metadata diff an approver reviews: for each field a held operation changes, its value when
 * the request was made and the requested one. A value is never part of it: a new value shows as
 * "(new value, sealed)". Taken when the request is made (the secret may change meanwhile: the
 * approver then sees what the requester saw), and only from metadata the requester may see.
 */
import { AppError } from '../../errors/app-error.js';
import type { Queryable } from '../../storage/schema.js';
import { SCHEDULE_FIELDS, type ApprovalsServiceDeps, type ChangeOperation, type MetadataChange, type MetadataPatch } from './approvals.types.js';

export const SEALED_VALUE = '(new value, sealed)';

/** A secret's metadata as the diff compares it. */
export interface CurrentMetadata {
  description: string | null;
  owner: string | null;
  kmsKeyId: string | null;
  tags: Record<string, string>;
  rotation: Record<string, unknown> | null;
  /** Regions holding a replica of it (none when it is a replica itself), and the region of its primary when it is one. */
  replicaRegions: string[];
  primaryRegion: string | null;
  resourcePolicy: string | null;
  /** When a secret scheduled for deletion is purged (null: not scheduled). */
  deleteAfter: number | null;
}

type MetadataDeps = Pick<ApprovalsServiceDeps, 'secretStore' | 'resourcePolicyStore' | 'region'>;

/**
 * The live secret's metadata (a restore's: the deleted one's), or null when there is no such
 * secret. Unauthorized: the caller decides who sees it.
 */
export async function currentMetadata(deps: MetadataDeps, q: Queryable, op: ChangeOperation): Promise<CurrentMetadata | null> {
  const row = await deps.secretStore.findByName(q, op.region ?? deps.region, op.name);
  if (!row || (row.deleted_at !== null && op.kind !== 'secret.restore')) return null;
  const tags = (await deps.secretStore.tags(q, [row.id])).get(row.id) ?? {};
  const replicas = row.primary_region === null ? await deps.secretStore.findReplicas(q, row.region, row.name) : [];
  return {
    description: row.description, owner: row.owner, kmsKeyId: row.kms_key_id, tags, rotation: row.rotation ? (JSON.parse(row.rotation) as Record<string, unknown>) : null,
    replicaRegions: replicas.map((r) => r.region), primaryRegion: row.primary_region, resourcePolicy: (await deps.resourcePolicyStore.find(q, row.id)) ?? null,
    deleteAfter: row.deleted_at === null ? null : Number(row.delete_after),
  };
}

/**
 * What an operation must find unchanged when it applies, recorded when it is held: the resource
 * policy a policy change replaces (whether or not the requester may see it; it stays sealed).
 * Refuses a regional rotation of a replica at once.
 */
export async function withPreconditions(deps: MetadataDeps, q: Queryable, op: ChangeOperation): Promise<ChangeOperation> {
  if (op.kind.startsWith('rotation.') && op.region !== undefined) {
    // A replica rotates through its primary (the AWS API checks this itself when the caller may read).
    const row = await deps.secretStore.findByName(q, op.region, op.name);
    if (row?.primary_region) throw new AppError('invalid_request', `secret "${op.name}" is a replica`, { details: { primary_region: row.primary_region } });
  }
  if (op.kind !== 'policy.put' && op.kind !== 'policy.delete') return op;
  const row = await deps.secretStore.findByName(q, op.region ?? deps.region, op.name);
  return { ...op, expected: row ? ((await deps.resourcePolicyStore.find(q, row.id)) ?? null) : null };
}

const FIELD_NAMES: Record<keyof MetadataPatch, string> = { description: 'description', owner: 'owner', kmsKeyId: 'kms_key_id' };
const json = (v: unknown): string | null => (v === undefined || v === null ? null : typeof v === 'string' ? v : JSON.stringify(v));

/**
 * The diff of `op` against `current` (null: no such secret; undefined: the requester may not
 * see the secret's metadata, so `from` is left out).
 */
export function changesOf(op: ChangeOperation, current: CurrentMetadata | null | undefined): MetadataChange[] {
  const changes: MetadataChange[] = [];
  const add = (field: string, from: string | null | undefined, to: string | null) => {
    if (current === undefined) changes.push({ field, to });
    else if ((from ?? null) !== to) changes.push({ field, from: from ?? null, to });
  };
  /** A line even when nothing differs: the approver sees what the request meant (it fails if nothing is left to do). */
  const always = (field: string, from: string | null, to: string | null) => changes.push(current === undefined ? { field, to } : { field, from, to });
  const metadata = (patch: MetadataPatch) => {
    for (const key of Object.keys(FIELD_NAMES) as (keyof MetadataPatch)[]) {
      if (patch[key] !== undefined) add(FIELD_NAMES[key], current?.[key], patch[key] ?? null);
    }
  };
  const tags = (set: Record<string, string | null>) => {
    for (const [key, value] of Object.entries(set)) add(`tag:${key}`, current?.tags[key], value);
  };
  const rotation = (settings: Record<string, unknown> | null) => {
    const before = current?.rotation ?? {};
    for (const key of new Set([...Object.keys(before), ...Object.keys(settings ?? {})])) add(`rotation.${key}`, json(before[key]), json(settings?.[key]));
  };
  switch (op.kind) {
    case 'secret.write':
      changes.push({ field: 'value', to: `${SEALED_VALUE}, labels ${(op.labels ?? ['CURRENT']).join(',')}` });
      if (op.createIfMissing && current === null) {
        metadata(op.createIfMissing);
        tags(op.createIfMissing.tags ?? {});
      }
      break;
    case 'secret.delete':
      changes.push({ field: 'deletion', to: op.force ? 'now, without recovery' : `scheduled, recovery ${op.recoveryDays ?? 30} days` });
      break;
    case 'secret.label':
      changes.push({ field: `label:${op.label}`, ...(op.removeFromVersionId ? { from: op.removeFromVersionId } : {}), to: op.moveToVersionId ?? null });
      break;
    case 'secret.create':
      if (op.value) changes.push({ field: 'value', to: `${SEALED_VALUE}, labels ${(op.labels ?? ['CURRENT']).join(',')}` });
      metadata({ description: op.description, owner: op.owner, kmsKeyId: op.kmsKeyId });
      tags(op.tags ?? {});
      for (const r of op.replicas ?? []) always(`replica:${r.region}`, null, `replica${r.kmsKeyId ? ` (kms key ${r.kmsKeyId})` : ''}`);
      break;
    case 'secret.update':
      if (op.value) changes.push({ field: 'value', to: `${SEALED_VALUE}, labels CURRENT` });
      metadata(op.metadata);
      break;
    case 'secret.tag':
      tags(op.tags);
      break;
    case 'secret.untag':
      tags(Object.fromEntries(op.keys.map((k) => [k, null])));
      break;
    case 'rotation.configure':
      rotation(op.settings);
      break;
    case 'rotation.rotate':
      if (op.settings) rotation(op.settings);
      changes.push({ field: 'rotation run', to: 'starts once approved' });
      break;
    case 'rotation.schedule':
      for (const key of SCHEDULE_FIELDS) add(`rotation.${key}`, json(current?.rotation?.[key]), json(op.schedule?.[key]));
      if (op.rotate) changes.push({ field: 'rotation run', to: 'starts once approved' });
      break;
    case 'secret.restore':
      always('deletion', current ? (current.deleteAfter === null ? 'not scheduled' : `scheduled, purged at ${new Date(current.deleteAfter).toISOString()}`) : null, 'cancelled');
      break;
    case 'replication.add':
      for (const r of op.regions) always(`replica:${r.region}`, current?.replicaRegions.includes(r.region) ? 'replica' : null, `replica${r.kmsKeyId ? ` (kms key ${r.kmsKeyId})` : ''}`);
      break;
    case 'replication.remove':
      for (const region of op.regions) always(`replica:${region}`, current?.replicaRegions.includes(region) ? 'replica' : null, null);
      break;
    case 'replication.promote':
      always('primary_region', current?.primaryRegion ?? null, null);
      break;
    case 'policy.put':
      always('resource_policy', current?.resourcePolicy ?? null, op.document);
      break;
    case 'policy.delete':
      always('resource_policy', current?.resourcePolicy ?? null, null);
      break;
  }
  return changes;
}

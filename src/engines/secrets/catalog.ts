/**
 * The catalog of secrets: create (and create-or-write), describe, metadata updates, tags,
 * scheduled deletion with its recovery window, restore, and the purge of expired deletions.
 */
import { randomInt } from 'node:crypto';
import { AppError } from '../../errors/app-error.js';
import { newId } from '../../lib/ids.js';
import type { Identity } from '../../auth/identity.types.js';
import type { SecretRow } from '../../storage/secret-store.js';
import { transaction } from '../../storage/transaction.js';
import { validateSecretName, validateTags } from './secret-rules.js';
import { DAY_MS, type SecretRefs } from './secret-refs.js';
import type { CreateSecretInput, PutValueInput, ReplicaStatus, SecretMetadata, SecretRef, SecretsServiceDeps, VersionInfo } from './secrets.types.js';
import type { Versions } from './versions.js';

/** Thrown inside a create's transaction when another create inserted the same name first. */
class CreateRaceLost extends Error {}
const ARN_SUFFIX_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function createCatalog(deps: SecretsServiceDeps, refs: SecretRefs, versions: Versions) {
  const { db, secretStore: store, authorizer, now } = deps;
  const { arnOf, toMetadata, findLive, refuseReplicaWrite, decrypt, sameValue, versionsOf, syncReplicas, replicationOf } = refs;
  const { writeVersion, checkWriteInput, requireWrite } = versions;

  async function create(caller: Identity, input: CreateSecretInput): Promise<{ metadata: SecretMetadata; versionId: string | null; labels: string[] }> {
    validateSecretName(input.name);
    await authorizer.require(caller, 'create', input.name);
    if (input.value) await requireWrite(caller, input.name, input.labels);
    if (input.tags) validateTags(input.tags);
    if (input.value) checkWriteInput({ value: input.value, labels: input.labels, versionId: input.versionId });
    const region = input.region ?? deps.region;
    // A create that loses a race for the name (PostgreSQL runs writers concurrently) runs
    // once more, and then sees the winner: an idempotent retry, or secret_exists.
    const attempt = () => transaction(db, caller.audit, async (tx) => {
      const existing = await store.findByName(tx, region, input.name, { forUpdate: true });
      if (existing) {
        // A retried create with the same token and value returns what the first one made.
        if (existing.deleted_at === null && input.versionId && input.value) {
          const version = await store.findVersion(tx, existing.id, input.versionId);
          if (version) {
            if (sameValue(await decrypt(existing.id, input.versionId, version), input.value)) {
              return { row: existing, versionId: input.versionId, labels: (await store.labels(tx, existing.id)).filter((l) => l.version_id === input.versionId).map((l) => l.label) };
            }
            throw new AppError('idempotency_conflict', `version ${input.versionId} already exists with a different value`);
          }
        }
        if (existing.deleted_at !== null) throw new AppError('secret_scheduled_for_deletion', `a secret named "${input.name}" is scheduled for deletion`);
        throw new AppError('secret_exists', `a secret named "${input.name}" already exists`);
      }
      const at = now();
      const row: SecretRow = {
        id: newId(), region, name: input.name, arn_suffix: Array.from({ length: 6 }, () => ARN_SUFFIX_CHARS[randomInt(ARN_SUFFIX_CHARS.length)]).join(''),
        description: input.description ?? null, owner: input.owner ?? null, kms_key_id: input.kmsKeyId ?? null, created_at: at, updated_at: at,
        last_accessed_at: null, last_rotated_at: null, deleted_at: null, delete_after: null, rotation: null, primary_region: null,
      };
      if (!(await store.insertIfAbsent(tx, row))) throw new CreateRaceLost();
      if (input.tags) await store.putTags(tx, row.id, input.tags);
      const version = input.value ? await writeVersion(tx, row, { value: input.value, labels: input.labels, versionId: input.versionId }, caller.audit) : null;
      return { row: (await store.findById(tx, row.id))!, versionId: version?.versionId ?? null, labels: version?.labels ?? [] };
    });
    const result = await attempt().catch((error: unknown) => {
      if (error instanceof CreateRaceLost) return attempt();
      throw error;
    }).catch((error: unknown) => {
      if (error instanceof CreateRaceLost) throw new AppError('secret_exists', `a secret named "${input.name}" already exists`);
      throw error;
    });
    await deps.changes.publish('secret', result.row.id, { name: result.row.name, region: result.row.region, kind: 'written', versionId: result.versionId });
    const tags = (await store.tags(db, [result.row.id])).get(result.row.id) ?? {};
    return { metadata: toMetadata(result.row, tags), versionId: result.versionId, labels: result.labels };
  }

  /**
   * Writes a version, first creating the secret (with `metadata`) when no secret has that name:
   * what `custos secret put` means. As one request it leaves one audit event, `secret.create`
   * or `secret.write`; a client that tried the write and fell back to a create left a failed
   * write in the audit log before every new secret. Creating needs `create` on top of what a
   * write needs, as any create with a value already does.
   */
  async function putValueOrCreate(caller: Identity, ref: SecretRef, input: PutValueInput, metadata: Pick<CreateSecretInput, 'description' | 'owner' | 'tags'> = {}): Promise<{ arn: string; name: string; versionId: string; labels: string[]; created: boolean; secretCreated: boolean }> {
    validateSecretName(ref.name);
    // Checked before the name is looked up, so a caller who may not write learns nothing of it.
    await requireWrite(caller, ref.name, input.labels);
    const region = ref.region ?? deps.region;
    if (!(await store.findByName(db, region, ref.name))) {
      caller.audit?.annotate({ operation: 'secret.create' });
      try {
        const made = await create(caller, { ...metadata, name: ref.name, region, value: input.value, labels: input.labels, versionId: input.versionId });
        return { arn: made.metadata.arn, name: made.metadata.name, versionId: made.versionId!, labels: made.labels, created: true, secretCreated: true };
      } catch (error) {
        // Another writer created it since the lookup: write to theirs, as if it had been there.
        if (!(error instanceof AppError && error.code === 'secret_exists')) throw error;
        caller.audit?.annotate({ operation: 'secret.write' });
      }
    }
    return { ...(await versions.putValue(caller, ref, input)), secretCreated: false };
  }

  async function describe(caller: Identity, ref: SecretRef): Promise<SecretMetadata & { versions: VersionInfo[]; replication: ReplicaStatus[] }> {
    validateSecretName(ref.name);
    if (!(await authorizer.allows(caller, 'read', ref.name))) await authorizer.require(caller, 'list', ref.name);
    const row = await findLive(db, ref, { allowDeleted: true });
    const [tags, versions, replication] = await Promise.all([store.tags(db, [row.id]), versionsOf(db, row.id), replicationOf(db, row)]);
    return { ...toMetadata(row, tags.get(row.id) ?? {}), versions, replication };
  }

  async function updateMetadata(caller: Identity, ref: SecretRef, patch: { description?: string | null; owner?: string | null; kmsKeyId?: string | null }): Promise<SecretMetadata> {
    validateSecretName(ref.name);
    await authorizer.require(caller, 'update', ref.name);
    const row = await transaction(db, caller.audit, async (tx) => {
      const row = await findLive(tx, ref, { forUpdate: true });
      refuseReplicaWrite(row);
      const set: Partial<SecretRow> = { updated_at: now() };
      if (patch.description !== undefined) set.description = patch.description;
      if (patch.owner !== undefined) set.owner = patch.owner;
      if (patch.kmsKeyId !== undefined) set.kms_key_id = patch.kmsKeyId;
      await store.update(tx, row.id, set);
      await syncReplicas(tx, row.id);
      return (await store.findById(tx, row.id))!;
    });
    await deps.changes.publish('secret', row.id, { name: row.name, region: row.region, kind: 'metadata' });
    return toMetadata(row, (await store.tags(db, [row.id])).get(row.id) ?? {});
  }

  /** Schedules deletion after a 7-30 day recovery window (default 30), or deletes at once with `force`. */
  async function deleteSecret(caller: Identity, ref: SecretRef, options: { recoveryDays?: number; force?: boolean } = {}): Promise<{ arn: string; name: string; deletionDate: number }> {
    validateSecretName(ref.name);
    await authorizer.require(caller, 'delete', ref.name);
    if (options.force && options.recoveryDays !== undefined) throw new AppError('validation_failed', 'give either a recovery window or force, not both');
    const days = options.recoveryDays ?? 30;
    if (!Number.isInteger(days) || days < 7 || days > 30) throw new AppError('validation_failed', 'the recovery window is 7 to 30 days');
    const result = await transaction(db, caller.audit, async (tx) => {
      const row = await findLive(tx, ref, { forUpdate: true, allowDeleted: true });
      refuseReplicaWrite(row);
      if (row.primary_region === null && (await store.findReplicas(tx, row.region, row.name)).length > 0) {
        throw new AppError('invalid_request', `secret "${row.name}" has replicas; remove them from replication before deleting it`);
      }
      const at = now();
      if (options.force) {
        await store.remove(tx, row.id);
        return { row, deletionDate: at };
      }
      if (row.deleted_at !== null) throw new AppError('secret_scheduled_for_deletion', `secret "${ref.name}" is already scheduled for deletion`);
      const deleteAfter = at + days * DAY_MS;
      await store.update(tx, row.id, { deleted_at: at, delete_after: deleteAfter, updated_at: at });
      return { row, deletionDate: deleteAfter };
    });
    await deps.changes.publish('secret', result.row.id, { name: result.row.name, region: result.row.region, kind: 'deleted' });
    return { arn: arnOf(result.row), name: result.row.name, deletionDate: result.deletionDate };
  }

  async function restore(caller: Identity, ref: SecretRef): Promise<{ arn: string; name: string }> {
    validateSecretName(ref.name);
    await authorizer.require(caller, 'delete', ref.name);
    const row = await transaction(db, caller.audit, async (tx) => {
      const row = await findLive(tx, ref, { forUpdate: true, allowDeleted: true });
      if (row.deleted_at === null) throw new AppError('secret_not_deleted', `secret "${ref.name}" is not scheduled for deletion`);
      await store.update(tx, row.id, { deleted_at: null, delete_after: null, updated_at: now() });
      return row;
    });
    await deps.changes.publish('secret', row.id, { name: row.name, region: row.region, kind: 'restored' });
    return { arn: arnOf(row), name: row.name };
  }

  async function tag(caller: Identity, ref: SecretRef, tags: Record<string, string>): Promise<void> {
    validateSecretName(ref.name);
    await authorizer.require(caller, 'update', ref.name);
    validateTags(tags);
    await transaction(db, caller.audit, async (tx) => {
      const row = await findLive(tx, ref, { forUpdate: true, allowDeleted: true });
      refuseReplicaWrite(row);
      await store.putTags(tx, row.id, tags);
      await syncReplicas(tx, row.id);
      const total = Object.keys((await store.tags(tx, [row.id])).get(row.id) ?? {}).length;
      if (total > 50) throw new AppError('validation_failed', 'a secret has at most 50 tags');
    });
  }

  async function untag(caller: Identity, ref: SecretRef, keys: string[]): Promise<void> {
    validateSecretName(ref.name);
    await authorizer.require(caller, 'update', ref.name);
    await transaction(db, caller.audit, async (tx) => {
      const row = await findLive(tx, ref, { forUpdate: true, allowDeleted: true });
      refuseReplicaWrite(row);
      await store.removeTags(tx, row.id, keys);
      await syncReplicas(tx, row.id);
    });
  }

  /** Removes secrets whose recovery window has ended. Run by the scheduler on one node. */
  async function purgeExpired(): Promise<number> {
    const expired = await store.listExpiredDeletions(db, now(), 500);
    for (const row of expired) {
      await transaction(db, undefined, (tx) => store.remove(tx, row.id));
      deps.changes.publish('secret', row.id, { name: row.name, region: row.region, kind: 'deleted' });
    }
    return expired.length;
  }

  return { create, putValueOrCreate, describe, updateMetadata, delete: deleteSecret, restore, tag, untag, purgeExpired };
}

export type Catalog = ReturnType<typeof createCatalog>;

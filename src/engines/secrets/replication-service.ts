import type { Kysely } from 'kysely';
import { transaction } from '../../storage/transaction.js';
import { AppError } from '../../errors/app-error.js';
import type { ChangeBus } from '../../lib/change-bus.js';
import { newId } from '../../lib/ids.js';
import type { Barrier } from '../../barrier/barrier.js';
import type { Database, Queryable } from '../../storage/schema.js';
import type { SecretRow, SecretStore } from '../../storage/secret-store.js';
import type { Authorizer } from '../../services/authorizer.js';
import type { Identity } from '../../auth/identity.types.js';
import { validateSecretName } from './secret-rules.js';
import type { ReplicaStatus, SecretRef } from './secrets-service.js';

export const REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d$/;


export interface ReplicatorDeps {
  secretStore: SecretStore;
  barrier: Pick<Barrier, 'encryptValue' | 'decryptValue'>;
  now: () => number;
}

/**
 * Keeps read-only replicas (same name, other region, `primary_region` set) identical to their
 * primary. Called inside the primary's write transaction, so a replica never lags a commit.
 * Values are re-encrypted per replica row: the AAD binds each ciphertext to its own secret id.
 */
export function createReplicator({ secretStore: store, barrier, now }: ReplicatorDeps) {
  async function copyInto(tx: Queryable, primary: SecretRow, replica: SecretRow): Promise<void> {
    const [source, target] = await Promise.all([store.versionRows(tx, primary.id), store.listVersions(tx, replica.id)]);
    const have = new Set(target.map((v) => v.version_id));
    const want = new Set(source.map((v) => v.version_id));
    for (const version of source) {
      if (have.has(version.version_id)) continue;
      const plain = await barrier.decryptValue(primary.id, version.version_id, { wrappedKey: version.wrapped_key, ciphertext: version.ciphertext }, { remember: false });
      const encrypted = barrier.encryptValue(replica.id, version.version_id, plain);
      plain.fill(0);
      await store.insertVersion(tx, {
        secret_id: replica.id, version_id: version.version_id, created_at: version.created_at, value_kind: version.value_kind,
        key_term: encrypted.keyTerm, wrapped_key: encrypted.wrappedKey, ciphertext: encrypted.ciphertext, last_accessed_at: null,
      });
    }
    await store.deleteVersions(tx, replica.id, target.map((v) => v.version_id).filter((id) => !want.has(id)));
    await store.clearLabels(tx, replica.id);
    for (const label of await store.labels(tx, primary.id)) await store.setLabel(tx, replica.id, label.label, label.version_id);
    await store.clearTags(tx, replica.id);
    const tags = (await store.tags(tx, [primary.id])).get(primary.id);
    if (tags) await store.putTags(tx, replica.id, tags);
    await store.update(tx, replica.id, {
      description: primary.description, owner: primary.owner, updated_at: now(), rotation: primary.rotation, last_rotated_at: primary.last_rotated_at,
    });
  }

  return {
    /** Mirrors the primary's versions, labels, tags and description onto each of its replicas. */
    async sync(tx: Queryable, primaryId: string): Promise<void> {
      const primary = await store.findById(tx, primaryId);
      if (!primary || primary.primary_region !== null) return;
      for (const replica of await store.findReplicas(tx, primary.region, primary.name)) await copyInto(tx, primary, replica);
    },

    copyInto,

    async statusOf(q: Queryable, row: SecretRow): Promise<ReplicaStatus[]> {
      if (row.primary_region !== null) return [];
      return (await store.findReplicas(q, row.region, row.name)).map((r) => ({
        region: r.region, kmsKeyId: r.kms_key_id, status: 'InSync', statusMessage: 'Replication succeeded', lastAccessedAt: r.last_accessed_at,
      }));
    },
  };
}

export type Replicator = ReturnType<typeof createReplicator>;

export interface ReplicationServiceDeps {
  db: Kysely<Database>;
  secretStore: SecretStore;
  replicator: Replicator;
  authorizer: Authorizer;
  changes: ChangeBus;
  now: () => number;
  region: string;
}

/** ReplicateSecretToRegions, RemoveRegionsFromReplication and StopReplicationToReplica. */
export function createReplicationService(deps: ReplicationServiceDeps) {
  const { db, secretStore: store, replicator, authorizer, now } = deps;

  async function livePrimary(tx: Queryable, ref: SecretRef): Promise<SecretRow> {
    const row = await store.findByName(tx, ref.region ?? deps.region, ref.name, { forUpdate: true });
    if (!row) throw new AppError('secret_not_found', `secret "${ref.name}" not found`);
    if (row.deleted_at !== null) throw new AppError('secret_scheduled_for_deletion', `secret "${ref.name}" is scheduled for deletion; restore it first`);
    if (row.primary_region !== null) {
      throw new AppError('invalid_request', `secret "${ref.name}" is a replica; manage replication from its primary in ${row.primary_region}`, { details: { primary_region: row.primary_region } });
    }
    return row;
  }

  return {
    /**
     * Creates read-only replicas in `regions`; an existing standalone secret there is replaced only
     * with `overwrite`. `exact` (an approved change request) refuses, writing nothing, when a region
     * already holds a replica or a secret that would not be replaced: the approvers reviewed new replicas.
     */
    async replicate(caller: Identity, ref: SecretRef, regions: { region: string; kmsKeyId?: string }[], overwrite = false, exact = false): Promise<{ arnRow: SecretRow; statuses: ReplicaStatus[] }> {
      validateSecretName(ref.name);
      await authorizer.require(caller, 'update', ref.name);
      if (regions.length === 0) throw new AppError('validation_failed', 'name at least one region');
      for (const r of regions) if (!REGION_PATTERN.test(r.region)) throw new AppError('validation_failed', `"${r.region.slice(0, 32)}" is not a region name`);
      const result = await transaction(db, caller.audit, async (tx) => {
        const primary = await livePrimary(tx, ref);
        const statuses: ReplicaStatus[] = [];
        for (const target of regions) {
          if (target.region === primary.region) throw new AppError('validation_failed', 'a secret cannot be replicated to its own region');
          const existing = await store.findByName(tx, target.region, primary.name, { forUpdate: true });
          if (exact && existing && (existing.primary_region === primary.region || !overwrite)) {
            const what = existing.primary_region === primary.region ? 'already holds a replica of it' : 'holds another secret of that name';
            throw new AppError('replication_conflict', `${target.region} ${what}`, { details: { region: target.region } });
          }
          if (existing && existing.primary_region === primary.region) {
            statuses.push({ region: target.region, kmsKeyId: existing.kms_key_id, status: 'InSync', statusMessage: 'Replication succeeded', lastAccessedAt: existing.last_accessed_at });
            continue;
          }
          if (existing && !overwrite) {
            statuses.push({ region: target.region, kmsKeyId: target.kmsKeyId ?? null, status: 'Failed', statusMessage: `Replication failed: a secret named ${primary.name} already exists in ${target.region}.`, lastAccessedAt: null });
            continue;
          }
          if (existing) await store.remove(tx, existing.id);
          const at = now();
          const replica: SecretRow = {
            ...primary, id: newId(), region: target.region, kms_key_id: target.kmsKeyId ?? null, created_at: at, updated_at: at,
            last_accessed_at: null, deleted_at: null, delete_after: null, primary_region: primary.region,
          };
          await store.insert(tx, replica);
          await replicator.copyInto(tx, primary, replica);
          statuses.push({ region: target.region, kmsKeyId: replica.kms_key_id, status: 'InSync', statusMessage: 'Replication succeeded', lastAccessedAt: null });
        }
        return { arnRow: primary, statuses };
      });
      deps.changes.publish('secret', result.arnRow.id);
      return result;
    },

    /** Deletes the replicas in `regions` (at once: a replica has no recovery window). */
    async removeRegions(caller: Identity, ref: SecretRef, regions: string[]): Promise<{ arnRow: SecretRow; statuses: ReplicaStatus[] }> {
      validateSecretName(ref.name);
      await authorizer.require(caller, 'update', ref.name);
      const result = await transaction(db, caller.audit, async (tx) => {
        const primary = await livePrimary(tx, ref);
        for (const region of regions) {
          const replica = await store.findByName(tx, region, primary.name, { forUpdate: true });
          if (!replica || replica.primary_region !== primary.region) throw new AppError('secret_not_found', `secret "${primary.name}" has no replica in ${region.slice(0, 32)}`);
          await store.remove(tx, replica.id);
        }
        return { arnRow: primary, statuses: await replicator.statusOf(tx, primary) };
      });
      deps.changes.publish('secret', result.arnRow.id);
      return result;
    },

    /** Promotes the replica `ref` (in its own region) to a standalone primary. */
    async promote(caller: Identity, ref: SecretRef): Promise<SecretRow> {
      validateSecretName(ref.name);
      await authorizer.require(caller, 'update', ref.name);
      const row = await transaction(db, caller.audit, async (tx) => {
        const row = await store.findByName(tx, ref.region ?? deps.region, ref.name, { forUpdate: true });
        if (!row) throw new AppError('secret_not_found', `secret "${ref.name}" not found`);
        if (row.primary_region === null) throw new AppError('invalid_request', `secret "${ref.name}" is not a replica`);
        await store.update(tx, row.id, { primary_region: null, updated_at: now() });
        return (await store.findById(tx, row.id))!;
      });
      deps.changes.publish('secret', row.id);
      return row;
    },
  };
}

export type ReplicationService = ReturnType<typeof createReplicationService>;

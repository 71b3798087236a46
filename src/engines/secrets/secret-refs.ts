/**
 * Helpers every part of the secrets engine shares: turning a name or an AWS SecretId (name,
 * full or partial ARN) into a live row, the ARN and metadata of a row, opening a stored
 * version through the barrier, and the replication hooks a write runs inside its transaction.
 */
import { AppError } from '../../errors/app-error.js';
import type { Queryable } from '../../storage/schema.js';
import type { SecretRow } from '../../storage/secret-store.js';
import type { SecretValue } from './secret-rules.js';
import type { ReplicaStatus, SecretMetadata, SecretRef, SecretsServiceDeps, VersionInfo } from './secrets.types.js';

export const DAY_MS = 86_400_000;

export function createSecretRefs(deps: SecretsServiceDeps) {
  const { db, secretStore: store, barrier } = deps;

  const arnOf = (row: Pick<SecretRow, 'region' | 'name' | 'arn_suffix'>) =>
    `arn:aws:secretsmanager:${row.region}:${deps.accountId}:secret:${row.name}-${row.arn_suffix}`;

  function toMetadata(row: SecretRow, tags: Record<string, string>): SecretMetadata {
    return {
      id: row.id, name: row.name, region: row.region, arn: arnOf(row), description: row.description, owner: row.owner,
      kmsKeyId: row.kms_key_id, tags, createdAt: row.created_at, updatedAt: row.updated_at, lastAccessedAt: row.last_accessed_at,
      lastRotatedAt: row.last_rotated_at, deletedAt: row.deleted_at, deleteAfter: row.delete_after,
      rotation: row.rotation ? (JSON.parse(row.rotation) as Record<string, unknown>) : null, primaryRegion: row.primary_region,
    };
  }

  async function findLive(q: Queryable, ref: SecretRef, options: { forUpdate?: boolean; allowDeleted?: boolean } = {}): Promise<SecretRow> {
    const row = await store.findByName(q, ref.region ?? deps.region, ref.name, options);
    if (!row) throw new AppError('secret_not_found', `secret "${ref.name}" not found`);
    if (row.deleted_at !== null && !options.allowDeleted) {
      throw new AppError('secret_scheduled_for_deletion', `secret "${ref.name}" is scheduled for deletion; restore it first`);
    }
    return row;
  }

  function refuseReplicaWrite(row: SecretRow): void {
    if (row.primary_region !== null) throw new AppError('invalid_request', `secret "${row.name}" is a read-only replica of ${row.primary_region}`, { details: { primary_region: row.primary_region } });
  }

  async function decrypt(secretId: string, versionId: string, stored: { wrapped_key: Buffer; ciphertext: Buffer; value_kind: string }): Promise<SecretValue> {
    const bytes = await barrier.decryptValue(secretId, versionId, { wrappedKey: stored.wrapped_key, ciphertext: stored.ciphertext });
    return stored.value_kind === 'binary' ? { kind: 'binary', bytes } : { kind: 'string', text: bytes.toString('utf8') };
  }

  function sameValue(a: SecretValue, b: SecretValue): boolean {
    if (a.kind !== b.kind) return false;
    return a.kind === 'string' ? a.text === (b as { text: string }).text : a.bytes.equals((b as { bytes: Buffer }).bytes);
  }

  async function versionsOf(q: Queryable, secretId: string): Promise<VersionInfo[]> {
    const [versions, labels] = await Promise.all([store.listVersions(q, secretId), store.labels(q, secretId)]);
    return versions.map((v) => ({
      versionId: v.version_id,
      createdAt: v.created_at,
      lastAccessedAt: v.last_accessed_at,
      labels: labels.filter((l) => l.version_id === v.version_id).map((l) => l.label),
    }));
  }

  async function syncReplicas(tx: Queryable, primaryId: string): Promise<void> {
    if (deps.replicator) await deps.replicator.sync(tx, primaryId);
  }

  const replicationOf = (q: Queryable, row: SecretRow): Promise<ReplicaStatus[]> => (deps.replicator ? deps.replicator.statusOf(q, row) : Promise.resolve([]));

  /**
   * Resolves an AWS SecretId (a name, a full ARN, or a partial ARN without the 6-character
   * suffix) to a reference; an ARN's region wins over `region`.
   */
  async function resolveSecretId(secretId: string, region: string = deps.region): Promise<SecretRef> {
    if (!secretId.startsWith('arn:')) return { name: secretId, region };
    const arn = /^arn:aws:secretsmanager:([a-z0-9-]+):(\d{12}):secret:(.+)$/.exec(secretId);
    if (!arn) return { name: secretId, region };
    const [, arnRegion, account, tail] = arn as unknown as [string, string, string, string];
    if (account !== deps.accountId) throw new AppError('secret_not_found', 'the ARN names another account');
    const full = /^(.+)-([A-Za-z0-9]{6})$/.exec(tail);
    if (full) {
      const row = await store.findByName(db, arnRegion, full[1]!);
      if (row && row.arn_suffix === full[2]) return { name: row.name, region: arnRegion };
    }
    return { name: tail, region: arnRegion };
  }

  return { arnOf, toMetadata, findLive, refuseReplicaWrite, decrypt, sameValue, versionsOf, syncReplicas, replicationOf, resolveSecretId };
}

export type SecretRefs = ReturnType<typeof createSecretRefs>;

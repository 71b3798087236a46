/**
 * Versions and staging labels: writing a new version (idempotent by version id), placing and
 * moving labels with AWS's CURRENT/PREVIOUS rules, and pruning old unlabelled versions.
 */
import type { TransactionAuditor } from '../../lib/audit-scope.js';
import { AppError } from '../../errors/app-error.js';
import { newId } from '../../lib/ids.js';
import type { Identity } from '../../auth/identity.types.js';
import type { Queryable } from '../../storage/schema.js';
import type { LabelRow, SecretRow } from '../../storage/secret-store.js';
import { transaction } from '../../storage/transaction.js';
import {
  LABEL_CURRENT, LABEL_PREVIOUS, MAX_VERSIONS_KEPT, VERSION_MIN_AGE_MS, validateLabel, validateLabels, validateSecretName, validateValue, validateVersionId,
} from './secret-rules.js';
import type { SecretRefs } from './secret-refs.js';
import type { PutValueInput, SecretRef, SecretsServiceDeps } from './secrets.types.js';

export function createVersions(deps: SecretsServiceDeps, refs: SecretRefs) {
  const { db, secretStore: store, barrier, authorizer, now } = deps;
  const { arnOf, findLive, refuseReplicaWrite, decrypt, sameValue, syncReplicas } = refs;

  /**
   * Places labels on a new or existing version. A label lives on one version only; moving
   * CURRENT demotes the version that had it to PREVIOUS.
   */
  async function attachLabels(tx: Queryable, secretId: string, versionId: string, labels: string[], existing: LabelRow[]): Promise<void> {
    const holder = new Map(existing.map((l) => [l.label, l.version_id]));
    if (labels.includes(LABEL_CURRENT)) {
      const previous = holder.get(LABEL_CURRENT);
      if (previous !== undefined && previous !== versionId) await store.setLabel(tx, secretId, LABEL_PREVIOUS, previous);
    }
    for (const label of labels) await store.setLabel(tx, secretId, label, versionId);
  }

  /**
   * Keeps the newest MAX_VERSIONS_KEPT versions, every labelled one, and (as AWS does) every
   * version created in the last 24 hours: a job that noted a VersionId a moment ago can still
   * read it however many writes came since.
   */
  async function pruneVersions(tx: Queryable, secretId: string): Promise<void> {
    const versions = await store.listVersions(tx, secretId);
    if (versions.length <= MAX_VERSIONS_KEPT) return;
    const labelled = new Set((await store.labels(tx, secretId)).map((l) => l.version_id));
    const youngestPrunable = now() - VERSION_MIN_AGE_MS;
    const stale = versions.slice(MAX_VERSIONS_KEPT).filter((v) => !labelled.has(v.version_id) && v.created_at < youngestPrunable).map((v) => v.version_id);
    await store.deleteVersions(tx, secretId, stale);
  }

  /** Writes one new version inside `tx`; returns the existing one for an idempotent retry. */
  async function writeVersion(tx: Queryable, row: SecretRow, input: PutValueInput, auditor?: TransactionAuditor): Promise<{ versionId: string; labels: string[]; created: boolean }> {
    const bytes = validateValue(input.value);
    const versionId = input.versionId ?? newId();
    const existing = await store.findVersion(tx, row.id, versionId);
    const labelsNow = await store.labels(tx, row.id);
    if (existing) {
      const stored = await decrypt(row.id, versionId, existing);
      if (!sameValue(stored, input.value)) {
        throw new AppError('idempotency_conflict', `version ${versionId} already exists with a different value`);
      }
      const labels = labelsNow.filter((l) => l.version_id === versionId).map((l) => l.label);
      auditor?.annotate({ versionId, detail: { labels: labels.join(','), created: false } });
      return { versionId, labels, created: false };
    }
    const labels = [...(input.labels ?? [LABEL_CURRENT])];
    // The first version of a secret is always CURRENT, whatever else it is labelled.
    if (!labelsNow.some((l) => l.label === LABEL_CURRENT) && !labels.includes(LABEL_CURRENT)) labels.push(LABEL_CURRENT);
    auditor?.annotate({ versionId, detail: { labels: labels.join(','), created: true } });
    const encrypted = barrier.encryptValue(row.id, versionId, bytes);
    const at = now();
    await store.insertVersion(tx, {
      secret_id: row.id, version_id: versionId, created_at: at, value_kind: input.value.kind, key_term: encrypted.keyTerm,
      wrapped_key: encrypted.wrappedKey, ciphertext: encrypted.ciphertext, last_accessed_at: null,
    });
    await attachLabels(tx, row.id, versionId, labels, labelsNow);
    await store.update(tx, row.id, { updated_at: at });
    await pruneVersions(tx, row.id);
    return { versionId, labels, created: true };
  }

  function checkWriteInput(input: PutValueInput): void {
    if (input.versionId !== undefined) validateVersionId(input.versionId);
    if (input.labels !== undefined) validateLabels(input.labels);
  }

  /** Writes that place labels other than the default CURRENT need the `stage` capability too. */
  async function requireWrite(caller: Identity, name: string, labels: string[] | undefined): Promise<void> {
    await authorizer.require(caller, 'update', name);
    if (labels !== undefined && !(labels.length === 1 && labels[0] === LABEL_CURRENT)) await authorizer.require(caller, 'stage', name);
  }

  /** Adds a version. Labels default to CURRENT; a retry with the same version id and value is a no-op. */
  async function putValue(caller: Identity, ref: SecretRef, input: PutValueInput): Promise<{ arn: string; name: string; versionId: string; labels: string[]; created: boolean }> {
    validateSecretName(ref.name);
    await requireWrite(caller, ref.name, input.labels);
    checkWriteInput(input);
    const result = await transaction(db, caller.audit, async (tx) => {
      const row = await findLive(tx, ref, { forUpdate: true });
      refuseReplicaWrite(row);
      const written = await writeVersion(tx, row, input, caller.audit);
      if (written.created) await syncReplicas(tx, row.id);
      return { row, ...written };
    });
    await deps.changes.publish('secret', result.row.id, { name: result.row.name, region: result.row.region, kind: 'written', versionId: result.versionId });
    return { arn: arnOf(result.row), name: result.row.name, versionId: result.versionId, labels: result.labels, created: result.created };
  }

  /**
   * Moves (or removes) a staging label with UpdateSecretVersionStage's rules: moving a label
   * off another version requires naming that version in `removeFromVersionId`.
   */
  async function moveLabel(caller: Identity, ref: SecretRef, input: { label: string; moveToVersionId?: string; removeFromVersionId?: string }): Promise<{ arn: string; name: string }> {
    validateSecretName(ref.name);
    validateLabel(input.label);
    await authorizer.require(caller, 'stage', ref.name);
    if (!input.moveToVersionId && !input.removeFromVersionId) throw new AppError('validation_failed', 'give move_to_version_id, remove_from_version_id, or both');
    const row = await transaction(db, caller.audit, async (tx) => {
      const row = await findLive(tx, ref, { forUpdate: true });
      refuseReplicaWrite(row);
      const labels = await store.labels(tx, row.id);
      const holder = labels.find((l) => l.label === input.label)?.version_id;
      if (input.removeFromVersionId !== undefined && holder !== input.removeFromVersionId) {
        throw new AppError('label_conflict', `label ${input.label} is not attached to version ${input.removeFromVersionId}`, { details: { label: input.label, version_id: input.removeFromVersionId } });
      }
      if (input.moveToVersionId !== undefined) {
        if (!(await store.findVersion(tx, row.id, input.moveToVersionId))) {
          throw new AppError('version_not_found', `secret "${ref.name}" has no version ${input.moveToVersionId}`, { details: { version_id: input.moveToVersionId } });
        }
        if (holder !== undefined && holder !== input.moveToVersionId && input.removeFromVersionId !== holder) {
          throw new AppError('label_conflict', `label ${input.label} is attached to version ${holder}; name it as remove_from_version_id to move it`, { details: { label: input.label, attached_to: holder } });
        }
        if (holder !== input.moveToVersionId) await attachLabels(tx, row.id, input.moveToVersionId, [input.label], labels);
      } else {
        if (input.label === LABEL_CURRENT) throw new AppError('label_conflict', 'CURRENT can be moved to another version but not removed', { details: { label: input.label } });
        await store.removeLabel(tx, row.id, input.label);
      }
      await store.update(tx, row.id, { updated_at: now() });
      await pruneVersions(tx, row.id);
      await syncReplicas(tx, row.id);
      return row;
    });
    // CURRENT moving to another version is what every rotation's last step does: the value changed.
    const kind = input.label === LABEL_CURRENT && input.moveToVersionId !== undefined ? 'rotated' : 'label_moved';
    await deps.changes.publish('secret', row.id, { name: row.name, region: row.region, kind, versionId: input.moveToVersionId ?? input.removeFromVersionId ?? null });
    return { arn: arnOf(row), name: row.name };
  }

  return { writeVersion, checkWriteInput, requireWrite, putValue, moveLabel };
}

export type Versions = ReturnType<typeof createVersions>;

import { randomInt } from 'node:crypto';
import { transaction } from '../storage/transaction.js';
import type { TransactionAuditor } from '../lib/audit-scope.js';
import type { Kysely } from 'kysely';
import { AppError } from '../errors/app-error.js';
import type { ChangeBus } from '../lib/change-bus.js';
import { newId } from '../lib/ids.js';
import type { Barrier } from '../barrier/barrier.js';
import type { Database, Queryable } from '../storage/schema.js';
import type { LabelledVersionRow, LabelRow, SecretRow, SecretStore } from '../storage/secret-store.js';
import type { Authorizer } from './authorizer.js';
import type { Identity } from './identity.types.js';
import { compareBy, matchesFilters, pageOffset, pageToken, validateFilters, type SecretFilter, type SortBy } from './secret-search.js';

/** ListSecrets-style filters (AWS's matching rules): see secret-search.ts. */
export type { SecretFilter };
import {
  LABEL_CURRENT, LABEL_PREVIOUS, MAX_VERSIONS_KEPT, VERSION_MIN_AGE_MS, validateLabel, validateLabels, validateSecretName, validateTags,
  validateValue, validateVersionId, type SecretValue,
} from './secret-rules.js';

export interface SecretRef {
  name: string;
  /** Defaults to the server's configured region. */
  region?: string;
}

export interface VersionInfo {
  versionId: string;
  createdAt: number;
  labels: string[];
  lastAccessedAt: number | null;
}

export interface SecretMetadata {
  id: string;
  name: string;
  region: string;
  arn: string;
  description: string | null;
  owner: string | null;
  kmsKeyId: string | null;
  tags: Record<string, string>;
  createdAt: number;
  updatedAt: number;
  lastAccessedAt: number | null;
  lastRotatedAt: number | null;
  /** When the secret was scheduled for deletion, and when it will be purged. */
  deletedAt: number | null;
  deleteAfter: number | null;
  rotation: Record<string, unknown> | null;
  primaryRegion: string | null;
}

export interface SecretVersionValue {
  name: string;
  arn: string;
  region: string;
  versionId: string;
  labels: string[];
  createdAt: number;
  value: SecretValue;
}

export interface CreateSecretInput extends SecretRef {
  description?: string;
  owner?: string;
  kmsKeyId?: string;
  tags?: Record<string, string>;
  value?: SecretValue;
  /** Idempotency token; becomes the first version's id. */
  versionId?: string;
  labels?: string[];
}

export interface PutValueInput {
  value: SecretValue;
  labels?: string[];
  versionId?: string;
}

export interface ListSecretsInput {
  region?: string;
  prefix?: string;
  includeDeleted?: boolean;
  limit?: number;
  /** Opaque cursor from a previous page. */
  cursor?: string;
}

/** A read-only replica of a primary secret, as DescribeSecret's ReplicationStatus reports it. */
export interface ReplicaStatus {
  region: string;
  kmsKeyId: string | null;
  status: 'InSync' | 'Failed' | 'InProgress';
  statusMessage: string;
  lastAccessedAt: number | null;
}

const sortableOf = (row: SecretRow) => ({ name: row.name, createdAt: row.created_at, updatedAt: row.updated_at, lastAccessedAt: row.last_accessed_at });

export interface SearchSecretsInput {
  region?: string;
  filters?: SecretFilter[];
  sortOrder?: 'asc' | 'desc';
  /** Default created-date. */
  sortBy?: SortBy;
  includePlannedDeletion?: boolean;
  maxResults?: number;
  /** Opaque token from a previous page. */
  nextToken?: string;
}

export interface SecretsServiceDeps {
  db: Kysely<Database>;
  secretStore: SecretStore;
  barrier: Pick<Barrier, 'encryptValue' | 'decryptValue'>;
  authorizer: Authorizer;
  changes: ChangeBus;
  now: () => number;
  region: string;
  accountId: string;
  /**
   * Cache label lookups (ciphertext rows, never plaintext) in memory, cleared on every secret
   * change this process publishes. Only safe when this process is the only writer (SQLite);
   * with several nodes a write elsewhere would not be seen at once, so it stays off there.
   */
  readCache?: boolean;
  /** Keeps read-only replicas in step with their primary inside each write transaction. */
  replicator?: {
    sync(tx: Queryable, primaryId: string): Promise<void>;
    statusOf(q: Queryable, row: SecretRow): Promise<ReplicaStatus[]>;
  };
}

const DAY_MS = 86_400_000;

/** Thrown inside a create's transaction when another create inserted the same name first. */
class CreateRaceLost extends Error {}
const ARN_SUFFIX_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** The secrets engine: versioned values with AWS Secrets Manager staging-label semantics. */
export function createSecretsService(deps: SecretsServiceDeps) {
  const { db, secretStore: store, barrier, authorizer, now } = deps;
  type CachedRead = { row: LabelledVersionRow; labels: string[] };
  const readCache = deps.readCache ? new Map<string, CachedRead>() : null;
  // Bumped on every change, so a read that raced a write cannot re-insert what it read before.
  let generation = 0;
  const accessedDay = new Map<string, number>();
  deps.changes.subscribe((topic) => {
    if (topic !== 'secret') return;
    generation += 1;
    readCache?.clear();
  });

  async function readLabelled(region: string, name: string, label: string): Promise<CachedRead | undefined> {
    const key = `${region}\u0000${name}\u0000${label}`;
    const cached = readCache?.get(key);
    if (cached) return cached;
    const startGeneration = generation;
    const row = await store.readByLabel(db, region, name, label);
    if (!row) return undefined;
    const labels = (await store.labels(db, row.id)).filter((l) => l.version_id === row.version_id).map((l) => l.label);
    const entry = { row, labels };
    if (readCache && generation === startGeneration) {
      if (readCache.size >= 10_000) readCache.clear();
      readCache.set(key, entry);
    }
    return entry;
  }

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

  function recordAccess(row: SecretRow): void {
    const day = Math.floor(now() / DAY_MS) * DAY_MS;
    if (row.last_accessed_at === day || accessedDay.get(row.id) === day) return;
    accessedDay.set(row.id, day);
    // Day granularity (as AWS reports it) means at most one write per secret per day;
    // it is not awaited so it never slows the read it was triggered by.
    store.touchAccessed(db, row.id, day).catch(() => accessedDay.delete(row.id));
  }

  return {
    arnOf,
    /** The region the native API works in; AWS calls name theirs in the credential scope. */
    defaultRegion: deps.region,

    async create(caller: Identity, input: CreateSecretInput): Promise<{ metadata: SecretMetadata; versionId: string | null; labels: string[] }> {
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
      deps.changes.publish('secret', result.row.id);
      const tags = (await store.tags(db, [result.row.id])).get(result.row.id) ?? {};
      return { metadata: toMetadata(result.row, tags), versionId: result.versionId, labels: result.labels };
    },

    /** Adds a version. Labels default to CURRENT; a retry with the same version id and value is a no-op. */
    async putValue(caller: Identity, ref: SecretRef, input: PutValueInput): Promise<{ arn: string; name: string; versionId: string; labels: string[]; created: boolean }> {
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
      deps.changes.publish('secret', result.row.id);
      return { arn: arnOf(result.row), name: result.row.name, versionId: result.versionId, labels: result.labels, created: result.created };
    },

    /**
     * Writes a version, first creating the secret (with `metadata`) when no secret has that name:
     * what `custos secret put` means. As one request it leaves one audit event, `secret.create`
     * or `secret.write`; a client that tried the write and fell back to a create left a failed
     * write in the audit log before every new secret. Creating needs `create` on top of what a
     * write needs, as any create with a value already does.
     */
    async putValueOrCreate(caller: Identity, ref: SecretRef, input: PutValueInput, metadata: Pick<CreateSecretInput, 'description' | 'owner' | 'tags'> = {}): Promise<{ arn: string; name: string; versionId: string; labels: string[]; created: boolean; secretCreated: boolean }> {
      validateSecretName(ref.name);
      // Checked before the name is looked up, so a caller who may not write learns nothing of it.
      await requireWrite(caller, ref.name, input.labels);
      const region = ref.region ?? deps.region;
      if (!(await store.findByName(db, region, ref.name))) {
        caller.audit?.annotate({ operation: 'secret.create' });
        try {
          const made = await this.create(caller, { ...metadata, name: ref.name, region, value: input.value, labels: input.labels, versionId: input.versionId });
          return { arn: made.metadata.arn, name: made.metadata.name, versionId: made.versionId!, labels: made.labels, created: true, secretCreated: true };
        } catch (error) {
          // Another writer created it since the lookup: write to theirs, as if it had been there.
          if (!(error instanceof AppError && error.code === 'secret_exists')) throw error;
          caller.audit?.annotate({ operation: 'secret.write' });
        }
      }
      return { ...(await this.putValue(caller, ref, input)), secretCreated: false };
    },

    /** Reads the version a label (default CURRENT) or a version id names. */
    async getValue(caller: Identity, ref: SecretRef, selector: { label?: string; versionId?: string } = {}): Promise<SecretVersionValue> {
      validateSecretName(ref.name);
      await authorizer.require(caller, 'read', ref.name);
      if (selector.label !== undefined) validateLabel(selector.label);
      const region = ref.region ?? deps.region;
      let row: SecretRow;
      let versionId: string;
      let stored: { wrapped_key: Buffer; ciphertext: Buffer; value_kind: string; created_at: number };
      let labels: string[];
      if (selector.versionId === undefined) {
        const label = selector.label ?? LABEL_CURRENT;
        const hit = await readLabelled(region, ref.name, label);
        if (!hit) {
          await findLive(db, ref);
          throw new AppError('version_not_found', `secret "${ref.name}" has no version labelled ${label}`, { details: { label } });
        }
        if (hit.row.deleted_at !== null) throw new AppError('secret_scheduled_for_deletion', `secret "${ref.name}" is scheduled for deletion; restore it first`);
        row = hit.row;
        versionId = hit.row.version_id;
        stored = { wrapped_key: hit.row.wrapped_key, ciphertext: hit.row.ciphertext, value_kind: hit.row.value_kind, created_at: hit.row.version_created_at };
        labels = hit.labels;
      } else {
        row = await findLive(db, ref);
        const version = await store.findVersion(db, row.id, selector.versionId);
        if (!version) throw new AppError('version_not_found', `secret "${ref.name}" has no version ${selector.versionId}`, { details: { version_id: selector.versionId } });
        versionId = version.version_id;
        stored = version;
        labels = (await store.labels(db, row.id)).filter((l) => l.version_id === versionId).map((l) => l.label);
        if (selector.label !== undefined && !labels.includes(selector.label)) {
          throw new AppError('version_not_found', `version ${versionId} is not labelled ${selector.label}`, { details: { version_id: versionId, label: selector.label } });
        }
      }
      const value = await decrypt(row.id, versionId, stored);
      recordAccess(row);
      return { name: row.name, arn: arnOf(row), region: row.region, versionId, labels, createdAt: stored.created_at, value };
    },

    async describe(caller: Identity, ref: SecretRef): Promise<SecretMetadata & { versions: VersionInfo[]; replication: ReplicaStatus[] }> {
      validateSecretName(ref.name);
      if (!(await authorizer.allows(caller, 'read', ref.name))) await authorizer.require(caller, 'list', ref.name);
      const row = await findLive(db, ref, { allowDeleted: true });
      const [tags, versions, replication] = await Promise.all([store.tags(db, [row.id]), versionsOf(db, row.id), replicationOf(db, row)]);
      return { ...toMetadata(row, tags.get(row.id) ?? {}), versions, replication };
    },

    async listVersions(caller: Identity, ref: SecretRef): Promise<{ metadata: SecretMetadata; versions: VersionInfo[] }> {
      const described = await this.describe(caller, ref);
      const { versions, replication: _replication, ...metadata } = described;
      return { metadata, versions };
    },

    /** Lists the secrets under a prefix that the caller may list; keyset-paginated by name. */
    async list(caller: Identity, input: ListSecretsInput = {}): Promise<{ secrets: SecretMetadata[]; nextCursor: string | null }> {
      const prefix = input.prefix ?? '';
      if (!(await authorizer.mayAccessUnder(caller, 'list', prefix))) {
        throw new AppError('permission_denied', `permission denied: no policy grants "list" under "${prefix || '/'}"`);
      }
      const limit = Math.min(Math.max(input.limit ?? 100, 1), 1000);
      const afterName = input.cursor ? Buffer.from(input.cursor, 'base64url').toString('utf8') : undefined;
      const rows = await store.list(db, { region: input.region ?? deps.region, prefix, includeDeleted: input.includeDeleted, afterName, limit });
      const visible: SecretRow[] = [];
      for (const row of rows) if (await authorizer.allows(caller, 'list', row.name)) visible.push(row);
      const tags = await store.tags(db, visible.map((r) => r.id));
      const nextCursor = rows.length === limit ? Buffer.from(rows[rows.length - 1]!.name).toString('base64url') : null;
      return { secrets: visible.map((r) => toMetadata(r, tags.get(r.id) ?? {})), nextCursor };
    },

    /**
     * Resolves an AWS SecretId (a name, a full ARN, or a partial ARN without the 6-character
     * suffix) to a reference; an ARN's region wins over `region`.
     */
    async resolveSecretId(secretId: string, region: string = deps.region): Promise<SecretRef> {
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
    },

    /** ListSecrets: every secret of a region the caller may list, filtered, sorted by creation and paged. */
    async search(caller: Identity, input: SearchSecretsInput = {}): Promise<{ secrets: (SecretMetadata & { replication: ReplicaStatus[]; labelsByVersion: Record<string, string[]> })[]; nextToken: string | null }> {
      if (!(await authorizer.mayAccessUnder(caller, 'list', ''))) throw new AppError('permission_denied', 'permission denied: no policy grants "list" on any secret');
      const maxResults = input.maxResults ?? 100;
      if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > 100) throw new AppError('validation_failed', 'MaxResults is 1 to 100');
      const offset = pageOffset(input.nextToken);
      const filters = input.filters ?? [];
      validateFilters(filters);
      const rows = await store.listRegion(db, input.region ?? deps.region, input.includePlannedDeletion ?? false);
      const tags = await store.tags(db, rows.map((r) => r.id));
      const matched: SecretRow[] = [];
      for (const row of rows) {
        const rowTags = tags.get(row.id) ?? {};
        const searchable = { name: row.name, description: row.description, tags: rowTags, primaryRegion: row.primary_region ?? row.region };
        if (!matchesFilters(searchable, filters)) continue;
        if (await authorizer.allows(caller, 'list', row.name)) matched.push(row);
      }
      if (input.sortBy !== undefined && input.sortBy !== 'created-date') {
        const compare = compareBy(input.sortBy);
        matched.sort((a, b) => compare(sortableOf(a), sortableOf(b)));
      }
      if (input.sortOrder === 'desc') matched.reverse();
      const page = matched.slice(offset, offset + maxResults);
      const secrets = await Promise.all(page.map(async (row) => {
        const labels = await store.labels(db, row.id);
        const labelsByVersion: Record<string, string[]> = {};
        for (const l of labels) (labelsByVersion[l.version_id] ??= []).push(l.label);
        return { ...toMetadata(row, tags.get(row.id) ?? {}), replication: await replicationOf(db, row), labelsByVersion };
      }));
      const nextToken = offset + maxResults < matched.length ? pageToken(offset + maxResults) : null;
      return { secrets, nextToken };
    },

    async updateMetadata(caller: Identity, ref: SecretRef, patch: { description?: string | null; owner?: string | null; kmsKeyId?: string | null }): Promise<SecretMetadata> {
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
      deps.changes.publish('secret', row.id);
      return toMetadata(row, (await store.tags(db, [row.id])).get(row.id) ?? {});
    },

    /**
     * Moves (or removes) a staging label with UpdateSecretVersionStage's rules: moving a label
     * off another version requires naming that version in `removeFromVersionId`.
     */
    async moveLabel(caller: Identity, ref: SecretRef, input: { label: string; moveToVersionId?: string; removeFromVersionId?: string }): Promise<{ arn: string; name: string }> {
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
      deps.changes.publish('secret', row.id);
      return { arn: arnOf(row), name: row.name };
    },

    /** Schedules deletion after a 7-30 day recovery window (default 30), or deletes at once with `force`. */
    async delete(caller: Identity, ref: SecretRef, options: { recoveryDays?: number; force?: boolean } = {}): Promise<{ arn: string; name: string; deletionDate: number }> {
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
      deps.changes.publish('secret', result.row.id);
      return { arn: arnOf(result.row), name: result.row.name, deletionDate: result.deletionDate };
    },

    async restore(caller: Identity, ref: SecretRef): Promise<{ arn: string; name: string }> {
      validateSecretName(ref.name);
      await authorizer.require(caller, 'delete', ref.name);
      const row = await transaction(db, caller.audit, async (tx) => {
        const row = await findLive(tx, ref, { forUpdate: true, allowDeleted: true });
        if (row.deleted_at === null) throw new AppError('secret_not_deleted', `secret "${ref.name}" is not scheduled for deletion`);
        await store.update(tx, row.id, { deleted_at: null, delete_after: null, updated_at: now() });
        return row;
      });
      deps.changes.publish('secret', row.id);
      return { arn: arnOf(row), name: row.name };
    },

    async tag(caller: Identity, ref: SecretRef, tags: Record<string, string>): Promise<void> {
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
    },

    async untag(caller: Identity, ref: SecretRef, keys: string[]): Promise<void> {
      validateSecretName(ref.name);
      await authorizer.require(caller, 'update', ref.name);
      await transaction(db, caller.audit, async (tx) => {
        const row = await findLive(tx, ref, { forUpdate: true, allowDeleted: true });
        refuseReplicaWrite(row);
        await store.removeTags(tx, row.id, keys);
        await syncReplicas(tx, row.id);
      });
    },

    /** Removes secrets whose recovery window has ended. Run by the scheduler on one node. */
    async purgeExpired(): Promise<number> {
      const expired = await store.listExpiredDeletions(db, now(), 500);
      for (const row of expired) {
        await transaction(db, undefined, (tx) => store.remove(tx, row.id));
        deps.changes.publish('secret', row.id);
      }
      return expired.length;
    },
  };
}

export type SecretsService = ReturnType<typeof createSecretsService>;

/**
 * The secrets engine's public shapes: what callers pass in and get back, and the narrow
 * dependencies the engine is built from. No behaviour lives here.
 */
import type { Kysely } from 'kysely';
import type { ChangeBus } from '../../lib/change-bus.js';
import type { Barrier } from '../../barrier/barrier.js';
import type { Database, Queryable } from '../../storage/schema.js';
import type { SecretRow, SecretStore } from '../../storage/secret-store.js';
import type { Authorizer } from '../../services/authorizer.js';
import type { PageCursors } from './page-cursor.js';
import type { SecretFilter, SortBy } from './secret-search.js';
import type { SecretValue } from './secret-rules.js';

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
  /** Seals paging positions into opaque cursors bound to the caller and the query. */
  cursors: PageCursors;
  now: () => number;
  region: string;
  accountId: string;
  /**
   * Cache label lookups (ciphertext rows, never plaintext) in memory, cleared on every secret
   * change published on the change bus. With one writer (SQLite) that is every change; with
   * several nodes another node's write arrives a few milliseconds after it committed, and
   * `readCacheMaxAgeMs` bounds a notification that never arrives.
   */
  readCache?: boolean;
  /** Label lookups the read cache keeps (default 10,000). */
  readCacheMaxEntries?: number;
  /**
   * With several nodes: the longest a cached label lookup is served. Another node's write
   * empties the cache through the change bus within milliseconds; this bounds how stale a read
   * can be if that notification is lost. Unset: entries live until a change empties them.
   */
  readCacheMaxAgeMs?: number;
  /**
   * Single-user rotations in flight (rotation/current-hold.ts): a caller's read of CURRENT of a
   * held secret waits until the rotation's `finish` (bounded). Returns null, synchronously, when
   * nothing is held, so the read path pays nothing otherwise.
   */
  currentHold?: { waitIfHeld(region: string, name: string): Promise<void> | null };
  /** Keeps read-only replicas in step with their primary inside each write transaction. */
  replicator?: {
    sync(tx: Queryable, primaryId: string): Promise<void>;
    statusOf(q: Queryable, row: SecretRow): Promise<ReplicaStatus[]>;
  };
}

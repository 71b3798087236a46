/**
 * Listings and paging: secrets under a prefix (native API), ListSecrets-style search with
 * filters and sorting (AWS API), and a secret's versions page by page. Every listing pages
 * behind sealed cursors (page-cursor.ts) and shows only names the caller may list.
 */
import { AppError } from '../../errors/app-error.js';
import type { Identity } from '../../auth/identity.types.js';
import type { SecretRow } from '../../storage/secret-store.js';
import type { Catalog } from './catalog.js';
import { compareBy, matchesFilters, validateFilters } from './secret-search.js';
import type { SecretRefs } from './secret-refs.js';
import type { ListSecretsInput, ReplicaStatus, SearchSecretsInput, SecretMetadata, SecretRef, SecretsServiceDeps, VersionInfo } from './secrets.types.js';

/** Rows one list page may scan past invisible names before it answers with what it has and a cursor. */
const LIST_SCAN_BUDGET = 5000;
const isNamePosition = (p: unknown): p is { after: string } => typeof p === 'object' && p !== null && typeof (p as { after?: unknown }).after === 'string';
const isVersionPosition = (p: unknown): p is { createdAt: number; versionId: string } =>
  typeof p === 'object' && p !== null && typeof (p as { createdAt?: unknown }).createdAt === 'number' && typeof (p as { versionId?: unknown }).versionId === 'string';
export const VERSIONS_PAGE_DEFAULT = 100;
export const VERSIONS_PAGE_MAX = 1000;
const isOffsetPosition = (p: unknown): p is { offset: number } =>
  typeof p === 'object' && p !== null && Number.isSafeInteger((p as { offset?: unknown }).offset) && (p as { offset: number }).offset >= 0;

const sortableOf = (row: SecretRow) => ({ name: row.name, createdAt: row.created_at, updatedAt: row.updated_at, lastAccessedAt: row.last_accessed_at });

export function createListing(deps: SecretsServiceDeps, refs: SecretRefs, catalog: Pick<Catalog, 'describe'>) {
  const { db, secretStore: store, authorizer } = deps;
  const { toMetadata, replicationOf } = refs;

  async function listVersions(caller: Identity, ref: SecretRef): Promise<{ metadata: SecretMetadata; versions: VersionInfo[] }> {
    const described = await catalog.describe(caller, ref);
    const { versions, replication: _replication, ...metadata } = described;
    return { metadata, versions };
  }

  /** One page of a secret's versions, newest first, behind the same sealed cursors as every listing. */
  async function listVersionsPage(caller: Identity, ref: SecretRef, input: { limit?: number; cursor?: string } = {}): Promise<{ metadata: SecretMetadata; versions: VersionInfo[]; nextCursor: string | null }> {
    const { metadata, versions } = await listVersions(caller, ref);
    const limit = Math.min(Math.max(input.limit ?? VERSIONS_PAGE_DEFAULT, 1), VERSIONS_PAGE_MAX);
    const binding = { caller: caller.accessor, listing: 'versions', query: { secret: metadata.id } };
    const after = await deps.cursors.open(binding, input.cursor, isVersionPosition);
    // Keyset, not offset: versions written or pruned between pages neither repeat nor vanish.
    const start = after === undefined ? 0 : versions.findIndex((v) => v.createdAt < after.createdAt || (v.createdAt === after.createdAt && v.versionId > after.versionId));
    const page = start < 0 ? [] : versions.slice(start, start + limit);
    const last = page[page.length - 1];
    const nextCursor = start >= 0 && start + limit < versions.length && last ? deps.cursors.seal(binding, { createdAt: last.createdAt, versionId: last.versionId }) : null;
    return { metadata, versions: page, nextCursor };
  }

  /**
   * Lists the secrets under a prefix that the caller may list; keyset-paginated by name. Names
   * the caller may not list are skipped (scanning on until the page is full or a scan budget
   * is spent), and the cursor is sealed, so neither a page nor its cursor reveals them.
   */
  async function list(caller: Identity, input: ListSecretsInput = {}): Promise<{ secrets: SecretMetadata[]; nextCursor: string | null }> {
    const prefix = input.prefix ?? '';
    if (!(await authorizer.mayAccessUnder(caller, 'list', prefix))) {
      throw new AppError('permission_denied', `permission denied: no policy grants "list" under "${prefix || '/'}"`);
    }
    const limit = Math.min(Math.max(input.limit ?? 100, 1), 1000);
    const region = input.region ?? deps.region;
    const binding = { caller: caller.accessor, listing: 'secrets', query: { region, prefix, includeDeleted: input.includeDeleted ?? false } };
    let afterName = await deps.cursors.open(binding, input.cursor, isNamePosition).then((p) => p?.after);
    const visible: SecretRow[] = [];
    let more = true;
    for (let scanned = 0; visible.length < limit && more && scanned < LIST_SCAN_BUDGET;) {
      const rows = await store.list(db, { region, prefix, includeDeleted: input.includeDeleted, afterName, limit });
      more = rows.length === limit;
      for (const [i, row] of rows.entries()) {
        scanned += 1;
        afterName = row.name;
        if (await authorizer.allows(caller, 'list', row.name)) visible.push(row);
        if (visible.length === limit) {
          more ||= i < rows.length - 1;
          break;
        }
      }
    }
    const tags = await store.tags(db, visible.map((r) => r.id));
    const nextCursor = more && afterName !== undefined ? deps.cursors.seal(binding, { after: afterName }) : null;
    return { secrets: visible.map((r) => toMetadata(r, tags.get(r.id) ?? {})), nextCursor };
  }

  /** ListSecrets: every secret of a region the caller may list, filtered, sorted by creation and paged. */
  async function search(caller: Identity, input: SearchSecretsInput = {}): Promise<{ secrets: (SecretMetadata & { replication: ReplicaStatus[]; labelsByVersion: Record<string, string[]> })[]; nextToken: string | null }> {
    if (!(await authorizer.mayAccessUnder(caller, 'list', ''))) throw new AppError('permission_denied', 'permission denied: no policy grants "list" on any secret');
    const maxResults = input.maxResults ?? 100;
    if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > 100) throw new AppError('validation_failed', 'MaxResults is 1 to 100');
    const filters = input.filters ?? [];
    validateFilters(filters);
    const region = input.region ?? deps.region;
    const binding = {
      caller: caller.accessor, listing: 'search',
      query: { region, filters, sortBy: input.sortBy ?? 'created-date', sortOrder: input.sortOrder ?? 'asc', includePlannedDeletion: input.includePlannedDeletion ?? false },
    };
    const offset = (await deps.cursors.open(binding, input.nextToken, isOffsetPosition))?.offset ?? 0;
    const rows = await store.listRegion(db, region, input.includePlannedDeletion ?? false);
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
    const nextToken = offset + maxResults < matched.length ? deps.cursors.seal(binding, { offset: offset + maxResults }) : null;
    return { secrets, nextToken };
  }

  return { listVersions, listVersionsPage, list, search };
}

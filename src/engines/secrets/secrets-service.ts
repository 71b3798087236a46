/**
 * The secrets engine: versioned values with AWS Secrets Manager staging-label semantics.
 *
 * `createSecretsService` is the one public factory; it composes the parts, each in its own
 * module: catalog.ts (create, describe, delete/restore, tags, purge), versions.ts (writing
 * versions, moving labels, pruning), read-path.ts (value reads and their cache),
 * access-tracking.ts (last-accessed days), listing.ts (listings, search and paging), with
 * secret-refs.ts holding what they share (ARN and name resolution, opening a version).
 */
import { createAccessTracking } from './access-tracking.js';
import { createCatalog } from './catalog.js';
import { createListing } from './listing.js';
import { createReadPath } from './read-path.js';
import { createSecretRefs } from './secret-refs.js';
import type { SecretsServiceDeps } from './secrets.types.js';
import { createVersions } from './versions.js';

export type {
  CreateSecretInput, ListSecretsInput, PutValueInput, ReplicaStatus, SearchSecretsInput, SecretMetadata, SecretRef, SecretsServiceDeps,
  SecretVersionValue, VersionInfo,
} from './secrets.types.js';
/** ListSecrets-style filters (AWS's matching rules): see secret-search.ts. */
export type { SecretFilter } from './secret-search.js';
export { VERSIONS_PAGE_DEFAULT, VERSIONS_PAGE_MAX } from './listing.js';

export function createSecretsService(deps: SecretsServiceDeps) {
  const refs = createSecretRefs(deps);
  const versions = createVersions(deps, refs);
  const catalog = createCatalog(deps, refs, versions);
  const readPath = createReadPath(deps, refs, createAccessTracking(deps));
  const listing = createListing(deps, refs, catalog);

  return {
    arnOf: refs.arnOf,
    /** The region the native API works in; AWS calls name theirs in the credential scope. */
    defaultRegion: deps.region,
    resolveSecretId: refs.resolveSecretId,
    create: catalog.create,
    putValue: versions.putValue,
    putValueOrCreate: catalog.putValueOrCreate,
    getValue: readPath.getValue,
    describe: catalog.describe,
    listVersions: listing.listVersions,
    listVersionsPage: listing.listVersionsPage,
    list: listing.list,
    search: listing.search,
    updateMetadata: catalog.updateMetadata,
    moveLabel: versions.moveLabel,
    delete: catalog.delete,
    restore: catalog.restore,
    tag: catalog.tag,
    untag: catalog.untag,
    purgeExpired: catalog.purgeExpired,
  };
}

export type SecretsService = ReturnType<typeof createSecretsService>;

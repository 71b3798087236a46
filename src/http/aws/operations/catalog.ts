import { SORT_BY, pageOffset, pageToken, type SortBy } from '../../../engines/secrets/secret-search.js';
import { bad, bool, filtersOf, int, str, strList, tagsOf } from '../aws-input.js';
import type { OperationContext, Operations } from '../aws-operations.js';
import { epochSeconds, labelToAws } from '../aws-protocol.js';
import { metadataJson, stagesOf } from '../aws-shapes.js';

/**
 * Metadata: DescribeSecret, ListSecrets (filters and sorting as AWS documents them, matched by
 * the secrets service), ListSecretVersionIds, and tags (TagResource / UntagResource).
 */
export function catalogOperations({ secrets, resolve, holdIfNeeded }: OperationContext): Operations {
  return {
    async DescribeSecret(call, input) {
      const ref = await resolve(call, input);
      const d = await secrets.describe(call.identity, ref);
      return metadataJson(d, stagesOf(d.versions), d.replication, 'VersionIdsToStages');
    },

    async ListSecrets(call, input) {
      const sortOrder = str(input, 'SortOrder');
      if (sortOrder !== undefined && sortOrder !== 'asc' && sortOrder !== 'desc') bad('SortOrder is asc or desc');
      const sortBy = str(input, 'SortBy');
      if (sortBy !== undefined && !SORT_BY.includes(sortBy as SortBy)) bad(`SortBy is one of ${SORT_BY.join(', ')}`);
      const page = await secrets.search(call.identity, {
        region: call.region, filters: filtersOf(input), sortOrder, sortBy: sortBy as SortBy | undefined, includePlannedDeletion: bool(input, 'IncludePlannedDeletion'),
        maxResults: int(input, 'MaxResults'), nextToken: str(input, 'NextToken'),
      });
      call.detail({ returned: page.secrets.length });
      return {
        SecretList: page.secrets.map((s) => metadataJson(s, s.labelsByVersion, s.replication, 'SecretVersionsToStages')),
        ...(page.nextToken ? { NextToken: page.nextToken } : {}),
      };
    },

    async ListSecretVersionIds(call, input) {
      const ref = await resolve(call, input);
      const maxResults = int(input, 'MaxResults') ?? 100;
      if (maxResults < 1 || maxResults > 100) bad('MaxResults is 1 to 100');
      const { metadata, versions } = await secrets.listVersions(call.identity, ref);
      const shown = bool(input, 'IncludeDeprecated') ? versions : versions.filter((v) => v.labels.length > 0);
      const offset = pageOffset(str(input, 'NextToken'));
      const page = shown.slice(offset, offset + maxResults);
      return {
        ARN: metadata.arn, Name: metadata.name,
        Versions: page.map((v) => ({
          VersionId: v.versionId, VersionStages: v.labels.map(labelToAws), CreatedDate: epochSeconds(v.createdAt),
          ...(v.lastAccessedAt !== null ? { LastAccessedDate: epochSeconds(v.lastAccessedAt) } : {}),
          ...(metadata.kmsKeyId ? { KmsKeyIds: [metadata.kmsKeyId] } : {}),
        })),
        ...(offset + maxResults < shown.length ? { NextToken: pageToken(offset + maxResults) } : {}),
      };
    },

    async TagResource(call, input) {
      const ref = await resolve(call, input);
      const tags = tagsOf(input);
      if (!tags) bad('Tags is required');
      await holdIfNeeded(call, { kind: 'secret.tag', name: ref.name, region: ref.region, tags });
      await secrets.tag(call.identity, ref, tags);
      return {};
    },

    async UntagResource(call, input) {
      const ref = await resolve(call, input);
      const keys = strList(input, 'TagKeys');
      if (!keys) bad('TagKeys is required');
      // AWS reserves the aws: prefix: such tags cannot be edited or deleted by callers.
      if (keys.some((k) => k.toLowerCase().startsWith('aws:'))) bad('Tag keys with the aws: prefix are reserved for AWS use and cannot be removed.');
      await holdIfNeeded(call, { kind: 'secret.untag', name: ref.name, region: ref.region, keys });
      await secrets.untag(call.identity, ref, keys);
      return {};
    },
  };
}

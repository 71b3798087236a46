import { AppError } from '../../../errors/app-error.js';
import { awsErrorOf } from '../aws-errors.js';
import { bad, filtersOf, int, str, strList } from '../aws-input.js';
import type { OperationContext, Operations } from '../aws-operations.js';

/**
 * Reading values: GetSecretValue (the hot path: one resolve, one service read) and
 * BatchGetSecretValue (each secret authorized, audited and failing on its own).
 */
export function readOperations({ secrets, resolve, readValue }: OperationContext): Operations {
  return {
    async GetSecretValue(call, input) {
      const ref = await resolve(call, input);
      const result = await readValue(call, ref, str(input, 'VersionId'), str(input, 'VersionStage'));
      call.target(ref.name, result.VersionId);
      return result;
    },

    async BatchGetSecretValue(call, input) {
      const ids = strList(input, 'SecretIdList');
      const filters = filtersOf(input);
      if ((ids === undefined) === (filters === undefined)) bad('Either SecretIdList or Filters must be provided, not both');
      const values: Record<string, unknown>[] = [];
      const errors: Record<string, unknown>[] = [];
      let nextToken: string | null = null;
      const fetchOne = async (secretId: string) => {
        try {
          const value = await readValue(call, await secrets.resolveSecretId(secretId, call.region));
          values.push(value);
          call.item(value.Name, value.VersionId, null, 200);
        } catch (error) {
          // Whole-request failures (server state, bugs) fail the request, not one secret.
          if (!(error instanceof AppError) || awsErrorOf(error).status >= 500) throw error;
          call.item(secretId.slice(0, 512), null, error.code, error.status);
          const aws = awsErrorOf(error);
          errors.push({ SecretId: secretId, ErrorCode: aws.type, Message: aws.message });
        }
      };
      if (ids) {
        if (ids.length === 0 || ids.length > 20) bad('SecretIdList holds 1 to 20 ids');
        if (int(input, 'MaxResults') !== undefined) bad('MaxResults can only be used with Filters');
        for (const id of ids) await fetchOne(id);
      } else {
        const maxResults = int(input, 'MaxResults') ?? 20;
        if (maxResults < 1 || maxResults > 20) bad('MaxResults is 1 to 20');
        const page = await secrets.search(call.identity, { region: call.region, filters, maxResults, nextToken: str(input, 'NextToken') });
        for (const secret of page.secrets) await fetchOne(secret.arn);
        nextToken = page.nextToken;
      }
      call.detail({ returned: values.length, failed: errors.length, secrets: values.map((v) => String(v.Name)).join(',').slice(0, 1000) });
      return { SecretValues: values, Errors: errors, ...(nextToken ? { NextToken: nextToken } : {}) };
    },
  };
}

import { bool, str } from '../aws-input.js';
import type { OperationContext, Operations } from '../aws-operations.js';

/**
 * Resource policies: Put/Get/DeleteResourcePolicy store and return the JSON document attached to
 * a secret (a replica answers with its primary's); ValidateResourcePolicy checks one without
 * storing it. The authorizer evaluates stored policies on every call (engines/secrets/resource-policy-service.ts).
 */
export function resourcePolicyOperations({ resourcePolicies, resolve, holdIfNeeded }: OperationContext): Operations {
  return {
    async GetResourcePolicy(call, input) {
      const ref = await resolve(call, input);
      const found = await resourcePolicies.get(call.identity, ref);
      return { ARN: found.arn, Name: found.name, ...(found.document !== null ? { ResourcePolicy: found.document } : {}) };
    },

    async PutResourcePolicy(call, input) {
      const ref = await resolve(call, input);
      const document = str(input, 'ResourcePolicy', true);
      const blockPublic = bool(input, 'BlockPublicPolicy') ?? false;
      await holdIfNeeded(call, { kind: 'policy.put', name: ref.name, region: ref.region, document, blockPublic });
      const result = await resourcePolicies.put(call.identity, ref, document, blockPublic);
      return { ARN: result.arn, Name: result.name };
    },

    async DeleteResourcePolicy(call, input) {
      const ref = await resolve(call, input);
      await holdIfNeeded(call, { kind: 'policy.delete', name: ref.name, region: ref.region });
      const result = await resourcePolicies.remove(call.identity, ref);
      return { ARN: result.arn, Name: result.name };
    },

    async ValidateResourcePolicy(call, input) {
      const document = str(input, 'ResourcePolicy', true);
      const ref = str(input, 'SecretId') === undefined ? undefined : await resolve(call, input);
      const errors = await resourcePolicies.validate(call.identity, ref, document);
      return { PolicyValidationPassed: errors.length === 0, ValidationErrors: errors };
    },
  };
}

import { AppError } from '../../../errors/app-error.js';
import type { OperationContext, Operation, Operations } from '../aws-operations.js';

/**
 * Resource policies: no resource policy is ever attached to a Custos secret, access is governed
 * by Custos policies. Reading one answers "none"; deleting one leaves none; writing one is refused.
 */
export function resourcePolicyOperations({ secrets, resolve }: OperationContext): Operations {
  /** Get/DeleteResourcePolicy: the secret exists and the caller may see it; no policy is attached. */
  const noResourcePolicy: Operation = async (call, input) => {
    const ref = await resolve(call, input);
    const d = await secrets.describe(call.identity, ref);
    return { ARN: d.arn, Name: d.name };
  };
  const unsupported = (what: string): Operation => async (call, input) => {
    if (typeof input.SecretId === 'string') call.target(input.SecretId);
    throw new AppError('unsupported_operation', what);
  };
  return {
    GetResourcePolicy: noResourcePolicy,
    DeleteResourcePolicy: noResourcePolicy,
    PutResourcePolicy: unsupported('resource policies are not supported: Custos governs access with its own policies (custos policy write)'),
    ValidateResourcePolicy: unsupported('resource policies are not supported: Custos governs access with its own policies (custos policy write)'),
  };
}

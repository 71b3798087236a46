import { bool, int } from '../aws-input.js';
import type { OperationContext, Operations } from '../aws-operations.js';
import { epochSeconds } from '../aws-protocol.js';

/** Deletion and recovery: DeleteSecret (recovery window or forced) and RestoreSecret. */
export function deletionOperations({ secrets, resolve }: OperationContext): Operations {
  return {
    async DeleteSecret(call, input) {
      const ref = await resolve(call, input);
      const force = bool(input, 'ForceDeleteWithoutRecovery');
      const days = int(input, 'RecoveryWindowInDays');
      call.detail({ force: force ?? false });
      const result = await secrets.delete(call.identity, ref, { recoveryDays: days, force: force || undefined });
      return { ARN: result.arn, Name: result.name, DeletionDate: epochSeconds(result.deletionDate) };
    },

    async RestoreSecret(call, input) {
      const ref = await resolve(call, input);
      const result = await secrets.restore(call.identity, ref);
      return { ARN: result.arn, Name: result.name };
    },
  };
}

import { randomInt } from 'node:crypto';
import { AppError } from '../../../errors/app-error.js';
import { bad, bool, int } from '../aws-input.js';
import type { OperationContext, Operations } from '../aws-operations.js';
import { epochSeconds } from '../aws-protocol.js';

const SUFFIX_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * Deletion and recovery: DeleteSecret (recovery window or forced) and RestoreSecret. As in AWS,
 * both are safe to retry: forcing the deletion of a secret that is already gone succeeds, and
 * restoring a secret that is not scheduled for deletion succeeds (the service has checked the
 * caller's `delete` capability before it looks the secret up, so neither tells a stranger anything).
 */
export function deletionOperations({ secrets, resolve, holdIfNeeded }: OperationContext): Operations {
  return {
    async DeleteSecret(call, input) {
      const ref = await resolve(call, input);
      const force = bool(input, 'ForceDeleteWithoutRecovery');
      const days = int(input, 'RecoveryWindowInDays');
      call.detail({ force: force ?? false });
      if (force && days !== undefined) bad("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.");
      if (days !== undefined && (days < 7 || days > 30)) bad('The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).');
      await holdIfNeeded(call, { kind: 'secret.delete', name: ref.name, region: ref.region, recoveryDays: days, force: force || undefined });
      try {
        const result = await secrets.delete(call.identity, ref, { recoveryDays: days, force: force || undefined });
        return { ARN: result.arn, Name: result.name, DeletionDate: epochSeconds(result.deletionDate) };
      } catch (error) {
        if (!force || !(error instanceof AppError) || error.code !== 'secret_not_found') throw error;
        // Nothing to delete: AWS answers with the ARN such a secret would have had.
        const suffix = Array.from({ length: 6 }, () => SUFFIX_CHARS[randomInt(SUFFIX_CHARS.length)]).join('');
        call.detail({ force: true, absent: true });
        return { ARN: secrets.arnOf({ region: ref.region ?? call.region, name: ref.name, arn_suffix: suffix }), Name: ref.name, DeletionDate: epochSeconds(Date.now()) };
      }
    },

    async RestoreSecret(call, input) {
      const ref = await resolve(call, input);
      await holdIfNeeded(call, { kind: 'secret.restore', name: ref.name, region: ref.region });
      try {
        const result = await secrets.restore(call.identity, ref);
        return { ARN: result.arn, Name: result.name };
      } catch (error) {
        if (!(error instanceof AppError) || error.code !== 'secret_not_deleted') throw error;
        const described = await secrets.describe(call.identity, ref);
        return { ARN: described.arn, Name: described.name };
      }
    },
  };
}

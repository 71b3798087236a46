import { AppError } from '../../../errors/app-error.js';
import { bad, bool, int, str, type Input } from '../aws-input.js';
import type { AwsCall, OperationContext, Operations } from '../aws-operations.js';
import type { SecretRef } from '../../../engines/secrets/secrets-service.js';
import type { RotationTarget } from '../../../engines/rotation/rotation-engine.js';
import { scheduleFromRules } from '../aws-schedule.js';

/**
 * Rotation: RotateSecret and CancelRotateSecret drive Custos's rotation engine. Custos runs no
 * Lambdas: the rotator is whatever `custos rotation set` configured (RotationLambdaARN is not
 * accepted). RotationRules set the schedule; RotateImmediately (default true) starts a run whose
 * token is the new PENDING version id.
 */
export function rotationOperations({ secrets, rotation, resolve, holdIfNeeded }: OperationContext): Operations {
  /**
   * Rotation runs in whichever region the secret lives in (the region of the request's
   * signature). A replica is rotated through its primary, as in AWS (the replica error).
   */
  const rotatable = async (call: AwsCall, ref: SecretRef): Promise<RotationTarget> => {
    if (ref.region === undefined || ref.region === secrets.defaultRegion) return ref.name;
    const described = await secrets.describe(call.identity, ref).catch((error: unknown) => {
      // Under an approval rule reads need approval too: the change-request gate refuses a replica instead.
      if (error instanceof AppError && error.code === 'approval_required') return null;
      throw error;
    });
    if (described && described.primaryRegion !== null) throw new AppError('invalid_request', `secret "${ref.name}" is a replica`, { details: { primary_region: described.primaryRegion } });
    return { name: ref.name, region: ref.region };
  };
  return {
    async RotateSecret(call, input) {
      const ref = await resolve(call, input);
      const target = await rotatable(call, ref);
      if (input.RotationLambdaARN !== undefined) throw new AppError('unsupported_operation', 'Custos does not run Lambda functions; configure a rotator with `custos rotation set NAME --rotator ...` and call RotateSecret without RotationLambdaARN');
      const rules = input.RotationRules as Input | undefined;
      if (rules !== undefined && (typeof rules !== 'object' || rules === null || Array.isArray(rules))) bad('RotationRules must be an object');
      const schedule = rules ? scheduleFromRules({ AutomaticallyAfterDays: int(rules, 'AutomaticallyAfterDays'), ScheduleExpression: str(rules, 'ScheduleExpression'), Duration: str(rules, 'Duration') }) : undefined;
      const immediately = bool(input, 'RotateImmediately') !== false;
      // Held before the settings are read: under approval the requester may not read them yet.
      const region = typeof target === 'string' ? undefined : target.region;
      if (schedule) await holdIfNeeded(call, { kind: 'rotation.schedule', name: ref.name, region, schedule, rotate: immediately });
      else if (immediately) await holdIfNeeded(call, { kind: 'rotation.rotate', name: ref.name, region });
      const status = await rotation.status(call.identity, target);
      if (!status.settings) {
        const where = region === undefined ? '' : ` --region ${region}`;
        throw new AppError('rotation_not_configured', `secret "${ref.name}" has no rotator; configure one with \`custos rotation set ${ref.name}${where} --rotator ...\``);
      }
      if (schedule) {
        const { every_seconds: _every, cron: _cron, window: _window, aws_schedule_expression: _expression, ...rest } = status.settings;
        await rotation.configure(call.identity, target, { ...rest, ...schedule });
      }
      const described = await secrets.describe(call.identity, ref);
      if (bool(input, 'RotateImmediately') === false) return { ARN: described.arn, Name: described.name };
      const run = await rotation.rotateNow(call.identity, target);
      call.target(ref.name, run.token);
      return { ARN: described.arn, Name: described.name, VersionId: run.token };
    },

    /** Turns automatic rotation off (the rotator stays configured); a run in flight finishes or rolls back. */
    async CancelRotateSecret(call, input) {
      const ref = await resolve(call, input);
      const target = await rotatable(call, ref);
      await holdIfNeeded(call, { kind: 'rotation.schedule', name: ref.name, region: typeof target === 'string' ? undefined : target.region, schedule: null, rotate: false });
      const status = await rotation.status(call.identity, target);
      if (!status.settings) throw new AppError('rotation_not_configured', `secret "${ref.name}" has no rotator, so there is no rotation to cancel`);
      if (status.settings.every_seconds !== undefined || status.settings.cron !== undefined) {
        const { every_seconds: _every, cron: _cron, window: _window, aws_schedule_expression: _expression, ...rest } = status.settings;
        await rotation.configure(call.identity, target, rest);
      }
      const described = await secrets.describe(call.identity, ref);
      const running = status.latest && status.latest.status === 'running' ? status.latest.token : undefined;
      return { ARN: described.arn, Name: described.name, ...(running ? { VersionId: running } : {}) };
    },
  };
}

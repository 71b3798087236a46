import { AppError } from '../../../errors/app-error.js';
import { bad, bool, int, str, type Input } from '../aws-input.js';
import type { AwsCall, OperationContext, Operations } from '../aws-operations.js';
import type { SecretRef } from '../../../engines/secrets/secrets-service.js';
import { scheduleFromRules } from '../aws-schedule.js';

/**
 * Rotation: RotateSecret and CancelRotateSecret drive Custos's rotation engine. Custos runs no
 * Lambdas: the rotator is whatever `custos rotation set` configured (RotationLambdaARN is not
 * accepted). RotationRules set the schedule; RotateImmediately (default true) starts a run whose
 * token is the new PENDING version id.
 */
export function rotationOperations({ secrets, rotation, resolve, holdIfNeeded }: OperationContext): Operations {
  /**
   * The rotation engine keeps its runs by secret name in the server's region. A replica elsewhere
   * is rotated through its primary, as in AWS (the replica error); a standalone secret in another
   * region cannot be rotated yet.
   */
  const inRotationRegion = async (call: AwsCall, ref: SecretRef): Promise<void> => {
    if (ref.region === undefined || ref.region === secrets.defaultRegion) return;
    const described = await secrets.describe(call.identity, ref);
    if (described.primaryRegion !== null) throw new AppError('invalid_request', `secret "${ref.name}" is a replica`, { details: { primary_region: described.primaryRegion } });
    throw new AppError('unsupported_operation', `Custos rotates secrets in its region ${secrets.defaultRegion}; this secret is in ${ref.region}`);
  };
  return {
    async RotateSecret(call, input) {
      const ref = await resolve(call, input);
      await inRotationRegion(call, ref);
      if (input.RotationLambdaARN !== undefined) throw new AppError('unsupported_operation', 'Custos does not run Lambda functions; configure a rotator with `custos rotation set NAME --rotator ...` and call RotateSecret without RotationLambdaARN');
      const rules = input.RotationRules as Input | undefined;
      if (rules !== undefined && (typeof rules !== 'object' || rules === null || Array.isArray(rules))) bad('RotationRules must be an object');
      const schedule = rules ? scheduleFromRules({ AutomaticallyAfterDays: int(rules, 'AutomaticallyAfterDays'), ScheduleExpression: str(rules, 'ScheduleExpression'), Duration: str(rules, 'Duration') }) : undefined;
      const immediately = bool(input, 'RotateImmediately') !== false;
      // Held before the settings are read: under approval the requester may not read them yet.
      if (schedule) await holdIfNeeded(call, { kind: 'rotation.schedule', name: ref.name, schedule, rotate: immediately });
      else if (immediately) await holdIfNeeded(call, { kind: 'rotation.rotate', name: ref.name });
      const status = await rotation.status(call.identity, ref.name);
      if (!status.settings) throw new AppError('rotation_not_configured', `secret "${ref.name}" has no rotator; configure one with \`custos rotation set ${ref.name} --rotator ...\``);
      if (schedule) {
        const { every_seconds: _every, cron: _cron, window: _window, aws_schedule_expression: _expression, ...rest } = status.settings;
        await rotation.configure(call.identity, ref.name, { ...rest, ...schedule });
      }
      const described = await secrets.describe(call.identity, ref);
      if (bool(input, 'RotateImmediately') === false) return { ARN: described.arn, Name: described.name };
      const run = await rotation.rotateNow(call.identity, ref.name);
      call.target(ref.name, run.token);
      return { ARN: described.arn, Name: described.name, VersionId: run.token };
    },

    /** Turns automatic rotation off (the rotator stays configured); a run in flight finishes or rolls back. */
    async CancelRotateSecret(call, input) {
      const ref = await resolve(call, input);
      await inRotationRegion(call, ref);
      await holdIfNeeded(call, { kind: 'rotation.schedule', name: ref.name, schedule: null, rotate: false });
      const status = await rotation.status(call.identity, ref.name);
      if (!status.settings) throw new AppError('rotation_not_configured', `secret "${ref.name}" has no rotator, so there is no rotation to cancel`);
      if (status.settings.every_seconds !== undefined || status.settings.cron !== undefined) {
        const { every_seconds: _every, cron: _cron, window: _window, aws_schedule_expression: _expression, ...rest } = status.settings;
        await rotation.configure(call.identity, ref.name, rest);
      }
      const described = await secrets.describe(call.identity, ref);
      const running = status.latest && status.latest.status === 'running' ? status.latest.token : undefined;
      return { ARN: described.arn, Name: described.name, ...(running ? { VersionId: running } : {}) };
    },
  };
}

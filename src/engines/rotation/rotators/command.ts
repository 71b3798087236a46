import { spawn } from 'node:child_process';
import { PermanentRotationError, TestFailedError, type ExternalStep, type RotationContext, type Rotator } from '../rotator.types.js';
import { generateExternal } from './external.js';

const DEFAULT_TIMEOUT_S = 60;

/** The child's environment: ours minus every CUSTOS_* variable (storage password, unseal key...). */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('CUSTOS_')) env[key] = value;
  return { ...env, ...extra };
}

/**
 * Runs the executable once for a phase: JSON `{secretName, token, step}` (and `region` for a
 * secret outside the default region) on stdin, and CUSTOS_ADDR + CUSTOS_TOKEN (a short-lived
 * token limited to this secret) in the environment, with CUSTOS_SECRET_REGION when `region` is.
 * Exit code 0 is success. Output is discarded (it may hold credentials); only the exit code
 * or signal is reported.
 */
async function runStep(ctx: RotationContext, step: ExternalStep): Promise<void> {
  const command = ctx.settings.command!;
  const timeoutMs = (command.timeout_seconds ?? DEFAULT_TIMEOUT_S) * 1000;
  await ctx.withScopedToken(async (address, token) => {
    const result = await new Promise<{ code: number | null; signal: string | null; error?: Error }>((resolve) => {
      const child = spawn(command.path, command.args ?? [], {
        env: childEnv({ CUSTOS_ADDR: address, CUSTOS_TOKEN: token, CUSTOS_SECRET_NAME: ctx.secretName, CUSTOS_ROTATION_TOKEN: ctx.token, CUSTOS_ROTATION_STEP: step, ...(ctx.secretRegion ? { CUSTOS_SECRET_REGION: ctx.secretRegion } : {}) }),
        stdio: ['pipe', 'ignore', 'ignore'],
        timeout: timeoutMs,
        killSignal: 'SIGKILL',
      });
      child.on('error', (error) => resolve({ code: null, signal: null, error }));
      child.on('close', (code, signal) => resolve({ code, signal }));
      child.stdin.on('error', () => undefined);
      child.stdin.end(JSON.stringify({ secretName: ctx.secretName, ...(ctx.secretRegion ? { region: ctx.secretRegion } : {}), token: ctx.token, step }) + '\n');
    });
    if (result.error) throw new PermanentRotationError(`cannot run the rotation command: ${(result.error as NodeJS.ErrnoException).code ?? result.error.message}`);
    if (result.code === 0) return;
    const how = result.signal ? `was killed by ${result.signal}${result.signal === 'SIGKILL' ? ' (timeout?)' : ''}` : `exited with ${result.code}`;
    const message = `the rotation command ${how} at step ${step}`;
    throw step === 'test' ? new TestFailedError(message) : new Error(message);
  });
}

/** `command`: the equivalent of a custom rotation Lambda, as a local executable. */
export function createCommandRotator(): Rotator {
  return {
    generate: generateExternal,
    onCreate: (ctx) => runStep(ctx, 'create'),
    set: (ctx) => runStep(ctx, 'set'),
    test: (ctx) => runStep(ctx, 'test'),
    onFinish: (ctx) => runStep(ctx, 'finish'),
    rollback: (ctx) => runStep(ctx, 'rollback'),
  };
}

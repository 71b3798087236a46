/**
 * The `command` plugin: dynamic credentials for systems without SQL users Custos can speak to
 * (Snowflake key-pair users, Kafka SASL users, …) through a local program, on the rotators'
 * command contract. For each action the program gets one JSON object on stdin —
 * `{action: "create"|"revoke"|"renew"|"rollback", username, password?, expiration?, role,
 * admin}` (admin: the connection's admin secret, parsed) — and an environment without any
 * CUSTOS_* variable. Exit 0 is success; it is killed after `timeout_seconds`. `revoke` must
 * succeed for a user that is already gone. Output is discarded (it may hold credentials),
 * except on `create`, where stdout may be one JSON object `{"password": "…"}`: the credential
 * the program gave the user instead of the generated password (a private key whose public half
 * it registered, a password the target's syntax can carry); it is what the caller receives.
 */
import { spawn } from 'node:child_process';
import { AppError } from '../../errors/app-error.js';
import type { AdminPool } from './plugins.js';

export interface CommandSettings { path: string; args?: string[]; timeout_seconds?: number }
export type CommandAction = 'create' | 'revoke' | 'renew' | 'rollback';
export interface CommandValues { name: string; password?: string; expiration?: number; role?: string }

const DEFAULT_TIMEOUT_S = 30;
/** Bound on what `create` may print: a credential (a PEM private key is ~1.7 KiB), not a log. */
const MAX_CREATE_OUTPUT = 64 * 1024;

export function parseCommandSettings(value: unknown): CommandSettings {
  const c = value as Partial<CommandSettings> | null;
  if (typeof c !== 'object' || c === null || typeof c.path !== 'string' || !c.path.startsWith('/')) {
    throw new AppError('validation_failed', 'the command plugin needs command.path, an absolute path', { details: { field: 'command' } });
  }
  if (c.args !== undefined && (!Array.isArray(c.args) || c.args.some((a) => typeof a !== 'string'))) throw new AppError('validation_failed', 'command.args must be strings', { details: { field: 'command' } });
  const timeout = c.timeout_seconds ?? DEFAULT_TIMEOUT_S;
  if (!Number.isInteger(timeout) || timeout < 1 || timeout > 600) throw new AppError('validation_failed', 'command.timeout_seconds must be 1-600', { details: { field: 'command' } });
  return { path: c.path, args: c.args ?? [], timeout_seconds: timeout };
}

function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('CUSTOS_')) env[key] = value;
  return env;
}

async function runProgram(settings: CommandSettings, input: object, captureOutput: boolean): Promise<string> {
  let output = '';
  let overflow = false;
  const result = await new Promise<{ code: number | null; signal: string | null; error?: NodeJS.ErrnoException }>((resolve) => {
    const child = spawn(settings.path, settings.args ?? [], { env: childEnv(), stdio: ['pipe', captureOutput ? 'pipe' : 'ignore', 'ignore'], timeout: (settings.timeout_seconds ?? DEFAULT_TIMEOUT_S) * 1000, killSignal: 'SIGKILL' });
    child.stdout?.on('data', (chunk: Buffer) => {
      if (output.length + chunk.length > MAX_CREATE_OUTPUT) overflow = true;
      else output += chunk.toString('utf8');
    });
    child.on('error', (error) => resolve({ code: null, signal: null, error }));
    child.on('close', (code, signal) => resolve({ code, signal }));
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(JSON.stringify(input) + '\n');
  });
  if (result.error) throw new Error(`cannot run the command: ${result.error.code ?? result.error.message}`);
  if (result.code !== 0) throw new Error(`the command ${result.signal ? `was killed by ${result.signal}` : `exited with ${result.code}`}`);
  if (overflow) throw new Error(`the command printed more than ${MAX_CREATE_OUTPUT} bytes on create`);
  return output;
}

/** What `create` printed: nothing, or `{"password": "…"}`. The text itself never goes into an error (it is a credential). */
function createdCredential(output: string): { password?: string } {
  if (output.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(output);
  } catch {
    parsed = undefined;
  }
  const password = (parsed as { password?: unknown } | undefined)?.password;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || (password !== undefined && (typeof password !== 'string' || password === ''))) {
    throw new Error('the command printed something on create that is not {"password": "<non-empty string>"}');
  }
  return password === undefined ? {} : { password: password as string };
}

/** A "pool" that runs the program per action; it cannot list users or change its own password. */
export function commandPool(settings: CommandSettings, adminText: string): AdminPool {
  let admin: unknown;
  try {
    admin = JSON.parse(adminText);
  } catch {
    admin = adminText;
  }
  const unsupported = (what: string) => new AppError('validation_failed', `the command plugin cannot ${what}`);
  return {
    async perform(action: CommandAction, values: CommandValues) {
      const output = await runProgram(settings, {
        action, username: values.name, ...(values.password !== undefined ? { password: values.password } : {}),
        ...(values.expiration !== undefined ? { expiration: new Date(values.expiration).toISOString() } : {}), ...(values.role ? { role: values.role } : {}), admin,
      }, action === 'create');
      return action === 'create' ? createdCredential(output) : {};
    },
    run: async () => { throw unsupported('run SQL statements'); },
    // Unknown: the program's revoke decides, and must accept a user that is already gone.
    userExists: async () => true,
    usersWithPrefix: async () => { throw unsupported('list users (no orphan scan)'); },
    rotateOwnPassword: async () => { throw unsupported('rotate its admin credential (rotate the secret with a rotator instead)'); },
    end: async () => undefined,
  };
}

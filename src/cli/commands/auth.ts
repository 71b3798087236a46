import { readFileSync } from 'node:fs';
import { createAuthClient } from '../../sdk/auth-client.js';
import { apiClient, DEFAULT_ADDRESS, printJson, printTable, readStdin } from '../context.js';
import { saveLogin } from './login.js';

export const authApi = (anonymous = false) => createAuthClient(apiClient({ anonymous }));

/** Parses `key=value` settings; values that look like JSON (arrays, numbers, booleans) are parsed as JSON. */
export function parseSettings(pairs: string[] = [], file?: string): Record<string, unknown> {
  const out: Record<string, unknown> = file ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw new Error(`"${pair}" is not key=value`);
    const key = pair.slice(0, eq);
    const raw = pair.slice(eq + 1);
    let value: unknown = raw;
    if (/^[[{]|^(true|false|null|\d+)$/.test(raw)) {
      try {
        value = JSON.parse(raw);
      } catch {
        value = raw;
      }
    }
    out[key] = value;
  }
  return out;
}

export async function enableCommand(type: string, options: { path?: string; description?: string; config?: string[]; configFile?: string; json?: boolean }): Promise<void> {
  const mount = await authApi().enableMount(options.path ?? type, { type, description: options.description, config: parseSettings(options.config, options.configFile) });
  if (options.json) return printJson(mount);
  process.stdout.write(`enabled ${mount.type} at auth/${mount.path}\n`);
}

export async function configureCommand(path: string, options: { config?: string[]; configFile?: string; json?: boolean }): Promise<void> {
  // The API replaces a mount's settings (as Vault does); the CLI changes only the keys given.
  const api = authApi();
  const current = await api.readMount(path);
  const mount = await api.configureMount(path, { ...current.config, ...parseSettings(options.config, options.configFile) });
  if (options.json) return printJson(mount);
  process.stdout.write(`configured auth/${mount.path}\n`);
}

export async function listCommand(options: { json?: boolean }): Promise<void> {
  const { mounts } = await authApi().listMounts();
  if (options.json) return printJson(mounts);
  printTable(['PATH', 'TYPE', 'DESCRIPTION', 'CREATED'], mounts.map((m) => [m.path, m.type, m.description, m.created_at]));
}

export async function disableCommand(path: string, options: { json?: boolean }): Promise<void> {
  const result = await authApi().disableMount(path);
  if (options.json) return printJson(result);
  process.stdout.write(`disabled auth/${result.disabled}; revoked ${result.revoked_tokens} token(s) it had issued\n`);
}

/** `custos auth role write|read|list|delete` for any method (JWT roles carry claim bindings). */
export async function roleWriteCommand(mount: string, name: string, options: { set?: string[]; file?: string; json?: boolean }): Promise<void> {
  const body = options.file === '-' ? (JSON.parse(await readStdin()) as Record<string, unknown>) : parseSettings(options.set, options.file);
  const role = await authApi().writeRole(mount, name, body);
  if (options.json) return printJson(role);
  process.stdout.write(`wrote role ${role.name} on auth/${role.mount}\n`);
}
/** Always JSON (a role is a JSON document); `--json` is accepted like everywhere else. */
export async function roleReadCommand(mount: string, name: string, _options: { json?: boolean } = {}): Promise<void> {
  printJson(await authApi().readRole(mount, name));
}
export async function roleListCommand(mount: string, options: { json?: boolean }): Promise<void> {
  const { roles } = await authApi().listRoles(mount);
  if (options.json) return printJson(roles);
  printTable(['ROLE', 'POLICIES', 'ENV', 'TOKEN TTL'], roles.map((r) => [r.name, r.policies.join(','), r.env, r.token_ttl]));
}
export async function roleDeleteCommand(mount: string, name: string, options: { json?: boolean } = {}): Promise<void> {
  await authApi().deleteRole(mount, name);
  if (options.json) return printJson({ mount, deleted: name });
  process.stdout.write(`deleted role ${name}\n`);
}

/** Reads a credential file; a wrapping token in it is unwrapped first (single use). */
export async function readCredentialFile(file: string, field: string): Promise<string> {
  const text = (file === '-' ? await readStdin() : readFileSync(file, 'utf8')).trim();
  if (!text) throw new Error(`${file} is empty`);
  if (!text.startsWith('cwt_')) return text;
  const payload = await authApi(true).unwrap(text);
  const value = payload[field];
  if (typeof value !== 'string') throw new Error(`the wrapped response has no ${field}`);
  return value;
}

/** Logs in through a mount and saves the token like `custos login`. */
export async function loginWith(mount: string, body: Record<string, unknown>, json?: boolean): Promise<void> {
  const result = await authApi(true).login(mount, body);
  if (json) return printJson(result);
  saveLogin(process.env.CUSTOS_ADDR || DEFAULT_ADDRESS, result.token, result);
}

export async function unwrapCommand(options: { tokenFile?: string }): Promise<void> {
  const token = (options.tokenFile ? readFileSync(options.tokenFile, 'utf8') : await readStdin()).trim();
  if (!token) throw new Error('no wrapping token given (stdin or --token-file)');
  printJson(await authApi(true).unwrap(token));
}

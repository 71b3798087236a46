import { readFileSync } from 'node:fs';
import { createAuthClient } from '../../sdk/auth-client.js';
import { apiClient, printJson } from '../context.js';
import { loginWith } from './auth.js';
import { readSecretLine } from './login.js';

/** The password from a file, or typed without echo (stdin when not a terminal): never an argument. */
async function password(file: string | undefined, prompt: string): Promise<string> {
  const text = file && file !== '-' ? readFileSync(file, 'utf8').split(/\r?\n/)[0] ?? '' : await readSecretLine(prompt);
  if (!text) throw new Error('no password given');
  return text;
}

export async function createCommand(name: string, o: { mount: string; policy: string[]; env?: string; tokenTtl?: string; passwordFile?: string; json?: boolean }): Promise<void> {
  const user = await createAuthClient(apiClient()).writeRole(o.mount, name, {
    policies: o.policy, env: o.env, token_ttl: o.tokenTtl, password: await password(o.passwordFile, `Password for ${name}: `),
  });
  if (o.json) return printJson(user);
  process.stdout.write(`wrote user ${user.name} on auth/${user.mount}\n`);
}

export async function loginCommand(o: { mount: string; username: string; passwordFile?: string; json?: boolean }): Promise<void> {
  await loginWith(o.mount, { username: o.username, password: await password(o.passwordFile, 'Password: ') }, o.json);
}

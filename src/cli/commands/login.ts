import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { createApiClient, type TokenResponse } from '../../sdk/api-client.js';
import { DEFAULT_ADDRESS, tokenFilePath } from '../context.js';
import { writePrivateFile } from '../private-file.js';

/** Reads one line from stdin; on a terminal without echo, so the token is not shown. */
export async function readSecretLine(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
  }
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let line = '';
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done(() => resolve(line));
        if (ch === '\u0003') return done(() => reject(new Error('cancelled')));
        if (ch === '\u007f') line = line.slice(0, -1);
        else line += ch;
      }
    };
    const done = (finish: () => void) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      finish();
    };
    stdin.on('data', onData);
  });
}

/** `custos login [--token-file F]`: verifies the token (lookup-self) and saves it 0600 in $HOME/.custos/token. */
export async function loginCommand(options: { tokenFile?: string }): Promise<void> {
  const token = (options.tokenFile ? readFileSync(options.tokenFile, 'utf8') : await readSecretLine('Custos token: ')).trim();
  if (!token) throw new Error('no token given');
  const address = process.env.CUSTOS_ADDR || DEFAULT_ADDRESS;
  const self = await createApiClient({ address, token }).lookupSelf();
  saveToken(address, token, self);
}

/** Saves a token 0600 in $HOME/.custos/token (shared by `login` and the auth-method logins). */
export function saveToken(address: string, token: string, self: Pick<TokenResponse, 'display_name' | 'policies' | 'env' | 'expires_at'>): void {
  const file = tokenFilePath();
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writePrivateFile(file, token + '\n');
  process.stdout.write(`Logged in to ${address} as ${self.display_name} (policies: ${self.policies.join(', ') || '-'}${self.env ? `, env ${self.env}` : ''}${self.expires_at ? `, expires ${self.expires_at}` : ''}). Token saved in ${file}.\n`);
  if (process.env.CUSTOS_TOKEN) process.stderr.write('warning: CUSTOS_TOKEN is set and takes precedence over the saved token\n');
}

/** `custos logout [--revoke]`: removes the saved token, optionally revoking it at the server first. */
export async function logoutCommand(options: { revoke?: boolean }): Promise<void> {
  const file = tokenFilePath();
  let token: string | undefined;
  try {
    token = readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    token = undefined;
  }
  if (!token) {
    process.stdout.write('Not logged in.\n');
    return;
  }
  if (options.revoke) await createApiClient({ address: process.env.CUSTOS_ADDR || DEFAULT_ADDRESS, token }).revokeToken();
  rmSync(file, { force: true });
  process.stdout.write(`Logged out${options.revoke ? ' (token revoked)' : ''}; removed ${file}.\n`);
}

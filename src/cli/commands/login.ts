import { readFileSync } from 'node:fs';
import { createApiClient, type TokenResponse } from '../../sdk/api-client.js';
import { forgetToken, saveToken } from '../../sdk/saved-tokens.js';
import { printJson, serverAddress } from '../context.js';

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

/** `custos login [--token-file F]`: verifies the token (lookup-self) and saves it 0600 for CUSTOS_ADDR in $HOME/.custos/tokens.json. */
export async function loginCommand(options: { tokenFile?: string; json?: boolean }): Promise<void> {
  const token = (options.tokenFile ? readFileSync(options.tokenFile, 'utf8') : await readSecretLine('Custos token: ')).trim();
  if (!token) throw new Error('no token given');
  const address = serverAddress();
  const self = await createApiClient({ address, token }).lookupSelf();
  saveLogin(address, token, self, options.json);
}

/** Saves a token for `address` (0600, see sdk/saved-tokens.ts) and says who it is: shared by `login` and the auth-method logins. */
export function saveLogin(address: string, token: string, self: Pick<TokenResponse, 'display_name' | 'policies' | 'env' | 'expires_at'>, json?: boolean): void {
  const files = saveToken(address, token);
  if (json) printJson({ address, display_name: self.display_name, policies: self.policies, env: self.env ?? null, expires_at: self.expires_at ?? null, saved_to: files });
  else process.stdout.write(`Logged in to ${address} as ${self.display_name} (policies: ${self.policies.join(', ') || '-'}${self.env ? `, env ${self.env}` : ''}${self.expires_at ? `, expires ${self.expires_at}` : ''}). Token saved in ${files.join(' and ')}.\n`);
  if (process.env.CUSTOS_TOKEN) process.stderr.write('warning: CUSTOS_TOKEN is set and takes precedence over the saved token\n');
}

/** `custos logout [--revoke]`: removes the saved token, optionally revoking it at the server first. */
export async function logoutCommand(options: { revoke?: boolean; json?: boolean }): Promise<void> {
  const address = serverAddress();
  const token = forgetToken(address);
  if (!token) {
    if (options.json) printJson({ address, logged_in: false, revoked: false });
    else process.stdout.write('Not logged in.\n');
    return;
  }
  if (options.revoke) await createApiClient({ address, token }).revokeToken();
  if (options.json) printJson({ address, logged_in: true, revoked: Boolean(options.revoke) });
  else process.stdout.write(`Logged out of ${address}${options.revoke ? ' (token revoked)' : ''}; removed its saved token.\n`);
}

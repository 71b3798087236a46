import { closeSync, fchmodSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Tokens saved on this machine (by `custos login` and by a `--dev` server's first start), the
 * one place that knows where they live and which server each belongs to.
 *
 * `~/.custos/tokens.json` maps a server's address (URL origin) to its token, so a second
 * server never overwrites the first one's. `~/.custos/token` (one token, the format before
 * addresses were kept) stays readable: it is used when no token is saved for the address, and
 * written only when it is absent or holds a token this file saved for the same address.
 */

export const DEFAULT_ADDRESS = 'http://127.0.0.1:8420';

const custosDir = () => path.join(process.env.HOME || os.homedir(), '.custos');
/** The single-token file kept for older CLIs and scripts. */
export const legacyTokenPath = () => path.join(custosDir(), 'token');
/** Tokens by server address. */
export const tokensPath = () => path.join(custosDir(), 'tokens.json');

/**
 * Writes a file readable by its owner only (0600), also when it already existed with wider
 * permissions: the mode is fixed on the open descriptor before any byte is written. Parent
 * directories are created 0700.
 */
export function writePrivateFile(file: string, text: string | Buffer): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const fd = openSync(file, 'w', 0o600);
  try {
    fchmodSync(fd, 0o600);
    if (typeof text === 'string') writeSync(fd, text);
    else writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

/** The form addresses are keyed by: `http://localhost:8420/` and `http://localhost:8420` are one server. */
export function addressKey(address: string): string {
  try {
    return new URL(address).origin;
  } catch {
    return address.replace(/\/+$/, '');
  }
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

function readTokens(): Record<string, string> {
  const text = readText(tokensPath());
  if (!text) return {};
  try {
    const parsed = JSON.parse(text) as unknown;
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, string>) : {};
  } catch {
    return {};
  }
}

/** The token for `address`: CUSTOS_TOKEN, else the one saved for that address, else `~/.custos/token`. */
export function resolveSavedToken(address: string): string | undefined {
  if (process.env.CUSTOS_TOKEN) return process.env.CUSTOS_TOKEN.trim();
  return readTokens()[addressKey(address)] ?? readText(legacyTokenPath());
}

/**
 * Saves `token` for `address`; also in `~/.custos/token` unless that file holds another
 * server's token. Returns the files written.
 */
export function saveToken(address: string, token: string): string[] {
  const key = addressKey(address);
  const tokens = readTokens();
  const legacy = readText(legacyTokenPath());
  const legacyIsOurs = legacy === undefined || legacy === tokens[key];
  tokens[key] = token;
  const file = tokensPath();
  writePrivateFile(file + '.tmp', JSON.stringify(tokens, null, 2) + '\n');
  renameSync(file + '.tmp', file);
  if (!legacyIsOurs) return [file];
  writePrivateFile(legacyTokenPath(), token + '\n');
  return [file, legacyTokenPath()];
}

/** Forgets the token saved for `address` (and `~/.custos/token` if it is that token). Returns it, if any. */
export function forgetToken(address: string): string | undefined {
  const key = addressKey(address);
  const tokens = readTokens();
  const legacy = readText(legacyTokenPath());
  const token = tokens[key] ?? legacy;
  if (token === undefined) return undefined;
  if (key in tokens) {
    delete tokens[key];
    writePrivateFile(tokensPath() + '.tmp', JSON.stringify(tokens, null, 2) + '\n');
    renameSync(tokensPath() + '.tmp', tokensPath());
  }
  if (legacy === token) rmSync(legacyTokenPath(), { force: true });
  return token;
}

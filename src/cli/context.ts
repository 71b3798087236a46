import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createApiClient, CustosApiError, type ApiClient } from '../sdk/api-client.js';

export const DEFAULT_ADDRESS = 'http://127.0.0.1:8420';

export function tokenFilePath(): string {
  return path.join(process.env.HOME || os.homedir(), '.custos', 'token');
}

/** CUSTOS_TOKEN wins over the token saved by `custos login` / the dev server. */
export function resolveToken(): string | undefined {
  if (process.env.CUSTOS_TOKEN) return process.env.CUSTOS_TOKEN.trim();
  try {
    return readFileSync(tokenFilePath(), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export function apiClient(options: { anonymous?: boolean } = {}): ApiClient {
  return createApiClient({ address: process.env.CUSTOS_ADDR || DEFAULT_ADDRESS, token: options.anonymous ? undefined : resolveToken() });
}

export function printJson(data: unknown): void {
  process.stdout.write(JSON.stringify(data, null, 2) + '\n');
}

/** Plain aligned columns for people; `--json` is there for scripts. */
export function printTable(headers: string[], rows: (string | number | null | undefined)[][]): void {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  for (const row of cells) process.stdout.write(row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ') + '\n');
}

/** A failure the CLI itself detects, with a stable code like the server's. */
export class CliError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** Failures exit non-zero with the stable code and message on stderr. */
export function fail(error: unknown): never {
  if (error instanceof CliError) {
    process.stderr.write(`error: ${error.code}: ${error.message}\n`);
  } else if (error instanceof CustosApiError) {
    process.stderr.write(`error: ${error.code}: ${error.message}${error.requestId ? ` (request ${error.requestId})` : ''}\n`);
  } else {
    process.stderr.write(`error: ${(error as Error).message}\n`);
  }
  process.exit(error instanceof CustosApiError && error.code === 'unreachable' ? 3 : 1);
}

/** Reads all of stdin (for `-` arguments). */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

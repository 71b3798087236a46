import { createApiClient, CustosApiError, type ApiClient } from '../sdk/api-client.js';
import { DEFAULT_ADDRESS, resolveSavedToken } from '../sdk/saved-tokens.js';

export { DEFAULT_ADDRESS };

/** The server the CLI talks to: CUSTOS_ADDR, else the default local address. */
export const serverAddress = (): string => process.env.CUSTOS_ADDR || DEFAULT_ADDRESS;

/** CUSTOS_TOKEN wins over the token saved for CUSTOS_ADDR by `custos login` / the dev server. */
export function resolveToken(): string | undefined {
  return resolveSavedToken(serverAddress());
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

/** A failure the CLI itself detects (bad flags, unreadable input), with a stable code like the server's. */
export class CliError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/**
 * The code an error is reported under: the server's, a CliError's, the file system's
 * (`file_not_found`, `permission_denied`, `io_error`), else `invalid_input` (the CLI's own
 * checks of flags and files).
 */
export function errorCode(error: unknown): string {
  if (error instanceof CustosApiError || error instanceof CliError) return error.code;
  const code = (error as { code?: unknown })?.code;
  if (typeof code === 'string') {
    if (code === 'ENOENT') return 'file_not_found';
    if (code === 'EACCES' || code === 'EPERM') return 'permission_denied';
    if (/^E[A-Z]+$/.test(code)) return 'io_error';
    if (/^[a-z][a-z0-9_]*$/.test(code)) return code;
  }
  return 'invalid_input';
}

/** Failures exit non-zero with `error: <code>: <message>` on stderr, for every command. */
export function fail(error: unknown): never {
  const code = errorCode(error);
  const message = code === 'missing_token'
    ? `no token for ${serverAddress()}: run \`custos login\` (saves one for CUSTOS_ADDR) or set CUSTOS_TOKEN`
    : (error as Error)?.message ?? String(error);
  const requestId = error instanceof CustosApiError && error.requestId ? ` (request ${error.requestId})` : '';
  process.stderr.write(`error: ${code}: ${message}${requestId}\n`);
  process.exit(error instanceof CustosApiError && error.code === 'unreachable' ? 3 : 1);
}

/** Reads all of stdin (for `-` arguments). */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

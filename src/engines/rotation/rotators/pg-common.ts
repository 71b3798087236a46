import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import pg from 'pg';
import { PermanentRotationError, TestFailedError, type RotationContext, type VersionPayload } from '../rotator.types.js';

/**
 * The JSON shape of a PostgreSQL credential (AWS's shape): `engine`, `host`, `port`, `dbname`,
 * `username`, `password`; alternating secrets may also carry `alternate_username`.
 */
export interface PgCredential {
  engine?: string;
  host: string;
  port: number;
  dbname: string;
  username: string;
  password: string;
  alternate_username?: string;
  [key: string]: unknown;
}

export function parseCredential(payload: VersionPayload | string, what: string): PgCredential {
  let data: unknown;
  try {
    data = JSON.parse(typeof payload === 'string' ? payload : payload.text);
  } catch {
    throw new PermanentRotationError(`${what} is not a JSON object with host, port, dbname, username, password`);
  }
  const c = data as Partial<PgCredential>;
  if (typeof c !== 'object' || c === null || typeof c.username !== 'string' || typeof c.password !== 'string') {
    throw new PermanentRotationError(`${what} needs string fields username and password`);
  }
  return { ...c, host: c.host ?? '127.0.0.1', port: Number(c.port ?? 5432), dbname: c.dbname ?? 'postgres', username: c.username, password: c.password } as PgCredential;
}

/**
 * A SCRAM-SHA-256 verifier as PostgreSQL stores it (what libpq's PQencryptPasswordConn makes).
 * Sending the verifier instead of the password means the plaintext never travels in SQL text
 * and cannot end up in the server's statement or error log. Generated passwords are ASCII, for
 * which SASLprep is the identity.
 */
export function scramVerifier(password: string, iterations = 4096): string {
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

const AUTH_FAILED = '28P01';
const CONNECT_TIMEOUT_MS = 10_000;

/** Connects, runs `fn`, always disconnects. pg errors carry no password, so messages are safe to record. */
export async function withConnection<T>(c: Pick<PgCredential, 'host' | 'port' | 'dbname' | 'username' | 'password'>, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ host: c.host, port: c.port, database: c.dbname, user: c.username, password: c.password, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, statement_timeout: 30_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export function isAuthFailure(error: unknown): boolean {
  return (error as { code?: string }).code === AUTH_FAILED;
}

/** `ALTER ROLE "user" PASSWORD '<scram verifier>'` (or PASSWORD NULL), with both parts properly quoted. */
export async function setRolePassword(client: pg.Client, username: string, password: string | null): Promise<void> {
  const secret = password === null ? 'NULL' : client.escapeLiteral(scramVerifier(password));
  await client.query(`ALTER ROLE ${client.escapeIdentifier(username)} PASSWORD ${secret}`);
}

/** Admin credentials from the named secret; host/port/dbname default to the target's. */
export async function adminCredential(ctx: Pick<RotationContext, 'readSecret' | 'settings'>, target: PgCredential): Promise<PgCredential> {
  const name = ctx.settings.admin_secret!;
  const text = await ctx.readSecret(name);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new PermanentRotationError(`admin secret "${name}" is not a JSON object`);
  }
  return parseCredential(JSON.stringify({ host: target.host, port: target.port, dbname: target.dbname, ...raw }), `admin secret "${name}"`);
}

/** The `test` phase: log in with the credential and run the test query. */
export async function testLogin(ctx: RotationContext, credential: PgCredential): Promise<void> {
  try {
    await withConnection(credential, (client) => client.query(ctx.settings.test_query ?? 'SELECT 1'));
  } catch (error) {
    throw new TestFailedError(`logging in as "${credential.username}" with the PENDING credential failed: ${(error as Error).message}`);
  }
}

/** CURRENT's JSON with a fresh password (and any other fields overridden). */
export function withNewPassword(ctx: RotationContext, base: PgCredential, override: Partial<PgCredential> = {}): string {
  return JSON.stringify({ ...base, ...override, password: ctx.generatePassword() });
}

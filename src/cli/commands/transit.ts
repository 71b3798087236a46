import { readFileSync } from 'node:fs';
import { createTransitClient, isItemError, type TransitKeyResponse } from '../../sdk/transit-client.js';
import { DEFAULT_ADDRESS, printJson, printTable, readStdin, resolveToken } from '../context.js';

/**
 * `custos transit …`: encryption as a service from the shell. Inputs come from an argument,
 * `-` (stdin) or `--file`; `--batch FILE` sends a JSON array of wire-format items in one
 * request and prints the results. Outputs are the ciphertext/signature/plaintext alone.
 */
type InputOptions = { file?: string; json?: boolean };
type AeadCli = { context?: string; associatedData?: string };

const client = () => createTransitClient({ address: process.env.CUSTOS_ADDR || DEFAULT_ADDRESS, token: resolveToken() });

async function inputOf(value: string | undefined, options: InputOptions): Promise<Buffer> {
  if (options.file !== undefined) return readFileSync(options.file);
  if (value === undefined) throw new Error('give the input as an argument, "-" for stdin, or --file');
  if (value === '-') return Buffer.from(await readStdin(), 'utf8');
  return Buffer.from(value, 'utf8');
}

function readBatch(file: string): Record<string, unknown>[] {
  const items = JSON.parse(file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8')) as unknown;
  if (!Array.isArray(items)) throw new Error('the batch file must hold a JSON array of items');
  return items as Record<string, unknown>[];
}

async function batchCommand(op: Parameters<ReturnType<typeof createTransitClient>['batchRaw']>[0], name: string, file: string): Promise<void> {
  const results = await client().batchRaw(op, name, readBatch(file));
  printJson(results);
  if (results.some(isItemError)) process.exitCode = 1;
}

const aead = (o: AeadCli) => ({ context: o.context, associatedData: o.associatedData });

function printKey(key: TransitKeyResponse, json?: boolean): void {
  if (json) return printJson(key);
  printTable(['FIELD', 'VALUE'], [
    ['name', key.name], ['type', key.type], ['derived', String(key.derived)], ['exportable', String(key.exportable)],
    ['deletion_allowed', String(key.deletion_allowed)], ['latest_version', key.latest_version], ['min_decryption_version', key.min_decryption_version],
    ['min_encryption_version', key.min_encryption_version], ['min_available_version', key.min_available_version],
    ['versions', Object.keys(key.versions).join(', ')],
  ]);
}

export async function createCommand(name: string, o: { type: string; derived?: boolean; exportable?: boolean; json?: boolean }): Promise<void> {
  printKey(await client().createKey(name, { type: o.type as TransitKeyResponse['type'], derived: o.derived, exportable: o.exportable }), o.json);
}
export async function readCommand(name: string, o: { json?: boolean }): Promise<void> {
  printKey(await client().readKey(name), o.json);
}
export async function listCommand(prefix: string | undefined, o: { json?: boolean }): Promise<void> {
  const keys: string[] = [];
  let after: string | undefined;
  do {
    const page = await client().listKeys({ prefix, after, limit: 1000 });
    keys.push(...page.keys);
    after = page.next_after ?? undefined;
  } while (after !== undefined);
  if (o.json) return printJson(keys);
  for (const key of keys) process.stdout.write(key + '\n');
}
export async function rotateCommand(name: string, o: { json?: boolean }): Promise<void> {
  printKey(await client().rotateKey(name), o.json);
}
export async function configCommand(name: string, o: { minDecryptionVersion?: string; minEncryptionVersion?: string; deletionAllowed?: string; json?: boolean }): Promise<void> {
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  if (o.deletionAllowed !== undefined && o.deletionAllowed !== 'true' && o.deletionAllowed !== 'false') throw new Error('--deletion-allowed takes true or false');
  printKey(await client().configKey(name, {
    minDecryptionVersion: num(o.minDecryptionVersion), minEncryptionVersion: num(o.minEncryptionVersion),
    deletionAllowed: o.deletionAllowed === undefined ? undefined : o.deletionAllowed === 'true',
  }), o.json);
}
export async function trimCommand(name: string, o: { minAvailableVersion: string; json?: boolean }): Promise<void> {
  printKey(await client().trimKey(name, Number(o.minAvailableVersion)), o.json);
}
export async function deleteCommand(name: string, o: { json?: boolean }): Promise<void> {
  const r = await client().deleteKey(name);
  if (o.json) return printJson(r);
  process.stdout.write(`deleted ${r.deleted}\n`);
}
export async function exportCommand(name: string, o: { version?: string }): Promise<void> {
  printJson(await client().exportKey(name, o.version === undefined ? undefined : Number(o.version)));
}

export async function encryptCommand(name: string, value: string | undefined, o: InputOptions & AeadCli & { keyVersion?: string; batch?: string }): Promise<void> {
  if (o.batch) return batchCommand('encrypt', name, o.batch);
  const r = await client().encrypt(name, await inputOf(value, o), { ...aead(o), keyVersion: o.keyVersion === undefined ? undefined : Number(o.keyVersion) });
  if (o.json) return printJson(r);
  process.stdout.write(r.ciphertext + '\n');
}
export async function decryptCommand(name: string, ciphertext: string | undefined, o: AeadCli & { base64?: boolean; batch?: string; json?: boolean }): Promise<void> {
  if (o.batch) return batchCommand('decrypt', name, o.batch);
  if (!ciphertext) throw new Error('give the ciphertext (custos:v<N>:…) or --batch FILE');
  const plaintext = await client().decrypt(name, ciphertext, aead(o));
  if (o.json) return printJson({ plaintext: plaintext.toString('base64') });
  process.stdout.write(o.base64 ? plaintext.toString('base64') + '\n' : Buffer.concat([plaintext, Buffer.from('\n')]));
}
export async function rewrapCommand(name: string, ciphertext: string | undefined, o: AeadCli & { batch?: string; json?: boolean }): Promise<void> {
  if (o.batch) return batchCommand('rewrap', name, o.batch);
  if (!ciphertext) throw new Error('give the ciphertext (custos:v<N>:…) or --batch FILE');
  const r = await client().rewrap(name, ciphertext, aead(o));
  if (o.json) return printJson(r);
  process.stdout.write(r.ciphertext + '\n');
}
export async function datakeyCommand(name: string, mode: string, o: AeadCli & { bits?: string }): Promise<void> {
  if (mode !== 'plaintext' && mode !== 'wrapped') throw new Error('the mode is plaintext or wrapped');
  printJson(await client().datakey(name, mode, { ...aead(o), bits: o.bits === undefined ? undefined : (Number(o.bits) as 256) }));
}
export async function signCommand(name: string, value: string | undefined, o: InputOptions & { keyVersion?: string; batch?: string }): Promise<void> {
  if (o.batch) return batchCommand('sign', name, o.batch);
  const r = await client().sign(name, await inputOf(value, o), { keyVersion: o.keyVersion === undefined ? undefined : Number(o.keyVersion) });
  if (o.json) return printJson(r);
  process.stdout.write(r.signature + '\n');
}
export async function verifyCommand(name: string, signature: string | undefined, value: string | undefined, o: InputOptions & { batch?: string }): Promise<void> {
  if (o.batch) return batchCommand('verify', name, o.batch);
  if (!signature) throw new Error('give the signature (custos:v<N>:…) or --batch FILE');
  const valid = await client().verify(name, await inputOf(value, o), signature);
  if (o.json) printJson({ valid });
  else process.stdout.write(valid ? 'valid\n' : 'invalid\n');
  if (!valid) process.exitCode = 1;
}
export async function hmacCommand(name: string, value: string | undefined, o: InputOptions & { algorithm?: 'sha2-256' | 'sha2-512'; context?: string; batch?: string }): Promise<void> {
  if (o.batch) return batchCommand('hmac', name, o.batch);
  const r = await client().hmac(name, await inputOf(value, o), { algorithm: o.algorithm, context: o.context });
  if (o.json) return printJson(r);
  process.stdout.write(r.hmac + '\n');
}
export async function verifyHmacCommand(name: string, hmac: string | undefined, value: string | undefined, o: InputOptions & { algorithm?: 'sha2-256' | 'sha2-512'; context?: string; batch?: string }): Promise<void> {
  if (o.batch) return batchCommand('verify-hmac', name, o.batch);
  if (!hmac) throw new Error('give the hmac (custos:v<N>:…) or --batch FILE');
  const valid = await client().verifyHmac(name, await inputOf(value, o), hmac, { algorithm: o.algorithm, context: o.context });
  if (o.json) printJson({ valid });
  else process.stdout.write(valid ? 'valid\n' : 'invalid\n');
  if (!valid) process.exitCode = 1;
}

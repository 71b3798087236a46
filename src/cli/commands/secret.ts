import { readFileSync } from 'node:fs';
import { apiClient, CliError, printJson, printTable, readStdin } from '../context.js';
import { writePrivateFile } from '../../sdk/saved-tokens.js';
import { printHeld } from './request.js';

function parseTags(tags: string[] | undefined): Record<string, string> | undefined {
  if (!tags) return undefined;
  return Object.fromEntries(tags.map((t) => {
    const i = t.indexOf('=');
    if (i < 1) throw new Error(`--tag expects key=value, got "${t}"`);
    return [t.slice(0, i), t.slice(i + 1)];
  }));
}

interface PutOptions { value?: string; file?: string; binary?: boolean; label?: string[]; description?: string; owner?: string; tag?: string[]; idempotencyToken?: string; breakGlass?: string; json?: boolean }

export async function putCommand(name: string, stdinMarker: string | undefined, options: PutOptions): Promise<void> {
  const sources = [options.value !== undefined, options.file !== undefined, stdinMarker === '-'].filter(Boolean).length;
  if (sources !== 1) throw new Error('give exactly one of --value V, --file F or - (stdin)');
  let value: string | undefined;
  let valueBase64: string | undefined;
  if (options.file !== undefined && options.binary) valueBase64 = readFileSync(options.file).toString('base64');
  else value = options.value ?? (options.file !== undefined ? readFileSync(options.file, 'utf8') : (await readStdin()).replace(/\r?\n$/, ''));
  const api = apiClient();
  const tags = parseTags(options.tag);
  // One request whether or not the secret exists yet: the server creates it when missing, with
  // one audit event for either case (a failed write and then a create would log a failure).
  const written = await api.putValue(name, {
    value, valueBase64, labels: options.label, idempotencyToken: options.idempotencyToken, createIfMissing: { description: options.description, owner: options.owner, tags },
    breakGlassReason: options.breakGlass,
  });
  if (written.change_request) return printHeld(written.change_request, options.json);
  if (!written.secret_created) {
    // The value was written; metadata under an approval rule is held (without break-glass, which covered the write only).
    const held = [
      options.description !== undefined || options.owner !== undefined ? (await api.updateSecret(name, { description: options.description, owner: options.owner })).change_request : undefined,
      tags ? (await api.tag(name, tags)).change_request : undefined,
    ];
    for (const request of held) if (request) process.stderr.write(`metadata change held for approval: change request ${request.id}\n`);
  }
  if (options.json) return printJson(written);
  process.stdout.write(`${written.name}: version ${written.version_id}${written.labels.length ? ` (${written.labels.join(', ')})` : ''}${written.secret_created ? ', new secret' : ''}\n`);
}

/**
 * Prints a value alone with a newline, or writes its exact bytes to `--out` (0600, no newline).
 * A binary value goes to stdout byte for byte when stdout is a pipe or file; to a terminal it is
 * refused: raw bytes there are unreadable and can drive the terminal with escape sequences.
 */
export async function getCommand(name: string, options: { label?: string; version?: string; field?: string; json?: boolean; out?: string }): Promise<void> {
  const result = await apiClient().getValue(name, { label: options.label, versionId: options.version });
  if (result.value === undefined && !options.json) {
    const bytes = Buffer.from(result.value_base64 ?? '', 'base64');
    if (options.field !== undefined) throw new CliError('binary_value', `${name} holds binary data; --field needs a JSON text value`);
    if (options.out !== undefined) return writePrivateFile(options.out, bytes);
    if (process.stdout.isTTY) {
      throw new CliError('binary_value', `${name} holds binary data (${bytes.length} bytes) and stdout is a terminal; use --out FILE, redirect stdout, or --json for base64`);
    }
    process.stdout.write(bytes);
    return;
  }
  let value = result.value ?? '';
  if (options.field !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      throw new Error(`--field needs a JSON value; ${name} is not JSON`);
    }
    const field = (parsed as Record<string, unknown>)?.[options.field];
    if (field === undefined) throw new Error(`${name} has no field "${options.field}"`);
    value = typeof field === 'string' ? field : JSON.stringify(field);
  }
  if (options.json) return printJson({ ...result, ...(options.field !== undefined ? { field: options.field, value } : {}) });
  if (options.out !== undefined) return writePrivateFile(options.out, value);
  process.stdout.write(value + '\n');
}

export async function listCommand(prefix: string | undefined, options: { includeDeleted?: boolean; json?: boolean }): Promise<void> {
  const api = apiClient();
  const all = [];
  let cursor: string | undefined;
  do {
    const page = await api.list({ prefix, includeDeleted: options.includeDeleted, limit: 1000, cursor });
    all.push(...page.secrets);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  if (options.json) return printJson(all);
  printTable(['NAME', 'OWNER', 'UPDATED', 'LAST ACCESSED', 'DELETION'], all.map((s) => [s.name, s.owner, s.updated_at, s.last_accessed_at?.slice(0, 10), s.deletion_date]));
}

/** Every version of a secret, newest first, fetched a page at a time. */
async function allVersions(api: ReturnType<typeof apiClient>, name: string) {
  const versions = [];
  let cursor: string | undefined;
  do {
    const page = await api.versions(name, { limit: 1000, cursor });
    versions.push(...page.versions);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return versions;
}

export async function describeCommand(name: string, options: { json?: boolean }): Promise<void> {
  const api = apiClient();
  const s = await api.describe(name);
  if (options.json) return printJson(s);
  printTable(['KEY', 'VALUE'], [
    ['name', s.name], ['arn', s.arn], ['description', s.description], ['owner', s.owner],
    ['tags', Object.entries(s.tags).map(([k, v]) => `${k}=${v}`).join(', ') || null], ['created', s.created_at], ['updated', s.updated_at],
    ['last accessed', s.last_accessed_at], ['last rotated', s.last_rotated_at], ['deletion date', s.deletion_date],
  ]);
  process.stdout.write('\n');
  printTable(['VERSION', 'LABELS', 'CREATED'], (await allVersions(api, name)).map((v) => [v.version_id, v.labels.join(',') || null, v.created_at]));
}

export async function versionsCommand(name: string, options: { json?: boolean }): Promise<void> {
  const versions = await allVersions(apiClient(), name);
  if (options.json) return printJson(versions);
  printTable(['VERSION', 'LABELS', 'CREATED', 'LAST ACCESSED'], versions.map((v) => [v.version_id, v.labels.join(',') || null, v.created_at, v.last_accessed_at?.slice(0, 10)]));
}

export async function labelCommand(name: string, options: { label: string; moveTo?: string; removeFrom?: string; json?: boolean }): Promise<void> {
  const result = await apiClient().moveLabel(name, { label: options.label, moveTo: options.moveTo, removeFrom: options.removeFrom });
  if (result.change_request) return printHeld(result.change_request, options.json);
  if (options.json) return printJson(result);
  process.stdout.write(options.moveTo ? `${options.label} -> ${options.moveTo}\n` : `${options.label} removed from ${options.removeFrom}\n`);
}

export async function deleteCommand(name: string, options: { recoveryDays?: string; force?: boolean; json?: boolean }): Promise<void> {
  const result = await apiClient().deleteSecret(name, { recoveryDays: options.recoveryDays ? Number(options.recoveryDays) : undefined, force: options.force });
  if (result.change_request) return printHeld(result.change_request, options.json);
  if (options.json) return printJson(result);
  process.stdout.write(options.force ? `${name} deleted.\n` : `${name} scheduled for deletion on ${result.deletion_date} (restore with \`custos secret restore ${name}\`).\n`);
}

export async function restoreCommand(name: string, options: { json?: boolean }): Promise<void> {
  const result = await apiClient().restore(name);
  if (result.change_request) return printHeld(result.change_request, options.json);
  if (options.json) return printJson(result);
  process.stdout.write(`${name} restored.\n`);
}

export async function passwordCommand(options: { length?: string; excludeCharacters?: string; excludeNumbers?: boolean; excludePunctuation?: boolean; excludeUppercase?: boolean; excludeLowercase?: boolean; includeSpace?: boolean; json?: boolean }): Promise<void> {
  const result = await apiClient().password({
    length: options.length ? Number(options.length) : undefined, exclude_characters: options.excludeCharacters, exclude_numbers: options.excludeNumbers,
    exclude_punctuation: options.excludePunctuation, exclude_uppercase: options.excludeUppercase, exclude_lowercase: options.excludeLowercase, include_space: options.includeSpace,
  });
  if (options.json) return printJson(result);
  process.stdout.write(result.password + '\n');
}



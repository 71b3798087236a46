import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { httpFetch } from '../../sdk/http-transport.js';
import { CustosClient, CustosClientError, type SecretResult } from '../../sdk/custos-client.js';
import { applyRef, findSecretRefs, parseSecretRef, selectField } from '../../sdk/secret-ref.js';
import { DEFAULT_ADDRESS, resolveToken } from '../context.js';
import { maskVariants, StreamMasker } from '../masker.js';
import { createDynamicCreds, isDynamic } from '../dynamic-creds.js';

/**
 * `custos run [--secret NAME [--map key=ENV,...]]... [--env NAME=VALUE]... [--env-file FILE] [--mask] -- CMD ARGS...`
 *
 * Resolves everything in parallel, then spawns CMD with the variables added to its
 * environment. Nothing is written to disk and no value is ever printed. Kept to a small
 * import graph (commander + api client + these modules) because it runs at every task start.
 */
export interface RunOptions {
  secret?: string[];
  map?: string[];
  env?: string[];
  envFile?: string;
  mask?: boolean;
}

/** One environment variable to produce: literal text with zero or more references inside. */
interface Assignment {
  name: string;
  /** Text with `secret://` references, or a direct (reference, field) pick from --secret/--map. */
  template?: string;
  pick?: { secret: string; field?: string; whole?: boolean };
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function envNameFor(key: string): string {
  const name = key.replace(/[^A-Za-z0-9_]/g, '_').toUpperCase();
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

/** Parses KEY=VALUE lines: `export ` prefix, # comments, "double" (\n \" \\ escapes) or 'single' quotes. */
export function parseEnvFile(text: string, file: string): { name: string; value: string; line: number }[] {
  const out: { name: string; value: string; line: number }[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) throw new Error(`${file}:${i + 1}: expected NAME=VALUE`);
    let value = m[2]!;
    if (value.startsWith('"')) {
      const end = /^"((?:[^"\\]|\\.)*)"\s*(#.*)?$/.exec(value);
      if (!end) throw new Error(`${file}:${i + 1}: unterminated double quote`);
      value = end[1]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c));
    } else if (value.startsWith("'")) {
      const end = /^'([^']*)'\s*(#.*)?$/.exec(value);
      if (!end) throw new Error(`${file}:${i + 1}: unterminated single quote`);
      value = end[1]!;
    } else {
      value = value.replace(/\s+#.*$/, '');
    }
    out.push({ name: m[1]!, value, line: i + 1 });
  });
  return out;
}

function plan(options: RunOptions): Assignment[] {
  const assignments: Assignment[] = [];
  if (options.envFile) {
    for (const e of parseEnvFile(readFileSync(options.envFile, 'utf8'), options.envFile)) assignments.push({ name: e.name, template: e.value });
  }
  const secrets = options.secret ?? [];
  const maps = options.map ?? [];
  if (maps.length > 0 && maps.length !== secrets.length) throw new Error('give one --map per --secret (they pair up in order), or no --map at all');
  secrets.forEach((secret, i) => {
    const map = maps[i];
    if (map === undefined) {
      assignments.push({ name: '', pick: { secret, whole: true } });
      return;
    }
    for (const pair of map.split(',').map((p) => p.trim()).filter(Boolean)) {
      const eq = pair.indexOf('=');
      if (eq < 1 || !ENV_NAME.test(pair.slice(eq + 1))) throw new Error(`--map expects key=ENV_NAME pairs, got "${pair}"`);
      assignments.push({ name: pair.slice(eq + 1), pick: { secret, field: pair.slice(0, eq) } });
    }
  });
  for (const pair of options.env ?? []) {
    const eq = pair.indexOf('=');
    if (eq < 1 || !ENV_NAME.test(pair.slice(0, eq))) throw new Error(`--env expects NAME=VALUE (e.g. DB_PASSWORD=secret://prod/app/db#password), got "${pair.slice(0, Math.max(eq, 0)) || pair}"`);
    assignments.push({ name: pair.slice(0, eq), template: pair.slice(eq + 1) });
  }
  return assignments;
}

/** Resolves every assignment (every secret in one batch read); returns the variables and the strings to mask. */
async function resolveAll(client: CustosClient, assignments: Assignment[], dynamic: ReturnType<typeof createDynamicCreds>): Promise<{ vars: Map<string, string>; secrets: string[] }> {
  const keyOf = (name: string, label?: string, versionId?: string) => `${name}\u0000${label ?? ''}\u0000${versionId ?? ''}`;
  // Every secret named anywhere, once; read together before anything is assembled.
  const wanted = new Map<string, { name: string; label?: string; versionId?: string }>();
  // database/creds/ROLE names dynamic credentials: issued for this run, not read as a secret.
  const want = (name: string, label?: string, versionId?: string) => (isDynamic(name) ? dynamic.value(name) : wanted.set(keyOf(name, label, versionId), { name, label, versionId }));
  for (const a of assignments) {
    if (a.pick) want(a.pick.secret);
    else for (const r of findSecretRefs(a.template!)) {
      const ref = parseSecretRef(r.ref);
      want(ref.name, ref.label, ref.versionId);
    }
  }
  const results = await client.getSecrets([...wanted.values()]);
  const raw = new Map<string, SecretResult | CustosClientError>([...wanted.keys()].map((key, i) => [key, results[i]!]));
  const fetchRaw = async (name: string, label?: string, versionId?: string): Promise<string> => {
    if (isDynamic(name)) return dynamic.value(name);
    const result = raw.get(keyOf(name, label, versionId))!;
    if (result instanceof CustosClientError) throw result;
    return result.value;
  };
  const vars = new Map<string, string>();
  for (const a of assignments) {
    if (a.pick?.whole) {
      const value = await fetchRaw(a.pick.secret);
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch {
        parsed = undefined;
      }
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
        for (const [k, v] of Object.entries(parsed)) vars.set(envNameFor(k), typeof v === 'string' ? v : JSON.stringify(v));
      } else {
        vars.set(envNameFor(a.pick.secret.split('/').pop()!), value);
      }
    } else if (a.pick) {
      vars.set(a.name, selectField(await fetchRaw(a.pick.secret), { raw: `secret://${a.pick.secret}#${a.pick.field}`, field: a.pick.field }));
    } else {
      let text = a.template!;
      const refs = findSecretRefs(text);
      for (let i = refs.length - 1; i >= 0; i--) {
        const r = refs[i]!;
        const ref = parseSecretRef(r.ref);
        const value = applyRef(await fetchRaw(ref.name, ref.label, ref.versionId), ref);
        text = text.slice(0, r.index) + value + text.slice(r.index + r.ref.length);
      }
      vars.set(a.name, text);
    }
  }
  const secrets: string[] = [];
  for (const r of raw.values()) if (!(r instanceof CustosClientError)) secrets.push(...maskVariants(r.value));
  for (const [, v] of vars) secrets.push(...maskVariants(v));
  return { vars, secrets };
}

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export async function runCommand(command: string[], options: RunOptions): Promise<void> {
  if (command.length === 0) throw new Error('give the command to run after --, e.g. custos run --secret NAME -- dbt run');
  const assignments = plan(options);
  const client = new CustosClient({ address: process.env.CUSTOS_ADDR || DEFAULT_ADDRESS, token: resolveToken() ?? '', ttlMs: 0, maxStaleMs: 0, retry: { attempts: 3 }, fetch: httpFetch });
  const dynamic = createDynamicCreds({ address: process.env.CUSTOS_ADDR || DEFAULT_ADDRESS, token: resolveToken() ?? '', warn: (line) => process.stderr.write(line + '\n') });
  let resolved: Awaited<ReturnType<typeof resolveAll>>;
  try {
    resolved = await resolveAll(client, assignments, dynamic);
  } catch (error) {
    await dynamic.revokeAll();
    if (error instanceof CustosClientError) {
      const where = error.options.secret ? ` (${error.options.secret})` : '';
      throw new Error(`${error.code}${where}: ${error.message}`);
    }
    throw error;
  }
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Least privilege: the child gets the secrets it was given, not the token that can read them all.
  delete env.CUSTOS_TOKEN;
  for (const [k, v] of resolved.vars) env[k] = v;

  const child = spawn(command[0]!, command.slice(1), { env, stdio: options.mask ? ['inherit', 'pipe', 'pipe'] : 'inherit' });
  dynamic.keepAlive();
  const forwarders = FORWARDED.map((signal) => {
    const handler = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    };
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  if (options.mask) {
    for (const [from, to] of [[child.stdout!, process.stdout], [child.stderr!, process.stderr]] as const) {
      const masker = new StreamMasker(resolved.secrets);
      from.on('data', (chunk: Buffer) => {
        const out = masker.push(chunk);
        // Backpressure: a slow reader of our stdout slows the child instead of growing memory.
        if (out.length && !to.write(out)) {
          from.pause();
          to.once('drain', () => from.resume());
        }
      });
      from.on('end', () => {
        const out = masker.flush();
        if (out.length) to.write(out);
      });
    }
  }
  const exitCode = await new Promise<number>((resolve) => {
    child.on('error', (error: NodeJS.ErrnoException) => {
      process.stderr.write(`error: ${error.code === 'ENOENT' ? 'command_not_found' : 'command_failed'}: cannot start ${command[0]}: ${error.code === 'ENOENT' ? 'command not found' : error.message}\n`);
      resolve(error.code === 'ENOENT' ? 127 : 126);
    });
    child.on('close', (code, signal) => resolve(signal ? 128 + (constants.signals[signal] ?? 0) : (code ?? 0)));
  });
  for (const [signal, handler] of forwarders) process.removeListener(signal, handler);
  await dynamic.revokeAll(); // the job is over: its database users go with it
  process.exitCode = exitCode;
}

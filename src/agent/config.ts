/**
 * The agent's configuration file (YAML, validated with zod): where the server is, how the
 * agent authenticates to it, where it listens locally, and how its cache behaves. Paths are
 * resolved relative to the config file, so a config and its files can move together.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseDurationSeconds } from '../lib/duration.js';

const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  try {
    return parseDurationSeconds(v) * 1000;
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

const bytes = z.union([z.number().int().positive(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const match = /^(\d+)\s*(b|kib|mib|gib|kb|mb|gb)?$/i.exec(v.trim());
  if (!match) {
    ctx.addIssue({ code: 'custom', message: `invalid size "${v}" (use e.g. 64MiB)` });
    return z.NEVER;
  }
  const unit = (match[2] ?? 'b').toLowerCase();
  const factor: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };
  return Number(match[1]) * factor[unit]!;
});

const TokenFileAuth = z.object({ method: z.literal('token_file'), token_file: z.string().min(1) }).strict();
const AppRoleAuth = z.object({
  method: z.literal('approle'),
  mount: z.string().min(1).default('approle'),
  role_id: z.string().min(1).optional(),
  role_id_file: z.string().min(1).optional(),
  secret_id_file: z.string().min(1),
}).strict().refine((a) => (a.role_id === undefined) !== (a.role_id_file === undefined), { message: 'give role_id or role_id_file' });

/** Kubernetes-style workload identity: a JWT from a file (a projected service-account token), re-read when it changes. */
const JwtAuth = z.object({
  method: z.literal('jwt'),
  mount: z.string().min(1).default('jwt'),
  role: z.string().min(1),
  jwt_file: z.string().min(1).default('/var/run/secrets/kubernetes.io/serviceaccount/token'),
}).strict();

/** File permissions as octal digits ('0600', '640'; YAML reads an unquoted 0600 as the number 600). */
const fileMode = z.union([z.string(), z.number().int()]).transform((v, ctx) => {
  const text = String(v).replace(/^0o/, '');
  if (!/^0?[0-7]{3}$/.test(text)) {
    ctx.addIssue({ code: 'custom', message: `invalid file mode "${v}" (use octal digits such as "0600")` });
    return z.NEVER;
  }
  return parseInt(text, 8);
});

const Template = z.object({
  /** A file with `secret://` references (the same syntax and escaping rules as `custos render`). */
  source: z.string().min(1),
  destination: z.string().min(1),
  mode: fileMode.default(0o600),
  /** Escaping rules; by default from the destination's name (.json, .yaml/.yml, .env, else text). */
  format: z.enum(['json', 'yaml', 'env', 'text']).optional(),
  /** Run with /bin/sh -c after the file changed (e.g. a reload); its output is not logged. */
  command: z.string().min(1).optional(),
  command_timeout: duration.default(30_000),
}).strict();

/** A TCP address the agent may listen on: loopback only (local callers only). */
const loopback = z.string().regex(/^(127\.\d+\.\d+\.\d+|\[::1\]|localhost):\d{1,5}$/, 'listen.tcp must be a loopback address such as 127.0.0.1:8300');

export const AgentConfigSchema = z.object({
  server: z.object({
    address: z.string().url(),
    /** Timeout of each upstream request. */
    timeout: duration.default(10_000),
  }).strict(),
  auth: z.discriminatedUnion('method', [TokenFileAuth, AppRoleAuth, JwtAuth]),
  listen: z.object({
    tcp: loopback.optional(),
    socket: z.string().min(1).optional(),
  }).strict().refine((l) => l.tcp !== undefined || l.socket !== undefined, { message: 'give listen.tcp, listen.socket, or both' }),
  /** The per-node token local callers present; created (mode 0600) when the file does not exist. */
  agent_token_file: z.string().min(1),
  cache: z.object({
    max_bytes: bytes.default(64 * 1024 * 1024),
    max_stale: duration.default(24 * 3600 * 1000),
    disk: z.object({ path: z.string().min(1), key_file: z.string().min(1) }).strict().optional(),
  }).strict().default({ max_bytes: 64 * 1024 * 1024, max_stale: 24 * 3600 * 1000 }),
  /** Files rendered from `secret://` references, re-rendered when a secret they name changes. */
  templates: z.array(Template).max(100).default([]),
  /** Region reported in AWS-shaped answers (ARNs come from the server). */
  region: z.string().min(1).default('us-east-1'),
  log_level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
}).strict();

export type AgentConfig = z.output<typeof AgentConfigSchema>;

export class AgentConfigError extends Error {
  override name = 'AgentConfigError';
  readonly code = 'invalid_config';
}

export function parseAgentConfig(text: string, baseDir: string): AgentConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new AgentConfigError(`the agent config is not valid YAML: ${(error as Error).message}`);
  }
  const parsed = AgentConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new AgentConfigError(`agent config: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const config = parsed.data;
  const at = (p: string) => path.resolve(baseDir, p);
  if (config.auth.method === 'token_file') config.auth.token_file = at(config.auth.token_file);
  else if (config.auth.method === 'jwt') config.auth.jwt_file = at(config.auth.jwt_file);
  else {
    config.auth.secret_id_file = at(config.auth.secret_id_file);
    if (config.auth.role_id_file) config.auth.role_id_file = at(config.auth.role_id_file);
  }
  if (config.listen.socket) config.listen.socket = at(config.listen.socket);
  config.agent_token_file = at(config.agent_token_file);
  for (const t of config.templates) {
    t.source = at(t.source);
    t.destination = at(t.destination);
  }
  if (config.cache.disk) config.cache.disk = { path: at(config.cache.disk.path), key_file: at(config.cache.disk.key_file) };
  return config;
}

export function loadAgentConfig(file: string): AgentConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new AgentConfigError(`cannot read the agent config ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return parseAgentConfig(text, path.dirname(path.resolve(file)));
}

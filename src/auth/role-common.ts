import { z } from 'zod';
import { AppError } from '../errors/app-error.js';
import { parseCidrs } from '../lib/cidr.js';
import { parseDurationSeconds } from '../lib/duration.js';
import { ENV_PATTERN } from './tokens/token-issuer.js';

/** The token a role's logins get: shared by every auth method. */
export interface RoleTokenFields {
  policies: string[];
  env: string | null;
  ttlSeconds: number;
  maxTtlSeconds: number;
  boundCidrs: string[];
}

export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$/;
export const MOUNT_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;

const duration = z.union([z.string(), z.number().int().nonnegative()]).transform((value, ctx) => {
  try {
    return parseDurationSeconds(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

export const cidrList = z.array(z.string()).max(64).superRefine((list, ctx) => {
  try {
    parseCidrs(list);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
  }
});

/** Fields every role has, in the API's snake_case. */
export const tokenFieldsShape = {
  policies: z.array(z.string().min(1).max(128)).min(1).max(64),
  env: z.string().regex(ENV_PATTERN, 'env must be 1-64 characters of A-Za-z0-9_+=.@-').nullable().optional(),
  token_ttl: duration.optional(),
  token_max_ttl: duration.optional(),
  token_bound_cidrs: cidrList.optional(),
};

export function tokenFieldsOf(input: { policies: string[]; env?: string | null; token_ttl?: number; token_max_ttl?: number; token_bound_cidrs?: string[] }): RoleTokenFields {
  if (input.policies.some((p) => p.toLowerCase() === 'root')) throw new AppError('validation_failed', 'a role can never grant the root policy');
  const ttl = input.token_ttl || 3600;
  const maxTtl = input.token_max_ttl || Math.max(ttl, 24 * 3600);
  if (maxTtl < ttl) throw new AppError('validation_failed', 'token_max_ttl must be at least token_ttl');
  return { policies: input.policies, env: input.env ?? null, ttlSeconds: ttl, maxTtlSeconds: maxTtl, boundCidrs: input.token_bound_cidrs ?? [] };
}

export function tokenFieldsJson(t: RoleTokenFields) {
  return { policies: t.policies, env: t.env, token_ttl: t.ttlSeconds, token_max_ttl: t.maxTtlSeconds, token_bound_cidrs: t.boundCidrs };
}

/** Parses with zod; the first issue becomes a `validation_failed` naming its field. */
export function parseOrThrow<T>(schema: z.ZodType<T>, raw: unknown, what: string): T {
  const result = schema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.map(String).join('.');
  const message = issue.code === 'unrecognized_keys' ? `unknown field(s): ${issue.keys.join(', ')}` : issue.message;
  throw new AppError('validation_failed', `invalid ${what}: ${field ? `${field}: ` : ''}${message}`, { details: { field } });
}

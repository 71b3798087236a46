import type { Kysely } from 'kysely';
import { z } from 'zod';
import { AppError } from '../../errors/app-error.js';
import { parseCidrs } from '../../lib/cidr.js';
import { parseDurationSeconds } from '../../lib/duration.js';
import type { AuthStore } from '../../storage/auth-store.js';
import type { Database } from '../../storage/schema.js';
import type { AuthMethod } from '../auth-method.types.js';
import { cidrList, parseOrThrow, tokenFieldsOf, tokenFieldsShape, type RoleTokenFields } from '../role-common.js';

export const SECRET_ID_PATTERN = /^csi_[A-Za-z0-9_-]{43}$/;
const ROLE_ID_PATTERN = /^rid_[A-Za-z0-9_-]{24}$/;

/** AppRole's own role settings (beside the token fields every role has). */
export interface AppRoleConfig {
  /** Seconds a new secret id lives; 0: until revoked. */
  secret_id_ttl: number;
  /** Logins a new secret id allows; 0: unlimited. */
  secret_id_num_uses: number;
  /** Logins with this role's secret ids must come from these blocks. */
  secret_id_bound_cidrs: string[];
}

const seconds = z.union([z.string(), z.number().int().nonnegative()]).transform((v, ctx) => {
  try {
    return parseDurationSeconds(v);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

const RoleSchema = z.strictObject({
  ...tokenFieldsShape,
  secret_id_ttl: seconds.optional(),
  secret_id_num_uses: z.number().int().min(0).max(1_000_000).optional(),
  secret_id_bound_cidrs: cidrList.optional(),
});

const LoginSchema = z.strictObject({ role_id: z.string().max(128), secret_id: z.string().max(128) });

export interface AppRoleMethodDeps {
  db: Kysely<Database>;
  authStore: AuthStore;
  /** Keyed hash (barrier keyring key) under which secret ids are stored and looked up. */
  hashSecretId: (secretId: string) => string;
  now: () => number;
}

export function appRoleConfigOf(config: Record<string, unknown>): AppRoleConfig {
  return config as unknown as AppRoleConfig;
}

/**
 * AppRole: a stable role_id plus a secret_id minted per deployment. Unknown role ids, unknown
 * secret ids and secret ids of another role all answer `invalid_credentials` alike; only a
 * caller holding a real secret id learns that it expired, was revoked or is used up.
 */
export function createAppRoleMethod(deps: AppRoleMethodDeps): AuthMethod {
  const { db, authStore, now } = deps;
  const invalid = () => new AppError('invalid_credentials', 'invalid role_id or secret_id');
  return {
    type: 'approle',
    hasRoleIds: true,
    async parseMountConfig(raw) {
      parseOrThrow(z.strictObject({}), raw, 'approle mount config');
      return {};
    },
    parseRole(raw) {
      const r = parseOrThrow(RoleSchema, raw, 'approle role');
      const config: AppRoleConfig = { secret_id_ttl: r.secret_id_ttl ?? 0, secret_id_num_uses: r.secret_id_num_uses ?? 0, secret_id_bound_cidrs: r.secret_id_bound_cidrs ?? [] };
      return { token: tokenFieldsOf(r), config: config as unknown as Record<string, unknown> };
    },
    async login(mount, request, note) {
      const body = parseOrThrow(LoginSchema, request.body, 'approle login');
      if (!ROLE_ID_PATTERN.test(body.role_id) || !SECRET_ID_PATTERN.test(body.secret_id)) throw invalid();
      const role = await authStore.findRoleByRoleId(db, mount.path, body.role_id);
      if (!role) throw invalid();
      const secret = await authStore.findSecretIdByHash(db, deps.hashSecretId(body.secret_id));
      if (!secret || secret.mount !== mount.path || secret.role_name !== role.name) throw invalid();
      note({ role: role.name, secret_id_accessor: secret.accessor });
      const stored = JSON.parse(role.config) as { token: RoleTokenFields; config: AppRoleConfig };
      if (secret.revoked_at !== null) throw new AppError('secret_id_revoked', 'the secret_id was revoked');
      if (secret.expires_at !== null && secret.expires_at <= now()) throw new AppError('secret_id_expired', 'the secret_id has expired');
      const cidrs = [stored.config.secret_id_bound_cidrs, secret.cidrs ? (JSON.parse(secret.cidrs) as string[]) : []];
      for (const list of cidrs) {
        if (list.length > 0 && !parseCidrs(list).contains(request.source)) throw new AppError('source_not_allowed', 'this secret_id may not be used from this address');
      }
      if (secret.uses_remaining !== null && secret.uses_remaining <= 0) throw new AppError('secret_id_exhausted', 'the secret_id has no uses left');
      return {
        role,
        token: stored.token,
        displayName: `approle-${mount.path}-${role.name}`,
        matched: { secret_id_accessor: secret.accessor, source: request.source },
        withinIssue: async (tx) => {
          if (secret.uses_remaining !== null && !(await authStore.spendSecretIdUse(tx, secret.accessor))) {
            throw new AppError('secret_id_exhausted', 'the secret_id has no uses left');
          }
        },
      };
    },
  };
}

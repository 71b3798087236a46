import type { Kysely } from 'kysely';
import { randomBytes } from 'node:crypto';
import { AppError } from '../../errors/app-error.js';
import { parseCidrs } from '../../lib/cidr.js';
import type { Authorizer } from '../../services/authorizer.js';
import type { Identity } from '../identity.types.js';
import type { AuthStore, SecretIdRow } from '../../storage/auth-store.js';
import type { Database } from '../../storage/schema.js';
import { transaction } from '../../storage/transaction.js';
import type { AuthService } from '../auth-service.js';
import { appRoleConfigOf } from './approle-method.js';

export interface AppRoleServiceDeps {
  db: Kysely<Database>;
  authStore: AuthStore;
  authorizer: Authorizer;
  auth: Pick<AuthService, 'mountOfType' | 'readRole' | 'roleOfType'>;
  hashSecretId: (secretId: string) => string;
  now: () => number;
}

export interface SecretIdInfo {
  accessor: string;
  createdBy: string;
  createdAt: number;
  expiresAt: number | null;
  usesRemaining: number | null;
  cidrs: string[];
  revoked: boolean;
}

const secretIdResource = (mount: string, role: string) => `sys:auth/${mount}/role/${role}/secret-id`;

function info(row: SecretIdRow): SecretIdInfo {
  return {
    accessor: row.accessor, createdBy: row.created_by, createdAt: row.created_at, expiresAt: row.expires_at, usesRemaining: row.uses_remaining,
    cidrs: row.cidrs ? (JSON.parse(row.cidrs) as string[]) : [], revoked: row.revoked_at !== null,
  };
}

/**
 * AppRole's secret ids: minted once (the only time the value exists outside the caller), listed
 * and revoked by accessor. Holding `create` on `sys:auth/<mount>/role/<name>/secret-id` is as
 * powerful as the role itself: grant it to the deployer of that workload only.
 */
export function createAppRoleService(deps: AppRoleServiceDeps) {
  const { db, authStore, authorizer, now } = deps;

  // Callers check the secret-id capability first, so a refused caller learns nothing about the role.
  const roleOf = (mount: string, role: string) => deps.auth.roleOfType(mount, 'approle', role);

  return {
    /** The stable role_id: needs `read` on the role. */
    async roleId(caller: Identity, mount: string, role: string): Promise<string> {
      await deps.auth.mountOfType(mount, 'approle');
      const info = await deps.auth.readRole(caller, mount, role);
      return info.roleId!;
    },

    /** Mints a secret id; the role's TTL and use limit apply, and a request may only narrow them. */
    async createSecretId(caller: Identity, mount: string, role: string, input: { ttlSeconds?: number; numUses?: number; cidrs?: string[] } = {}): Promise<{ secretId: string; info: SecretIdInfo }> {
      await authorizer.require(caller, 'create', secretIdResource(mount, role));
      const roleInfo = await roleOf(mount, role);
      const config = appRoleConfigOf(roleInfo.config);
      let ttl = config.secret_id_ttl;
      if (input.ttlSeconds !== undefined) {
        if (!Number.isInteger(input.ttlSeconds) || input.ttlSeconds < 1) throw new AppError('validation_failed', 'ttl must be a positive number of seconds');
        ttl = ttl === 0 ? input.ttlSeconds : Math.min(ttl, input.ttlSeconds);
      }
      let uses = config.secret_id_num_uses;
      if (input.numUses !== undefined) {
        if (!Number.isInteger(input.numUses) || input.numUses < 1) throw new AppError('validation_failed', 'num_uses must be a positive integer');
        uses = uses === 0 ? input.numUses : Math.min(uses, input.numUses);
      }
      if (input.cidrs?.length) {
        try {
          parseCidrs(input.cidrs);
        } catch (error) {
          throw new AppError('validation_failed', `cidrs: ${(error as Error).message}`);
        }
      }
      const at = now();
      const secretId = `csi_${randomBytes(32).toString('base64url')}`;
      const row: SecretIdRow = {
        accessor: `sia_${randomBytes(12).toString('base64url')}`, mount, role_name: role, secret_hash: deps.hashSecretId(secretId),
        created_by: caller.accessor, created_at: at, expires_at: ttl > 0 ? at + ttl * 1000 : null, uses_remaining: uses > 0 ? uses : null,
        cidrs: input.cidrs?.length ? JSON.stringify(input.cidrs) : null, revoked_at: null,
      };
      caller.audit?.annotate({ detail: { mount, role, secret_id_accessor: row.accessor } });
      await transaction(db, caller.audit, (tx) => authStore.insertSecretId(tx, row));
      return { secretId, info: info(row) };
    },

    /** Accessors and limits only: a secret id is never readable after its creation. */
    async listSecretIds(caller: Identity, mount: string, role: string): Promise<SecretIdInfo[]> {
      await authorizer.require(caller, 'list', secretIdResource(mount, role));
      await roleOf(mount, role);
      return (await authStore.listSecretIds(db, mount, role)).map(info);
    },

    async revokeSecretId(caller: Identity, mount: string, role: string, accessor: string): Promise<void> {
      await authorizer.require(caller, 'delete', secretIdResource(mount, role));
      await roleOf(mount, role);
      caller.audit?.annotate({ detail: { mount, role, secret_id_accessor: accessor } });
      const revoked = await transaction(db, caller.audit, (tx) => authStore.revokeSecretId(tx, mount, role, accessor, now()));
      if (!revoked) throw new AppError('secret_id_not_found', 'no active secret_id of this role has that accessor');
    },
  };
}

export type AppRoleService = ReturnType<typeof createAppRoleService>;

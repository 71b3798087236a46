import { requireHeldPolicies } from '../policy/grants.js';
import type { Kysely, Transaction } from 'kysely';
import { randomBytes } from 'node:crypto';
import { AppError } from '../errors/app-error.js';
import type { TransactionAuditor } from '../lib/audit-scope.js';
import type { ChangeBus } from '../lib/change-bus.js';
import type { Authorizer } from '../services/authorizer.js';
import type { IdentityService, TokenInfo } from './tokens/identity-service.js';
import type { Identity } from './identity.types.js';
import type { AuthMountRow, AuthRoleRow, AuthStore } from '../storage/auth-store.js';
import type { Database } from '../storage/schema.js';
import { auditedTransaction, transaction, type TransactionRunner } from '../storage/transaction.js';
import type { AuthMethod } from './auth-method.types.js';
import type { LoginLookups } from './login-lookups.js';
import { MOUNT_PATTERN, NAME_PATTERN, tokenFieldsJson, type RoleTokenFields } from './role-common.js';

export interface AuthServiceDeps {
  db: Kysely<Database>;
  authStore: AuthStore;
  authorizer: Authorizer;
  identity: Pick<IdentityService, 'issueWithin' | 'revokeIssuedBy' | 'tokensChanged'>;
  changes: ChangeBus;
  methods: AuthMethod[];
  now: () => number;
  /**
   * Runs a login that only issues a token (nothing else consumed, unlike an AppRole secret id's
   * use) durable against a process crash but not fsynced (SQLite synchronous=NORMAL, as audit
   * batches are): an OS crash may lose the last moments' logins, whose callers log in again,
   * and a login no longer waits for a disk flush of its own. Concurrent logins may share one
   * commit (SQLite's group commit). Absent: a full transaction.
   */
  tokenOnlyTransaction?: TransactionRunner;
  /**
   * Runs any other login's transaction (one that also consumes or updates something) with full
   * durability, possibly sharing its commit with concurrent logins (SQLite's group commit).
   * Absent: a transaction of its own.
   */
  loginTransaction?: TransactionRunner;
  /** Mount rows for logins, reused briefly (dropped on every `auth` change this service publishes). */
  lookups?: Pick<LoginLookups, 'findMount'>;
}

export interface MountInfo {
  path: string;
  type: string;
  description: string | null;
  config: Record<string, unknown>;
  createdAt: number;
}

export interface RoleInfo {
  mount: string;
  name: string;
  type: string;
  roleId: string | null;
  token: ReturnType<typeof tokenFieldsJson>;
  config: Record<string, unknown>;
  updatedAt: number;
}

export interface LoginResult {
  token: string;
  info: TokenInfo;
  role: string;
  mount: string;
  method: string;
}

const mountResource = (mount: string) => `sys:auth/${mount}`;
const roleResource = (mount: string, role: string) => `sys:auth/${mount}/role/${role}`;

function checkMountName(path: string): void {
  if (!MOUNT_PATTERN.test(path)) throw new AppError('validation_failed', 'a mount path is 1-64 characters of a-z 0-9 _ - starting with a letter or digit');
}
function checkRoleName(name: string): void {
  if (!NAME_PATTERN.test(name)) throw new AppError('validation_failed', 'a role name is 1-128 characters of A-Z a-z 0-9 _ . @ - starting with a letter or digit');
}

/**
 * Auth methods mounted by name: mounts, roles (with the rule that nobody hands out policies they
 * do not hold), and logins that end in an ordinary token issued by the identity service.
 * Policies name the resources `sys:auth` (list mounts), `sys:auth/<mount>` (enable, read,
 * configure, disable) and `sys:auth/<mount>/role/<name>` (roles).
 */
export function createAuthService(deps: AuthServiceDeps) {
  const { db, authStore, authorizer, now } = deps;
  const methods = new Map(deps.methods.map((m) => [m.type, m]));
  deps.changes.subscribe((topic, key) => {
    if (topic !== 'auth') return;
    // '*': another node's notifications may have been lost, so forget every mount. A role's
    // change (`<mount>/role/<name>`) leaves the mount's key material alone.
    if (key.includes('/role/')) return;
    for (const method of methods.values()) method.forget?.(key);
  });

  function methodOf(type: string): AuthMethod {
    const method = methods.get(type);
    if (!method) throw new AppError('auth_method_unsupported', `unknown auth method "${type}" (supported: ${[...methods.keys()].join(', ')})`);
    return method;
  }

  async function mountOf(path: string, forLogin = false): Promise<AuthMountRow> {
    checkMountName(path);
    const row = forLogin && deps.lookups ? await deps.lookups.findMount(path) : await authStore.findMount(db, path);
    if (!row) throw new AppError('auth_mount_not_found', `no auth method is mounted at "${path}"`);
    return row;
  }

  const mountInfo = (row: AuthMountRow): MountInfo => ({ path: row.path, type: row.type, description: row.description, config: JSON.parse(row.config) as Record<string, unknown>, createdAt: row.created_at });

  function roleInfo(mount: AuthMountRow, row: AuthRoleRow): RoleInfo {
    const stored = JSON.parse(row.config) as { token: RoleTokenFields; config: Record<string, unknown> };
    const method = methods.get(mount.type);
    const config = method?.publicConfig ? method.publicConfig(stored.config) : stored.config;
    return { mount: mount.path, name: row.name, type: mount.type, roleId: row.role_id, token: tokenFieldsJson(stored.token), config, updatedAt: row.updated_at };
  }

  return {
    async listMounts(caller: Identity): Promise<MountInfo[]> {
      await authorizer.require(caller, 'list', 'sys:auth');
      return (await authStore.listMounts(db)).map(mountInfo);
    },

    async readMount(caller: Identity, path: string): Promise<MountInfo> {
      checkMountName(path);
      await authorizer.require(caller, 'read', mountResource(path));
      return mountInfo(await mountOf(path));
    },

    async enable(caller: Identity, path: string, input: { type: string; description?: string; config?: unknown }): Promise<MountInfo> {
      checkMountName(path);
      await authorizer.require(caller, 'create', mountResource(path));
      const method = methodOf(input.type);
      const config = await method.parseMountConfig(input.config ?? {});
      const at = now();
      const row = { path, type: method.type, description: input.description?.slice(0, 256) ?? null, config: JSON.stringify(config), created_at: at, updated_at: at };
      caller.audit?.annotate({ detail: { mount: path, method: method.type } });
      await transaction(db, caller.audit, async (tx) => {
        if (await authStore.findMount(tx, path)) throw new AppError('auth_mount_exists', `an auth method is already mounted at "${path}"`);
        await authStore.insertMount(tx, row);
      });
      return mountInfo(row);
    },

    async configure(caller: Identity, path: string, rawConfig: unknown): Promise<MountInfo> {
      checkMountName(path);
      await authorizer.require(caller, 'update', mountResource(path));
      const mount = await mountOf(path);
      const config = await methodOf(mount.type).parseMountConfig(rawConfig);
      caller.audit?.annotate({ detail: { mount: path, method: mount.type } });
      await transaction(db, caller.audit, (tx) => authStore.updateMountConfig(tx, path, JSON.stringify(config), now()));
      deps.changes.publish('auth', path);
      return mountInfo({ ...mount, config: JSON.stringify(config) });
    },

    /** Removes the mount, its roles and secret ids, and revokes every token its logins issued. */
    async disable(caller: Identity, path: string): Promise<{ revokedTokens: number }> {
      checkMountName(path);
      await authorizer.require(caller, 'delete', mountResource(path));
      await mountOf(path);
      const revokedTokens = await transaction(db, caller.audit, async (tx) => {
        const revoked = await deps.identity.revokeIssuedBy(tx, path);
        await authStore.deleteMount(tx, path);
        caller.audit?.annotate({ detail: { mount: path, revoked_tokens: revoked } });
        return revoked;
      });
      deps.identity.tokensChanged();
      deps.changes.publish('auth', path);
      return { revokedTokens };
    },

    async writeRole(caller: Identity, path: string, name: string, raw: unknown): Promise<RoleInfo> {
      checkMountName(path);
      checkRoleName(name);
      await authorizer.require(caller, 'update', roleResource(path, name));
      const mount = await mountOf(path);
      const method = methodOf(mount.type);
      const parsed = await method.parseRole(raw);
      // No privilege widening: a role can only hand out policies its author holds.
      requireHeldPolicies(caller, [...parsed.token.policies, ...(parsed.grants ?? [])], 'a role');
      const at = now();
      const config = JSON.stringify(parsed);
      caller.audit?.annotate({ detail: { mount: path, role: name } });
      const row = await transaction(db, caller.audit, async (tx) => {
        const existing = await authStore.findRole(tx, path, name);
        const roleId = existing?.role_id ?? (method.hasRoleIds ? `rid_${randomBytes(18).toString('base64url')}` : null);
        await authStore.upsertRole(tx, { mount: path, name, role_id: roleId, config, created_at: existing?.created_at ?? at, updated_at: at });
        return { mount: path, name, role_id: roleId, config, created_at: existing?.created_at ?? at, updated_at: at };
      });
      deps.changes.publish('auth', `${path}/role/${name}`);
      return roleInfo(mount, row);
    },

    async readRole(caller: Identity, path: string, name: string): Promise<RoleInfo> {
      checkMountName(path);
      checkRoleName(name);
      await authorizer.require(caller, 'read', roleResource(path, name));
      const mount = await mountOf(path);
      const row = await authStore.findRole(db, path, name);
      if (!row) throw new AppError('role_not_found', `no role "${name}" on mount "${path}"`);
      return roleInfo(mount, row);
    },

    /** Lists the roles the caller may read (names of others are not revealed). */
    async listRoles(caller: Identity, path: string): Promise<RoleInfo[]> {
      checkMountName(path);
      if (!(await authorizer.mayAccessUnder(caller, 'read', `sys:auth/${path}/role/`))) {
        throw new AppError('permission_denied', `permission denied: no policy grants "read" on roles of "${path}"`);
      }
      const mount = await mountOf(path);
      const out: RoleInfo[] = [];
      for (const row of await authStore.listRoles(db, path)) if (await authorizer.allows(caller, 'read', roleResource(path, row.name))) out.push(roleInfo(mount, row));
      return out;
    },

    async deleteRole(caller: Identity, path: string, name: string): Promise<void> {
      checkMountName(path);
      checkRoleName(name);
      await authorizer.require(caller, 'delete', roleResource(path, name));
      await mountOf(path);
      caller.audit?.annotate({ detail: { mount: path, role: name } });
      const deleted = await transaction(db, caller.audit, (tx) => authStore.deleteRole(tx, path, name));
      if (!deleted) throw new AppError('role_not_found', `no role "${name}" on mount "${path}"`);
      deps.changes.publish('auth', `${path}/role/${name}`);
    },

    /**
     * Anonymous: the credential in `body` is the authentication. One audit event either way,
     * naming method, mount, role and what matched; the credential itself never.
     */
    async login(path: string, body: unknown, source: string, audit: TransactionAuditor | undefined): Promise<LoginResult> {
      checkMountName(path);
      const mount = await mountOf(path, true);
      const method = methodOf(mount.type);
      audit?.annotate({ detail: { method: mount.type, mount: path } });
      const grant = await method.login(mount, { body, source }, (detail) => audit?.annotate({ detail }));
      audit?.annotate({ detail: { role: grant.role.name, matched: JSON.stringify(grant.matched) } });
      const issue = async (tx: Transaction<Database>) => {
        await grant.withinIssue?.(tx);
        const t = grant.token;
        const result = await deps.identity.issueWithin(tx, {
          policies: t.policies, env: t.env, ttlSeconds: t.ttlSeconds, maxTtlSeconds: t.maxTtlSeconds, boundCidrs: t.boundCidrs,
          displayName: grant.displayName, authMount: path, authRole: grant.role.name,
        });
        audit?.annotate({ detail: { created_accessor: result.info.accessor } });
        return result;
      };
      const run: TransactionRunner = (grant.withinIssue === undefined ? deps.tokenOnlyTransaction : deps.loginTransaction) ?? ((work) => db.transaction().execute(work));
      const issued = await auditedTransaction(run, audit, issue);
      return { ...issued, role: grant.role.name, mount: path, method: mount.type };
    },

    /** The first step of a two-step login (OIDC): where to send the browser. Anonymous, audited. */
    async startLogin(path: string, body: unknown, source: string, audit: TransactionAuditor | undefined): Promise<Record<string, unknown>> {
      checkMountName(path);
      const mount = await mountOf(path);
      const method = methodOf(mount.type);
      if (!method.startLogin) throw new AppError('auth_method_mismatch', `a ${mount.type} mount logs in in one step: POST /v1/auth/${path}/login`);
      audit?.annotate({ detail: { method: mount.type, mount: path } });
      return method.startLogin(mount, { body, source }, (detail) => audit?.annotate({ detail }));
    },

    /** For a method's own service, which authorized its call already: a role of a mount of `type`. */
    async roleOfType(path: string, type: string, name: string): Promise<RoleInfo> {
      checkRoleName(name);
      const mount = await mountOf(path);
      if (mount.type !== type) throw new AppError('auth_method_mismatch', `the mount "${path}" is a ${mount.type} mount, not ${type}`);
      const row = await authStore.findRole(db, path, name);
      if (!row) throw new AppError('role_not_found', `no role "${name}" on mount "${path}"`);
      return roleInfo(mount, row);
    },

    /** For methods' own extra routes (AppRole secret ids): the mount row, type-checked. */
    async mountOfType(path: string, type: string): Promise<AuthMountRow> {
      const mount = await mountOf(path);
      if (mount.type !== type) throw new AppError('auth_method_mismatch', `the mount "${path}" is a ${mount.type} mount, not ${type}`);
      return mount;
    },
  };
}

export type AuthService = ReturnType<typeof createAuthService>;

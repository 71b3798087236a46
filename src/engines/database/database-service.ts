/**
 * Dynamic database credentials: `createDatabaseService(deps)` keeps roles (statement templates,
 * TTLs, an optional environment binding), issues a new database user per request with a lease,
 * renews and revokes those users for the lease manager, and rotates a connection's admin
 * password. Connections and pools are connections.ts; quoting is templates.ts and dialects.ts.
 *
 * Order of issuance, for crash safety: the lease row commits first (with the request's audit
 * event), then the user is created. A crash in between leaves a lease whose revocation finds
 * no user, which counts as done; never a user without a lease. Passwords are never stored.
 */
import { AppError } from '../../errors/app-error.js';
import type { Identity } from '../../auth/identity.types.js';
import { generatePassword } from '../../crypto/password.js';
import { databaseResource } from '../../policy/policy.js';
import type { DatabaseRoleRow } from '../../storage/database-store.js';
import { transaction } from '../../storage/transaction.js';
import type { Lease } from '../../leases/lease.types.js';
import { createConnections, scrubbed, validateName } from './connections.js';
import type { DatabaseServiceDeps, IssuedCredential, RoleInfo, RoleInput } from './database.types.js';
import { pluginOf, type DatabasePlugin } from './plugins.js';
import { findOrphans } from './orphans.js';
import type { CommandAction, CommandValues } from './command-plugin.js';
import { checkUsernameTemplate, parseStatements, renderStatement, renderUsername } from './templates.js';

export const LEASE_ENGINE = 'database';
const DEFAULT_USERNAME_TEMPLATE = 'v_{{role|10}}_{{display_name|8}}_{{random}}';
const DEFAULT_TTL = 3600;
const MAX_TTL_LIMIT = 365 * 86_400;
const ENV = /^[A-Za-z0-9_.-]{1,64}$/;

const list = (text: string) => JSON.parse(text) as string[];

function roleInfo(r: DatabaseRoleRow): RoleInfo {
  return {
    name: r.name, connection: r.connection, env: r.env, creationStatements: list(r.creation_statements), revocationStatements: list(r.revocation_statements),
    renewStatements: list(r.renew_statements), rollbackStatements: list(r.rollback_statements), usernameTemplate: r.username_template ?? DEFAULT_USERNAME_TEMPLATE,
    passwordLength: r.password_length, defaultTtl: r.default_ttl, maxTtl: r.max_ttl, createdAt: r.created_at, updatedAt: r.updated_at,
  };
}

/** The role's statements of one kind, or the plugin's defaults when it has none. */
const statementsOf = (role: Pick<RoleInfo, 'revocationStatements' | 'renewStatements' | 'rollbackStatements'> | null, plugin: DatabasePlugin, kind: 'revocation' | 'renew' | 'rollback') => {
  const own = role ? { revocation: role.revocationStatements, renew: role.renewStatements, rollback: role.rollbackStatements }[kind] : [];
  return own.length > 0 ? own : plugin.defaults[kind];
};

export function createDatabaseService(deps: DatabaseServiceDeps) {
  const { db, store, authorizer, leases, now } = deps;
  const connections = createConnections(deps);

  async function findRole(name: string): Promise<RoleInfo> {
    const row = await store.findRole(db, name);
    if (!row) throw new AppError('database_role_not_found', `database role "${name}" does not exist`);
    return roleInfo(row);
  }

  /**
   * Runs rendered statements on a connection; a failure's message never carries the password.
   * A command plugin's `create` may answer the credential it really issued.
   */
  async function runOn(connection: string, action: CommandAction, templates: readonly string[], values: CommandValues): Promise<{ password?: string }> {
    const { pool, plugin } = await connections.poolOf(connection);
    if (pool.perform) {
      try {
        return (await pool.perform(action, values)) ?? {};
      } catch (error) {
        throw new AppError('database_statement_failed', `database "${connection}": ${action}: ${scrubbed(error, values.password === undefined ? [] : [values.password])}`);
      }
    }
    const statements = templates.map((t) => renderStatement(plugin.dialect, t, values));
    try {
      await pool.run(statements);
      return {};
    } catch (error) {
      const hidden = values.password === undefined ? [] : [values.password, plugin.dialect.passwordLiteral(values.password).slice(1, -1)];
      throw new AppError('database_statement_failed', `database "${connection}": ${scrubbed(error, hidden)}`);
    }
  }

  // The lease manager calls these for leases this engine issued.
  leases.register(LEASE_ENGINE, {
    resourceOf: (lease: Lease) => databaseResource('creds', lease.role),
    groupOf: (lease: Lease) => `database connection "${lease.data.connection}"`,
    async revoke(lease: Lease) {
      const username = lease.data.username!;
      const { pool, plugin } = await connections.poolOf(lease.data.connection!);
      // Already gone (dropped before a crash, or never created): revoked.
      if (!(await pool.userExists(username))) return;
      const role = await store.findRole(db, lease.role);
      await runOn(lease.data.connection!, 'revoke', statementsOf(role ? roleInfo(role) : null, plugin, 'revocation'), { name: username, role: lease.role });
    },
    async renew(lease: Lease, expiresAt: number) {
      const { plugin, pool } = await connections.poolOf(lease.data.connection!);
      const role = await store.findRole(db, lease.role);
      const statements = statementsOf(role ? roleInfo(role) : null, plugin, 'renew');
      if (statements.length > 0 || pool.perform) await runOn(lease.data.connection!, 'renew', statements, { name: lease.data.username!, expiration: expiresAt, role: lease.role });
    },
  });

  return {
    connections: {
      configure: connections.configure, read: connections.read, list: connections.list, delete: connections.delete,
    },

    async writeRole(caller: Identity, name: string, input: RoleInput): Promise<RoleInfo> {
      validateName('role', name);
      await authorizer.require(caller, 'update', databaseResource('roles', name));
      const connection = await connections.find(input.connection);
      const plugin = pluginOf(connection.plugin);
      const creation = parseStatements(input.creationStatements, 'creation_statements');
      if (creation.length === 0 && plugin.name !== 'command') throw new AppError('validation_failed', 'creation_statements are required', { details: { field: 'creation_statements' } });
      const revocation = parseStatements(input.revocationStatements ?? [], 'revocation_statements');
      const renew = parseStatements(input.renewStatements ?? [], 'renew_statements');
      const rollback = parseStatements(input.rollbackStatements ?? [], 'rollback_statements');
      const usernameTemplate = input.usernameTemplate ?? DEFAULT_USERNAME_TEMPLATE;
      checkUsernameTemplate(usernameTemplate, plugin.dialect, name);
      const defaultTtl = input.defaultTtl ?? DEFAULT_TTL;
      const maxTtl = input.maxTtl ?? Math.max(defaultTtl, 24 * 3600);
      if (!Number.isInteger(defaultTtl) || defaultTtl < 1 || !Number.isInteger(maxTtl) || maxTtl < defaultTtl || maxTtl > MAX_TTL_LIMIT) {
        throw new AppError('validation_failed', `default_ttl must be at least 1 s and max_ttl at least default_ttl and at most ${MAX_TTL_LIMIT} s`, { details: { field: 'max_ttl' } });
      }
      const passwordLength = input.passwordLength ?? 32;
      if (!Number.isInteger(passwordLength) || passwordLength < 16 || passwordLength > 128) throw new AppError('validation_failed', 'password_length must be 16-128', { details: { field: 'password_length' } });
      const env = input.env ?? null;
      if (env !== null && !ENV.test(env)) throw new AppError('validation_failed', 'env must be 1-64 characters of A-Za-z0-9_.-', { details: { field: 'env' } });
      const at = now();
      await transaction(db, caller.audit, (tx) => store.upsertRole(tx, {
        name, connection: input.connection, env, creation_statements: JSON.stringify(creation), revocation_statements: JSON.stringify(revocation),
        renew_statements: JSON.stringify(renew), rollback_statements: JSON.stringify(rollback), username_template: input.usernameTemplate ?? null,
        password_length: passwordLength, default_ttl: defaultTtl, max_ttl: maxTtl, created_at: at, updated_at: at,
      }));
      return findRole(name);
    },

    async readRole(caller: Identity, name: string): Promise<RoleInfo> {
      validateName('role', name);
      await authorizer.require(caller, 'read', databaseResource('roles', name));
      return findRole(name);
    },

    async listRoles(caller: Identity, after: string | undefined, limit: number): Promise<{ names: string[]; next: string | null }> {
      await authorizer.require(caller, 'list', databaseResource('roles', '*'));
      const rows = await store.listRoles(db, after, limit + 1);
      const names = rows.slice(0, limit).map((r) => r.name);
      return { names, next: rows.length > limit ? names[names.length - 1]! : null };
    },

    /** Deleting a role leaves its leases: they are still revoked, with the plugin's default statements. */
    async deleteRole(caller: Identity, name: string): Promise<void> {
      validateName('role', name);
      await authorizer.require(caller, 'delete', databaseResource('roles', name));
      if (!(await transaction(db, caller.audit, (tx) => store.deleteRole(tx, name)))) throw new AppError('database_role_not_found', `database role "${name}" does not exist`);
    },

    /**
     * A new database user for the caller, with a lease of the role's default TTL (or `ttl`,
     * at most max_ttl). Needs `read` on `database:creds/ROLE`; a role bound to an environment
     * answers only tokens bound to that same environment or unbound ones, and an
     * environment-bound token gets nothing from an unbound role.
     */
    async issue(caller: Identity, roleName: string, options: { ttl?: number } = {}): Promise<IssuedCredential> {
      validateName('role', roleName);
      const role = await findRole(roleName).catch(async (error) => {
        // Existence is not told to a caller who could not use the role anyway.
        await authorizer.require(caller, 'read', databaseResource('creds', roleName));
        throw error;
      });
      await authorizer.require(caller, 'read', databaseResource('creds', roleName));
      if (caller.env !== null && role.env !== caller.env) {
        throw new AppError('environment_denied', `permission denied: token is bound to environment "${caller.env}"; role "${roleName}" is ${role.env === null ? 'not bound to it' : 'bound to another environment'}`);
      }
      const connection = await connections.find(role.connection);
      const allowed = JSON.parse(connection.allowed_roles) as string[];
      if (!allowed.includes('*') && !allowed.includes(roleName)) throw new AppError('database_role_not_allowed', `role "${roleName}" is not in the allowed roles of connection "${connection.name}"`);
      const plugin = pluginOf(connection.plugin);
      const ttl = Math.min(options.ttl ?? role.defaultTtl, role.maxTtl);
      if (!Number.isInteger(ttl) || ttl < 1) throw new AppError('validation_failed', 'ttl must be a positive number of seconds', { details: { field: 'ttl' } });

      const username = renderUsername(role.usernameTemplate, { role: roleName, displayName: caller.displayName, now: now() }, plugin.dialect.maxUsernameLength);
      let password = generatePassword({ length: role.passwordLength });
      const lease = await transaction(db, caller.audit, async (tx) => {
        const issued = await leases.issue(tx, {
          prefix: `database/creds/${roleName}`, engine: LEASE_ENGINE, role: roleName, env: role.env, accessor: caller.accessor,
          data: { connection: connection.name, username }, handle: username, ttlSeconds: ttl, maxTtlSeconds: role.maxTtl, renewable: true,
        });
        caller.audit?.annotate({ detail: { lease_id: issued.id, username } });
        return issued;
      });
      try {
        password = (await runOn(connection.name, 'create', role.creationStatements, { name: username, password, expiration: lease.expiresAt, role: roleName })).password ?? password;
      } catch (error) {
        // Undo what part of the creation ran; the lease then revokes a user that may not exist.
        await runOn(connection.name, 'rollback', statementsOf(role, plugin, 'rollback'), { name: username, role: roleName }).catch((e) => deps.logger.warn({ lease: lease.id, err: (e as Error).message }, 'database rollback statements failed'));
        await leases.abandon(lease.id, (error as Error).message);
        throw error;
      }
      return { username, password, leaseId: lease.id, leaseDuration: Math.round((lease.expiresAt - lease.issuedAt) / 1000), renewable: true, expiresAt: lease.expiresAt };
    },

    /**
     * A new password for the connection's admin user: stored first as a PENDING version of the
     * admin secret, then set in the database, then made CURRENT. A failure before the database
     * changed leaves CURRENT working; after, PENDING holds the password that works.
     */
    async rotateRoot(caller: Identity, name: string): Promise<{ name: string; versionId: string }> {
      validateName('connection', name);
      await authorizer.require(caller, 'rotate', databaseResource('config', name));
      const row = await connections.find(name);
      const { admin, versionId: currentId, text } = await connections.adminOf(caller, row);
      const password = generatePassword({ length: 32 });
      const next = JSON.stringify({ ...(JSON.parse(text) as Record<string, unknown>), password });
      const written = await deps.secrets.putValue(caller, { name: row.admin_secret }, { value: { kind: 'string', text: next }, labels: ['PENDING'] });
      const { pool } = await connections.poolOf(name);
      try {
        await pool.run([await pool.rotateOwnPassword(password)]);
      } catch (error) {
        throw new AppError('database_statement_failed', `rotating the admin password of "${name}" failed; CURRENT still holds the working one: ${scrubbed(error, [password, admin.password])}`);
      }
      await deps.secrets.moveLabel(caller, { name: row.admin_secret }, { label: 'CURRENT', moveToVersionId: written.versionId, removeFromVersionId: currentId });
      await transaction(db, undefined, (tx) => store.markRootRotated(tx, name, now()));
      connections.closePool(name);
      return { name, versionId: written.versionId };
    },

    /**
     * Users on the connection that look like this engine's (by the roles' username templates)
     * and have no unrevoked lease; with `drop`, each is revoked with its role's statements.
     */
    async orphans(caller: Identity, name: string, options: { drop?: boolean } = {}): Promise<{ username: string; role: string; dropped?: boolean; error?: string }[]> {
      validateName('connection', name);
      await authorizer.require(caller, options.drop ? 'delete' : 'list', databaseResource('config', name));
      const { pool, plugin, admin } = await connections.poolOf(name);
      const orphans = await findOrphans({
        roles: await store.rolesOf(db, name), defaultTemplate: DEFAULT_USERNAME_TEMPLATE, adminUser: admin.username,
        usersWithPrefix: (prefix, limit) => pool.usersWithPrefix(prefix, limit), liveHandles: (handles) => leases.liveHandles(LEASE_ENGINE, handles),
      });
      if (!options.drop) return orphans;
      const out: { username: string; role: string; dropped?: boolean; error?: string }[] = [];
      for (const o of orphans) {
        const role = await store.findRole(db, o.role);
        try {
          await runOn(name, 'revoke', statementsOf(role ? roleInfo(role) : null, plugin, 'revocation'), { name: o.username, role: o.role });
          out.push({ ...o, dropped: true });
        } catch (error) {
          out.push({ ...o, dropped: false, error: (error as Error).message });
        }
      }
      return out;
    },

    closeAll: () => connections.closeAll(),
  };
}

export type DatabaseService = ReturnType<typeof createDatabaseService>;

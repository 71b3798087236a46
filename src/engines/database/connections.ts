/**
 * Database connections: configuration (plugin, the secret holding the admin credential, the
 * roles allowed to use it), verification on write, and one bounded pool per connection. The
 * admin credential is read through the secrets engine every time a pool is needed; a pool
 * opened with an older version of the secret is closed and replaced, so a rotated admin
 * password takes effect at once.
 */
import { AppError } from '../../errors/app-error.js';
import type { Identity } from '../../auth/identity.types.js';
import { SYSTEM_IDENTITY } from '../../auth/identity.types.js';
import { databaseResource } from '../../policy/policy.js';
import type { DatabaseConnectionRow } from '../../storage/database-store.js';
import { transaction } from '../../storage/transaction.js';
import type { ConnectionInfo, DatabaseServiceDeps } from './database.types.js';
import { commandPool, parseCommandSettings } from './command-plugin.js';
import { parseAdminCredential, pluginOf, type AdminCredential, type AdminPool, type DatabasePlugin } from './plugins.js';

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_ERROR = 300;

export function validateName(kind: string, name: unknown): asserts name is string {
  if (typeof name !== 'string' || !NAME.test(name)) throw new AppError('invalid_name', `a ${kind} name is 1-64 characters of A-Za-z0-9_.-`);
}

export const connectionInfo = (r: DatabaseConnectionRow): ConnectionInfo => ({
  name: r.name, plugin: r.plugin, adminSecret: r.admin_secret, allowedRoles: JSON.parse(r.allowed_roles) as string[],
  createdAt: r.created_at, updatedAt: r.updated_at, rootRotatedAt: r.root_rotated_at,
});

/** A driver error as a public message, with every form of `secrets` cut out (a syntax error can echo SQL text). */
export function scrubbed(error: unknown, secrets: readonly string[]): string {
  let text = (error instanceof Error ? error.message : String(error)).slice(0, 2000);
  for (const s of secrets) if (s) text = text.split(s).join('[redacted]');
  return text.slice(0, MAX_ERROR);
}

interface OpenPool { versionId: string; pool: Promise<AdminPool> }

export function createConnections(deps: DatabaseServiceDeps) {
  const { db, store, secrets, authorizer, now } = deps;
  const pools = new Map<string, OpenPool>();
  const poolSize = deps.poolSize ?? 4;

  /** The admin credential, its version, and the secret's own text (rotate-root keeps every other field as it is). */
  async function adminOf(caller: Identity, row: Pick<DatabaseConnectionRow, 'admin_secret' | 'plugin'>): Promise<{ admin: AdminCredential; versionId: string; text: string }> {
    const value = await secrets.getValue(caller, { name: row.admin_secret });
    if (value.value.kind !== 'string') throw new AppError('validation_failed', `admin secret "${row.admin_secret}" must be a string (JSON) value`);
    return { admin: parseAdminCredential(value.value.text, row.admin_secret, pluginOf(row.plugin).name), versionId: value.versionId, text: value.value.text };
  }

  function closePool(name: string): void {
    const open = pools.get(name);
    pools.delete(name);
    void open?.pool.then((p) => p.end()).catch(() => undefined);
  }

  async function find(name: string): Promise<DatabaseConnectionRow> {
    const row = await store.findConnection(db, name);
    if (!row) throw new AppError('database_connection_not_found', `database connection "${name}" does not exist`);
    return row;
  }

  /** The connection's pool, opened with the admin secret's CURRENT version (read as the engine). */
  async function poolOf(name: string): Promise<{ pool: AdminPool; plugin: DatabasePlugin; admin: AdminCredential }> {
    const row = await find(name);
    const plugin = pluginOf(row.plugin);
    const { admin, versionId, text } = await adminOf(SYSTEM_IDENTITY, row);
    let open = pools.get(name);
    if (!open || open.versionId !== versionId) {
      if (open) closePool(name);
      const opening = plugin.name === 'command' ? Promise.resolve(commandPool(parseCommandSettings(JSON.parse(row.command ?? 'null')), text)) : plugin.openPool(admin, poolSize);
      open = { versionId, pool: opening };
      pools.set(name, open);
      open.pool.catch(() => pools.get(name) === open && pools.delete(name));
    }
    return { pool: await open.pool, plugin, admin };
  }

  return {
    find,
    poolOf,
    closePool,
    adminOf,

    /**
     * Creates or replaces a connection. The caller must be able to read the admin secret
     * itself (no one points a connection at a credential they could not read), and the
     * database must accept it, unless `verify` is false.
     */
    async configure(caller: Identity, name: string, input: { plugin: string; adminSecret: string; allowedRoles: string[]; verify?: boolean; command?: unknown }): Promise<ConnectionInfo> {
      validateName('connection', name);
      await authorizer.require(caller, 'update', databaseResource('config', name));
      const plugin = pluginOf(input.plugin);
      // A connection that runs a program on the server spans every environment, as command rotators do.
      const command = plugin.name === 'command' ? parseCommandSettings(input.command) : null;
      if (command) await authorizer.require(caller, 'update', 'sys:database/command');
      else if (input.command !== undefined) throw new AppError('validation_failed', 'command applies only to the command plugin', { details: { field: 'command' } });
      for (const role of input.allowedRoles) if (role !== '*') validateName('role', role);
      const { admin } = await adminOf(caller, { admin_secret: input.adminSecret, plugin: plugin.name });
      if (input.verify !== false && !command) {
        try {
          const pool = await plugin.openPool(admin, 1);
          try {
            await pool.userExists(admin.username);
          } finally {
            await pool.end().catch(() => undefined);
          }
        } catch (error) {
          throw new AppError('database_connection_failed', `cannot connect to ${plugin.name} at ${admin.host}:${admin.port} as "${admin.username}": ${scrubbed(error, [admin.password])}`);
        }
      }
      const at = now();
      await transaction(db, caller.audit, (tx) => store.upsertConnection(tx, {
        name, plugin: plugin.name, admin_secret: input.adminSecret, allowed_roles: JSON.stringify(input.allowedRoles), created_at: at, updated_at: at, root_rotated_at: null,
        command: command ? JSON.stringify(command) : null,
      }));
      closePool(name);
      return connectionInfo(await find(name));
    },

    async read(caller: Identity, name: string): Promise<ConnectionInfo> {
      validateName('connection', name);
      await authorizer.require(caller, 'read', databaseResource('config', name));
      return connectionInfo(await find(name));
    },

    async list(caller: Identity, after: string | undefined, limit: number): Promise<{ names: string[]; next: string | null }> {
      await authorizer.require(caller, 'list', databaseResource('config', '*'));
      const rows = await store.listConnections(db, after, limit + 1);
      const names = rows.slice(0, limit).map((r) => r.name);
      return { names, next: rows.length > limit ? names[names.length - 1]! : null };
    },

    async delete(caller: Identity, name: string): Promise<void> {
      validateName('connection', name);
      await authorizer.require(caller, 'delete', databaseResource('config', name));
      const deleted = await transaction(db, caller.audit, (tx) => store.deleteConnection(tx, name));
      if (!deleted) throw new AppError('database_connection_not_found', `database connection "${name}" does not exist`);
      closePool(name);
    },

    async closeAll(): Promise<void> {
      const open = [...pools.values()];
      pools.clear();
      await Promise.all(open.map((o) => o.pool.then((p) => p.end()).catch(() => undefined)));
    },
  };
}

export type Connections = ReturnType<typeof createConnections>;

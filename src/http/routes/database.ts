import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { DatabaseService } from '../../engines/database/database-service.js';
import type { ConnectionInfo, RoleInfo } from '../../engines/database/database.types.js';
import { PLUGINS } from '../../engines/database/plugins.js';
import { databaseResource } from '../../policy/policy.js';
import { identityOf } from '../request-context.js';

/**
 * Database engine routes: connections (`/v1/database/config/NAME`), roles
 * (`/v1/database/roles/NAME`), credentials (`GET` or `POST /v1/database/creds/ROLE`) and
 * `POST /v1/database/rotate-root/NAME`. Audit events name `database:…` resources and, for
 * issued credentials, the lease id and username, never the password. `GET` creds exists for
 * Vault-style clients; the UI's session cookie is SameSite=Strict, so no other site can make a
 * browser issue credentials with it. Clients of our own use POST.
 */
const strict = { additionalProperties: false } as const;
const NameParam = Type.Object({ name: Type.String({ minLength: 1, maxLength: 64 }) });
const statements = Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), { maxItems: 32 });
const ConfigBody = Type.Object({
  plugin: Type.Union(PLUGINS.map((p) => Type.Literal(p))),
  admin_secret: Type.String({ minLength: 1, maxLength: 512 }),
  allowed_roles: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 1000 }),
  verify: Type.Optional(Type.Boolean()),
  command: Type.Optional(Type.Object({ path: Type.String({ minLength: 1, maxLength: 1024 }), args: Type.Optional(Type.Array(Type.String({ maxLength: 1024 }), { maxItems: 32 })), timeout_seconds: Type.Optional(Type.Integer()) }, strict)),
}, strict);
const RoleBody = Type.Object({
  connection: Type.String({ minLength: 1, maxLength: 64 }),
  creation_statements: statements,
  revocation_statements: Type.Optional(statements),
  renew_statements: Type.Optional(statements),
  rollback_statements: Type.Optional(statements),
  username_template: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  password_length: Type.Optional(Type.Integer()),
  default_ttl: Type.Optional(Type.Integer()),
  max_ttl: Type.Optional(Type.Integer()),
  env: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Null()])),
}, strict);
const CredsQuery = Type.Object({ ttl: Type.Optional(Type.Integer({ minimum: 1 })) }, strict);
const CredsBody = Type.Object({ ttl: Type.Optional(Type.Integer({ minimum: 1 })) }, strict);
const ListQuery = Type.Object({ after: Type.Optional(Type.String({ maxLength: 64 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) }, strict);

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const connectionJson = (c: ConnectionInfo) => ({
  name: c.name, plugin: c.plugin, admin_secret: c.adminSecret, allowed_roles: c.allowedRoles, created_at: iso(c.createdAt), updated_at: iso(c.updatedAt), root_rotated_at: iso(c.rootRotatedAt),
});
const roleJson = (r: RoleInfo) => ({
  name: r.name, connection: r.connection, env: r.env, creation_statements: r.creationStatements, revocation_statements: r.revocationStatements,
  renew_statements: r.renewStatements, rollback_statements: r.rollbackStatements, username_template: r.usernameTemplate, password_length: r.passwordLength,
  default_ttl: r.defaultTtl, max_ttl: r.maxTtl, created_at: iso(r.createdAt), updated_at: iso(r.updatedAt),
});

const nameOf = (request: FastifyRequest) => (request.params as { name: string }).name;
const target = (request: FastifyRequest, kind: 'config' | 'roles' | 'creds') => (request.audit.secretName = databaseResource(kind, nameOf(request)));

export function databaseRoutes(database: DatabaseService) {
  return (app: FastifyInstance): void => {
    const tags = ['database'];
    app.post('/v1/database/config/:name', { schema: { params: NameParam, body: ConfigBody, tags }, config: { operation: 'database.config.write' } }, async (request) => {
      target(request, 'config');
      const b = request.body as { plugin: string; admin_secret: string; allowed_roles: string[]; verify?: boolean; command?: unknown };
      return connectionJson(await database.connections.configure(identityOf(request), nameOf(request), { plugin: b.plugin, adminSecret: b.admin_secret, allowedRoles: b.allowed_roles, verify: b.verify, command: b.command }));
    });
    app.get('/v1/database/config/:name', { schema: { params: NameParam, tags }, config: { operation: 'database.config.read' } }, async (request) => {
      target(request, 'config');
      return connectionJson(await database.connections.read(identityOf(request), nameOf(request)));
    });
    app.delete('/v1/database/config/:name', { schema: { params: NameParam, tags }, config: { operation: 'database.config.delete' } }, async (request) => {
      target(request, 'config');
      await database.connections.delete(identityOf(request), nameOf(request));
      return { deleted: nameOf(request) };
    });
    app.get('/v1/database/config', { schema: { querystring: ListQuery, tags }, config: { operation: 'database.config.list' } }, async (request) => {
      const q = request.query as { after?: string; limit?: number };
      const page = await database.connections.list(identityOf(request), q.after, q.limit ?? 100);
      return { connections: page.names, next_after: page.next };
    });

    app.post('/v1/database/roles/:name', { schema: { params: NameParam, body: RoleBody, tags }, config: { operation: 'database.role.write' } }, async (request) => {
      target(request, 'roles');
      const b = request.body as {
        connection: string; creation_statements: string[]; revocation_statements?: string[]; renew_statements?: string[]; rollback_statements?: string[];
        username_template?: string; password_length?: number; default_ttl?: number; max_ttl?: number; env?: string | null;
      };
      return roleJson(await database.writeRole(identityOf(request), nameOf(request), {
        connection: b.connection, creationStatements: b.creation_statements, revocationStatements: b.revocation_statements, renewStatements: b.renew_statements,
        rollbackStatements: b.rollback_statements, usernameTemplate: b.username_template, passwordLength: b.password_length, defaultTtl: b.default_ttl, maxTtl: b.max_ttl, env: b.env,
      }));
    });
    app.get('/v1/database/roles/:name', { schema: { params: NameParam, tags }, config: { operation: 'database.role.read' } }, async (request) => {
      target(request, 'roles');
      return roleJson(await database.readRole(identityOf(request), nameOf(request)));
    });
    app.delete('/v1/database/roles/:name', { schema: { params: NameParam, tags }, config: { operation: 'database.role.delete' } }, async (request) => {
      target(request, 'roles');
      await database.deleteRole(identityOf(request), nameOf(request));
      return { deleted: nameOf(request) };
    });
    app.get('/v1/database/roles', { schema: { querystring: ListQuery, tags }, config: { operation: 'database.role.list' } }, async (request) => {
      const q = request.query as { after?: string; limit?: number };
      const page = await database.listRoles(identityOf(request), q.after, q.limit ?? 100);
      return { roles: page.names, next_after: page.next };
    });

    const issue = async (request: FastifyRequest, ttl: number | undefined) => {
      target(request, 'creds');
      const c = await database.issue(identityOf(request), nameOf(request), { ttl });
      request.audit.detail = { ...request.audit.detail, lease_id: c.leaseId, username: c.username };
      return { username: c.username, password: c.password, lease_id: c.leaseId, lease_duration: c.leaseDuration, renewable: c.renewable, expires_at: iso(c.expiresAt) };
    };
    app.get('/v1/database/creds/:name', { schema: { params: NameParam, querystring: CredsQuery, tags }, config: { operation: 'database.creds' } }, async (request) =>
      issue(request, (request.query as { ttl?: number }).ttl));
    app.post('/v1/database/creds/:name', { schema: { params: NameParam, body: Type.Optional(CredsBody), tags }, config: { operation: 'database.creds' } }, async (request) =>
      issue(request, (request.body as { ttl?: number } | undefined)?.ttl));

    app.post('/v1/database/orphans/:name', { schema: { params: NameParam, body: Type.Optional(Type.Object({ drop: Type.Optional(Type.Boolean()) }, strict)), tags }, config: { operation: 'database.orphans' } }, async (request) => {
      target(request, 'config');
      const drop = (request.body as { drop?: boolean } | undefined)?.drop === true;
      const orphans = await database.orphans(identityOf(request), nameOf(request), { drop });
      request.audit.detail = { drop, orphans: orphans.length, dropped: orphans.filter((o) => o.dropped).length };
      return { orphans };
    });
    app.post('/v1/database/rotate-root/:name', { schema: { params: NameParam, tags }, config: { operation: 'database.rotate_root' } }, async (request) => {
      target(request, 'config');
      const r = await database.rotateRoot(identityOf(request), nameOf(request));
      request.audit.versionId = r.versionId;
      return { name: r.name, admin_secret_version: r.versionId };
    });
  };
}

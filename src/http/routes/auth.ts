import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { AuthService, MountInfo, RoleInfo } from '../../auth/auth-service.js';
import type { Identity } from '../../auth/identity.types.js';
import { identityOf } from '../request-context.js';
import { tokenJson } from './identity.js';

const strict = { additionalProperties: false } as const;
const MountParam = Type.Object({ mount: Type.String({ minLength: 1, maxLength: 64 }) }, strict);
const RoleParam = Type.Object({ mount: Type.String({ minLength: 1, maxLength: 64 }), name: Type.String({ minLength: 1, maxLength: 128 }) }, strict);
const EnableBody = Type.Object({
  type: Type.String({ minLength: 1, maxLength: 32 }),
  description: Type.Optional(Type.String({ maxLength: 256 })),
  config: Type.Optional(Type.Object({})),
}, strict);
// Each method validates its own fields strictly (zod) and names the offending one.
const AnyObject = Type.Object({});

const iso = (ms: number) => new Date(ms).toISOString();
const mountJson = (m: MountInfo) => ({ path: m.path, type: m.type, description: m.description, config: m.config, created_at: iso(m.createdAt) });
export const roleJson = (r: RoleInfo) => ({
  mount: r.mount, name: r.name, type: r.type, ...(r.roleId ? { role_id: r.roleId } : {}), ...r.token, ...r.config, updated_at: iso(r.updatedAt),
});

/** The identity logins run as: none. Only its auditor is used, so the login's event commits with its token. */
const ANONYMOUS: Identity = Object.freeze({ accessor: 'anonymous', displayName: 'anonymous', policies: [], env: null, isRoot: false, expiresAt: null });
export const loginAuditor = (request: FastifyRequest) => request.withTransactionAudit(ANONYMOUS).audit;

/** Mount management under /v1/sys/auth, roles and logins under /v1/auth/<mount>. */
export function authRoutes(auth: AuthService) {
  return (app: FastifyInstance): void => {
    app.get('/v1/sys/auth', { schema: { tags: ['auth'] }, config: { operation: 'auth.mount.list' } }, async (request) =>
      ({ mounts: (await auth.listMounts(identityOf(request))).map(mountJson) }));

    app.get('/v1/sys/auth/:mount', { schema: { params: MountParam, tags: ['auth'] }, config: { operation: 'auth.mount.read' } }, async (request) =>
      mountJson(await auth.readMount(identityOf(request), (request.params as { mount: string }).mount)));

    app.post('/v1/sys/auth/:mount', { schema: { params: MountParam, body: EnableBody, tags: ['auth'] }, config: { operation: 'auth.mount.enable' } }, async (request, reply) => {
      const body = request.body as { type: string; description?: string; config?: unknown };
      reply.code(201);
      return mountJson(await auth.enable(identityOf(request), (request.params as { mount: string }).mount, body));
    });

    app.put('/v1/sys/auth/:mount/config', { schema: { params: MountParam, body: AnyObject, tags: ['auth'] }, config: { operation: 'auth.mount.configure' } }, async (request) =>
      mountJson(await auth.configure(identityOf(request), (request.params as { mount: string }).mount, request.body)));

    app.delete('/v1/sys/auth/:mount', { schema: { params: MountParam, tags: ['auth'] }, config: { operation: 'auth.mount.disable' } }, async (request) => {
      const { mount } = request.params as { mount: string };
      const { revokedTokens } = await auth.disable(identityOf(request), mount);
      return { disabled: mount, revoked_tokens: revokedTokens };
    });

    app.get('/v1/auth/:mount/role', { schema: { params: MountParam, tags: ['auth'] }, config: { operation: 'auth.role.list' } }, async (request) =>
      ({ roles: (await auth.listRoles(identityOf(request), (request.params as { mount: string }).mount)).map(roleJson) }));

    app.get('/v1/auth/:mount/role/:name', { schema: { params: RoleParam, tags: ['auth'] }, config: { operation: 'auth.role.read' } }, async (request) => {
      const { mount, name } = request.params as { mount: string; name: string };
      return roleJson(await auth.readRole(identityOf(request), mount, name));
    });

    app.put('/v1/auth/:mount/role/:name', { schema: { params: RoleParam, body: AnyObject, tags: ['auth'] }, config: { operation: 'auth.role.write' } }, async (request) => {
      const { mount, name } = request.params as { mount: string; name: string };
      return roleJson(await auth.writeRole(identityOf(request), mount, name, request.body));
    });

    app.delete('/v1/auth/:mount/role/:name', { schema: { params: RoleParam, tags: ['auth'] }, config: { operation: 'auth.role.delete' } }, async (request) => {
      const { mount, name } = request.params as { mount: string; name: string };
      await auth.deleteRole(identityOf(request), mount, name);
      return { deleted: name };
    });

    // Anonymous: the credential in the body is the authentication.
    app.post('/v1/auth/:mount/login', { schema: { params: MountParam, body: AnyObject, tags: ['auth'] }, config: { operation: 'auth.login', anonymous: true, wrappable: true } }, async (request) => {
      const { mount } = request.params as { mount: string };
      const result = await auth.login(mount, request.body, request.ip, loginAuditor(request));
      return { token: result.token, method: result.method, mount: result.mount, role: result.role, ...tokenJson(result.info) };
    });

    // OIDC's first step: where to send the browser. Its second step is the login above, with `state` and `code`.
    app.post('/v1/auth/:mount/oidc/auth_url', { schema: { params: MountParam, body: AnyObject, tags: ['auth'] }, config: { operation: 'auth.oidc.auth_url', anonymous: true } }, async (request) => {
      const { mount } = request.params as { mount: string };
      return auth.startLogin(mount, request.body, request.ip, loginAuditor(request));
    });
  };
}

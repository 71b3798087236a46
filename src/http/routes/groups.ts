import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { GroupInfo, GroupService, MemberKind } from '../../auth/groups/group-service.js';
import { identityOf } from '../request-context.js';

const strict = { additionalProperties: false } as const;
const NameParam = Type.Object({ name: Type.String({ minLength: 1, maxLength: 64 }) }, strict);
const WriteBody = Type.Object({
  policies: Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { minItems: 1, maxItems: 64 }),
  description: Type.Optional(Type.String({ maxLength: 256 })),
}, strict);
const MemberBody = Type.Object({ kind: Type.Union([Type.Literal('role'), Type.Literal('accessor'), Type.Literal('aws_key')]), value: Type.String({ minLength: 1, maxLength: 200 }) }, strict);

const iso = (ms: number) => new Date(ms).toISOString();
const groupJson = (g: GroupInfo) => ({
  name: g.name, policies: g.policies, description: g.description, updated_at: iso(g.updatedAt),
  members: g.members.map((m) => ({ kind: m.kind, value: m.value, added_by: m.addedBy, added_at: iso(m.addedAt) })),
});

/** Groups under /v1/groups; policies name them `sys:groups/<name>`. */
export function groupRoutes(groups: GroupService) {
  return (app: FastifyInstance): void => {
    app.get('/v1/groups', { schema: { tags: ['groups'] }, config: { operation: 'group.list' } }, async (request) =>
      ({ groups: (await groups.list(identityOf(request))).map(groupJson) }));
    app.get('/v1/groups/:name', { schema: { params: NameParam, tags: ['groups'] }, config: { operation: 'group.read' } }, async (request) =>
      groupJson(await groups.read(identityOf(request), (request.params as { name: string }).name)));
    app.put('/v1/groups/:name', { schema: { params: NameParam, body: WriteBody, tags: ['groups'] }, config: { operation: 'group.write' } }, async (request) =>
      groupJson(await groups.write(identityOf(request), (request.params as { name: string }).name, request.body as { policies: string[]; description?: string })));
    app.delete('/v1/groups/:name', { schema: { params: NameParam, tags: ['groups'] }, config: { operation: 'group.delete' } }, async (request) => {
      const { name } = request.params as { name: string };
      await groups.remove(identityOf(request), name);
      return { deleted: name };
    });
    app.post('/v1/groups/:name/members', { schema: { params: NameParam, body: MemberBody, tags: ['groups'] }, config: { operation: 'group.member.add' } }, async (request) => {
      const { kind, value } = request.body as { kind: MemberKind; value: string };
      return groupJson(await groups.addMember(identityOf(request), (request.params as { name: string }).name, kind, value));
    });
    app.post('/v1/groups/:name/members/remove', { schema: { params: NameParam, body: MemberBody, tags: ['groups'] }, config: { operation: 'group.member.remove' } }, async (request) => {
      const { kind, value } = request.body as { kind: MemberKind; value: string };
      return groupJson(await groups.removeMember(identityOf(request), (request.params as { name: string }).name, kind, value));
    });
  };
}

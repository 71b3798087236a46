import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type TObject, type TProperties } from '@sinclair/typebox';
import { AppError } from '../../errors/app-error.js';
import type { TransitService } from '../../engines/transit/transit-service.js';
import type { ItemResult } from '../../engines/transit/batch.js';
import type { KeyInfo } from '../../engines/transit/transit.types.js';
import { KEY_TYPES } from '../../engines/transit/key-types.js';
import { transitResource } from '../../policy/policy.js';
import { identityOf } from '../request-context.js';

/**
 * Transit (encryption as a service). Key names contain `/`, so, as for secrets, the name is
 * the wildcard tail and the operation comes first: `POST /v1/transit/encrypt/prod/app/pii`.
 * Every operation takes one item in the body or `batch_input: [...]` (results in
 * `batch_results`, same order, each `{...}` or `{error: {code, message}}`). A batch whose items
 * do not have the documented shape is refused as a whole; content failures are per item.
 * Audit: one event per request on `transit:KEY`, with the item count, never a value.
 */
const strict = { additionalProperties: false } as const;
const b64 = Type.String({ maxLength: 16 * 1024 * 1024 });
const version = Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1 });
/** Large enough for 10,000 items of a few KiB; one batch is one request. */
export const TRANSIT_BODY_LIMIT = 32 * 1024 * 1024;

const NameParam = Type.Object({ '*': Type.String({ minLength: 1, maxLength: 256 }) });
const DatakeyParams = Type.Object({ mode: Type.Union([Type.Literal('plaintext'), Type.Literal('wrapped')]), '*': Type.String({ minLength: 1, maxLength: 256 }) });

function opBody(item: TProperties, required: string[]): TObject {
  const optional = Object.fromEntries(Object.entries(item).map(([k, v]) => [k, Type.Optional(v)]));
  const itemSchema = Type.Object(Object.fromEntries(Object.entries(item).map(([k, v]) => [k, required.includes(k) ? v : Type.Optional(v)])), strict);
  return Type.Object({ ...optional, batch_input: Type.Optional(Type.Array(itemSchema)) }, strict);
}

const aeadFields = { context: b64, associated_data: b64 };
const OPS = {
  encrypt: { body: opBody({ plaintext: b64, key_version: version, ...aeadFields }, ['plaintext']), required: ['plaintext'] },
  decrypt: { body: opBody({ ciphertext: b64, ...aeadFields }, ['ciphertext']), required: ['ciphertext'] },
  rewrap: { body: opBody({ ciphertext: b64, ...aeadFields }, ['ciphertext']), required: ['ciphertext'] },
  sign: { body: opBody({ input: b64, key_version: version }, ['input']), required: ['input'] },
  verify: { body: opBody({ input: b64, signature: b64 }, ['input', 'signature']), required: ['input', 'signature'] },
  hmac: { body: opBody({ input: b64, key_version: version, algorithm: Type.String({ maxLength: 16 }), context: b64 }, ['input']), required: ['input'] },
  'verify-hmac': { body: opBody({ input: b64, hmac: b64, algorithm: Type.String({ maxLength: 16 }), context: b64 }, ['input', 'hmac']), required: ['input', 'hmac'] },
} as const;
const DatakeyBody = opBody({ bits: Type.Integer(), ...aeadFields }, []);

const CreateKeyBody = Type.Object({ type: Type.Union(KEY_TYPES.map((t) => Type.Literal(t))), derived: Type.Optional(Type.Boolean()), exportable: Type.Optional(Type.Boolean()) }, strict);
const ConfigBody = Type.Object({ min_decryption_version: Type.Optional(version), min_encryption_version: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 })), deletion_allowed: Type.Optional(Type.Boolean()) }, strict);
const TrimBody = Type.Object({ min_available_version: version }, strict);
const ListQuery = Type.Object({ prefix: Type.Optional(Type.String({ maxLength: 256 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })), after: Type.Optional(Type.String({ maxLength: 256 })) }, strict);
const ExportQuery = Type.Object({ version: Type.Optional(version) }, strict);

const iso = (ms: number) => new Date(ms).toISOString();
export const keyJson = (k: KeyInfo) => ({
  name: k.name, type: k.type, derived: k.derived, exportable: k.exportable, deletion_allowed: k.deletionAllowed,
  latest_version: k.latestVersion, min_decryption_version: k.minDecryptionVersion, min_encryption_version: k.minEncryptionVersion,
  min_available_version: k.minAvailableVersion, created_at: iso(k.createdAt), updated_at: iso(k.updatedAt),
  versions: Object.fromEntries(k.versions.map((v) => [String(v.version), { created_at: iso(v.createdAt), ...(v.publicKey ? { public_key: v.publicKey } : {}) }])),
});

type Body = Record<string, unknown> & { batch_input?: Record<string, unknown>[] };
type Json = Record<string, unknown>;


function target(request: FastifyRequest, name: string): void {
  request.audit.secretName = transitResource(name);
}

/** One item or a batch in, the same shape out; the audit event gets the count, never a value. */
async function runOp(request: FastifyRequest, name: string, required: readonly string[], call: (items: Json[]) => Promise<ItemResult<object>[]>): Promise<Json> {
  target(request, name);
  const body = (request.body ?? {}) as Body;
  const { batch_input: batch, ...single } = body;
  if (batch !== undefined) {
    if (Object.keys(single).length > 0) throw new AppError('validation_failed', 'give either batch_input or the fields of one item, not both');
    const results = await call(batch);
    let failed = 0;
    const out = results.map((r) => {
      if (r.ok) return r.value;
      failed++;
      return { error: { code: r.error.code, message: r.error.message } };
    });
    request.audit.detail = { ...request.audit.detail, batch: true, count: results.length, failed };
    return { batch_results: out };
  }
  for (const field of required) if (single[field] === undefined) throw new AppError('validation_failed', `${field} is required (or give batch_input)`, { details: { field } });
  const [result] = await call([single]);
  if (!result!.ok) throw result!.error;
  const out = result!.value as Json;
  if (typeof out.key_version === 'number') request.audit.detail = { ...request.audit.detail, key_version: out.key_version };
  return out;
}

const nameOf = (request: FastifyRequest) => (request.params as { '*': string })['*'];

export function transitRoutes(transit: TransitService) {
  return (app: FastifyInstance): void => {
    const tags = ['transit'];
    app.get('/v1/transit/keys', { schema: { querystring: ListQuery, tags }, config: { operation: 'transit.key.list', auditResourcePrefix: 'transit:' } }, async (request) => {
      const q = request.query as { prefix?: string; limit?: number; after?: string };
      const page = await transit.list(identityOf(request), q);
      return { keys: page.keys, next_after: page.next };
    });
    app.post('/v1/transit/keys/*', { schema: { params: NameParam, body: CreateKeyBody, tags }, config: { operation: 'transit.key.create', auditResourcePrefix: 'transit:' } }, async (request, reply) => {
      const name = nameOf(request);
      target(request, name);
      const body = request.body as { type: KeyInfo['type']; derived?: boolean; exportable?: boolean };
      reply.code(201); // before the call: the write's audit event commits with it
      return keyJson(await transit.create(identityOf(request), name, body));
    });
    app.get('/v1/transit/keys/*', { schema: { params: NameParam, tags }, config: { operation: 'transit.key.read', auditResourcePrefix: 'transit:' } }, async (request) => {
      target(request, nameOf(request));
      return keyJson(await transit.read(identityOf(request), nameOf(request)));
    });
    app.delete('/v1/transit/keys/*', { schema: { params: NameParam, tags }, config: { operation: 'transit.key.delete', auditResourcePrefix: 'transit:' } }, async (request) => {
      target(request, nameOf(request));
      await transit.delete(identityOf(request), nameOf(request));
      return { deleted: nameOf(request) };
    });
    app.post('/v1/transit/config/*', { schema: { params: NameParam, body: ConfigBody, tags }, config: { operation: 'transit.key.config', auditResourcePrefix: 'transit:' } }, async (request) => {
      target(request, nameOf(request));
      const b = request.body as { min_decryption_version?: number; min_encryption_version?: number; deletion_allowed?: boolean };
      return keyJson(await transit.config(identityOf(request), nameOf(request), { minDecryptionVersion: b.min_decryption_version, minEncryptionVersion: b.min_encryption_version, deletionAllowed: b.deletion_allowed }));
    });
    app.post('/v1/transit/rotate/*', { schema: { params: NameParam, tags }, config: { operation: 'transit.key.rotate', auditResourcePrefix: 'transit:' } }, async (request) => {
      target(request, nameOf(request));
      return keyJson(await transit.rotate(identityOf(request), nameOf(request)));
    });
    app.post('/v1/transit/trim/*', { schema: { params: NameParam, body: TrimBody, tags }, config: { operation: 'transit.key.trim', auditResourcePrefix: 'transit:' } }, async (request) => {
      target(request, nameOf(request));
      return keyJson(await transit.trim(identityOf(request), nameOf(request), (request.body as { min_available_version: number }).min_available_version));
    });
    app.get('/v1/transit/export/*', { schema: { params: NameParam, querystring: ExportQuery, tags }, config: { operation: 'transit.key.export', auditResourcePrefix: 'transit:' } }, async (request) => {
      target(request, nameOf(request));
      const { version: v } = request.query as { version?: number };
      const exported = await transit.export(identityOf(request), nameOf(request), v);
      request.audit.detail = { exported_versions: Object.keys(exported.keys).join(',') };
      return exported;
    });

    const op = { bodyLimit: TRANSIT_BODY_LIMIT };
    const caller = identityOf;
    const route = (path: keyof typeof OPS, operation: string, call: (request: FastifyRequest, name: string, items: Json[]) => Promise<ItemResult<object>[]>) =>
      app.post(`/v1/transit/${path}/*`, { ...op, schema: { params: NameParam, body: OPS[path].body, tags }, config: { operation, auditResourcePrefix: 'transit:' } }, async (request) =>
        runOp(request, nameOf(request), OPS[path].required, (items) => call(request, nameOf(request), items)));
    route('encrypt', 'transit.encrypt', (r, name, items) => transit.encrypt(caller(r), name, items as never));
    route('decrypt', 'transit.decrypt', (r, name, items) => transit.decrypt(caller(r), name, items as never));
    route('rewrap', 'transit.rewrap', (r, name, items) => transit.rewrap(caller(r), name, items as never));
    route('sign', 'transit.sign', (r, name, items) => transit.sign(caller(r), name, items as never));
    route('verify', 'transit.verify', (r, name, items) => transit.verify(caller(r), name, items as never));
    route('hmac', 'transit.hmac', (r, name, items) => transit.hmac(caller(r), name, items as never));
    route('verify-hmac', 'transit.verify_hmac', (r, name, items) => transit.verifyHmac(caller(r), name, items as never));
    app.post('/v1/transit/datakey/:mode/*', { ...op, schema: { params: DatakeyParams, body: DatakeyBody, tags }, config: { operation: 'transit.datakey', auditResourcePrefix: 'transit:' } }, async (request) => {
      const { mode, '*': name } = request.params as { mode: 'plaintext' | 'wrapped'; '*': string };
      return runOp(request, name, [], (items) => transit.datakey(caller(request), name, mode, items as never));
    });
  };
}

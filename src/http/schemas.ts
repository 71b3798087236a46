import { Type, type Static } from '@sinclair/typebox';

/** Wire schemas for the native API (snake_case). Unknown fields are rejected everywhere. */
const strict = { additionalProperties: false } as const;

export const SecretNameParam = Type.Object({ '*': Type.String({ minLength: 1, maxLength: 512 }) }, strict);

const Labels = Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { maxItems: 20 });
const Tags = Type.Record(Type.String({ minLength: 1, maxLength: 128 }), Type.String({ maxLength: 256 }));
const IdempotencyToken = Type.String({ minLength: 32, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });
// 64 KiB of bytes is at most 87,384 base64 characters.
const Value = Type.String({ maxLength: 65_536 * 4 });
const ValueBase64 = Type.String({ maxLength: 87_384, pattern: '^[A-Za-z0-9+/]*={0,2}$' });

const Description = Type.String({ maxLength: 2048 });
const Owner = Type.String({ maxLength: 256 });

export const CreateSecretBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 512 }),
  description: Type.Optional(Description),
  owner: Type.Optional(Owner),
  tags: Type.Optional(Tags),
  value: Type.Optional(Value),
  value_base64: Type.Optional(ValueBase64),
  labels: Type.Optional(Labels),
  idempotency_token: Type.Optional(IdempotencyToken),
}, strict);
export type CreateSecretBody = Static<typeof CreateSecretBody>;

export const PutValueBody = Type.Object({
  value: Type.Optional(Value),
  value_base64: Type.Optional(ValueBase64),
  labels: Type.Optional(Labels),
  idempotency_token: Type.Optional(IdempotencyToken),
  /** When no secret has the name, create it with this metadata (`{}` for none) instead of answering secret_not_found. */
  create_if_missing: Type.Optional(Type.Object({ description: Type.Optional(Description), owner: Type.Optional(Owner), tags: Type.Optional(Tags) }, strict)),
}, strict);
export type PutValueBody = Static<typeof PutValueBody>;

export const GetValueQuery = Type.Object({
  label: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  version_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
}, strict);

export const UpdateSecretBody = Type.Object({
  description: Type.Optional(Type.Union([Type.String({ maxLength: 2048 }), Type.Null()])),
  owner: Type.Optional(Type.Union([Type.String({ maxLength: 256 }), Type.Null()])),
}, strict);

export const MoveLabelBody = Type.Object({
  label: Type.String({ minLength: 1, maxLength: 256 }),
  move_to_version_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  remove_from_version_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
}, strict);

export const DeleteSecretQuery = Type.Object({
  recovery_days: Type.Optional(Type.Integer({ minimum: 7, maximum: 30 })),
  force: Type.Optional(Type.Boolean()),
}, strict);

export const ListSecretsQuery = Type.Object({
  prefix: Type.Optional(Type.String({ maxLength: 512 })),
  include_deleted: Type.Optional(Type.Boolean()),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  cursor: Type.Optional(Type.String({ maxLength: 4096 })),
}, strict);

export const ListVersionsQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  cursor: Type.Optional(Type.String({ maxLength: 1024 })),
}, strict);

export const TagBody = Type.Object({ tags: Tags }, strict);
export const UntagQuery = Type.Object({ keys: Type.String({ minLength: 1, maxLength: 8192 }) }, strict);

export const PasswordBody = Type.Object({
  length: Type.Optional(Type.Integer({ minimum: 1, maximum: 4096 })),
  exclude_characters: Type.Optional(Type.String({ maxLength: 4096 })),
  exclude_numbers: Type.Optional(Type.Boolean()),
  exclude_punctuation: Type.Optional(Type.Boolean()),
  exclude_uppercase: Type.Optional(Type.Boolean()),
  exclude_lowercase: Type.Optional(Type.Boolean()),
  include_space: Type.Optional(Type.Boolean()),
  require_each_included_type: Type.Optional(Type.Boolean()),
}, strict);

export const CreateTokenBody = Type.Object({
  policies: Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { minItems: 1, maxItems: 64 }),
  ttl: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.String({ pattern: '^\\d+[smhdw]?$' })])),
  max_ttl: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.String({ pattern: '^\\d+[smhdw]?$' })])),
  env: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  display_name: Type.Optional(Type.String({ maxLength: 128 })),
  allow_missing_policies: Type.Optional(Type.Boolean()),
}, strict);

export const AccessorBody = Type.Object({
  accessor: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  increment: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.String({ pattern: '^\\d+[smhdw]?$' })])),
}, strict);

export const PolicyNameParam = Type.Object({ name: Type.String({ minLength: 1, maxLength: 128 }) }, strict);
export const WritePolicyBody = Type.Object({ document: Type.String({ minLength: 1, maxLength: 65_536 }) }, strict);

export const AuditCheckpointsQuery = Type.Object({
  before_seq: Type.Optional(Type.Integer({ minimum: 0 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
}, strict);

export const AuditQueryString = Type.Object({
  secret: Type.Optional(Type.String({ maxLength: 512 })),
  principal: Type.Optional(Type.String({ maxLength: 64 })),
  since: Type.Optional(Type.String({ maxLength: 64 })),
  until: Type.Optional(Type.String({ maxLength: 64 })),
  outcome: Type.Optional(Type.Union([Type.Literal('success'), Type.Literal('denied'), Type.Literal('failure')])),
  operation: Type.Optional(Type.String({ maxLength: 64 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
  order: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')])),
  after_seq: Type.Optional(Type.Integer({ minimum: 0 })),
}, strict);

export const InitBody = Type.Object({
  shares: Type.Optional(Type.Integer({ minimum: 1, maximum: 255 })),
  threshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 255 })),
}, strict);

export const UnsealBody = Type.Object({ key: Type.String({ minLength: 1, maxLength: 1024 }) }, strict);

/** POST /v1/audit/acknowledge-break: why the operator accepts the break (recorded in the audit log). */
export const AcknowledgeBreakBody = Type.Object({ reason: Type.String({ minLength: 3, maxLength: 500 }) }, strict);
/** POST /v1/audit/hashes: stored hashes of these events (checking external checkpoints). */
export const AuditHashesBody = Type.Object({ seqs: Type.Array(Type.Integer({ minimum: 0 }), { maxItems: 1000 }) }, strict);

/** POST /v1/batch/values: several reads in one request (`custos run` with many secrets). */
export const BATCH_READ_MAX = 100;
export const BatchReadBody = Type.Object({
  secrets: Type.Array(Type.Object({
    name: Type.String({ minLength: 1, maxLength: 512 }),
    label: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    version_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  }, strict), { minItems: 1, maxItems: BATCH_READ_MAX }),
}, strict);

/** Response of GET /v1/values/<name> (also compiles Fastify's serializer for the hot read path). */
export const SecretValueResponse = Type.Object({
  name: Type.String(),
  arn: Type.String(),
  version_id: Type.String(),
  labels: Type.Array(Type.String()),
  created_at: Type.String(),
  value: Type.Optional(Type.String()),
  value_base64: Type.Optional(Type.String()),
});

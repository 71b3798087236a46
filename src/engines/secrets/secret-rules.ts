import { AppError } from '../../errors/app-error.js';

/** Naming and value rules shared by every API that writes secrets. */
export const MAX_VALUE_BYTES = 65_536;
export const MAX_VERSIONS_KEPT = 100;
/** Versions younger than this are never pruned, however many there are (AWS: 24 hours). */
export const VERSION_MIN_AGE_MS = 24 * 60 * 60 * 1000;
export const MAX_LABELS_PER_VERSION = 20;
export const LABEL_CURRENT = 'CURRENT';
export const LABEL_PENDING = 'PENDING';
export const LABEL_PREVIOUS = 'PREVIOUS';

const NAME_CHARS = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const LABEL_CHARS = /^[A-Za-z0-9_+=.@:-]{1,256}$/;
const VERSION_ID_CHARS = /^[A-Za-z0-9_-]{32,64}$/;
const TAG_KEY_CHARS = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$/u;
const TAG_VALUE_CHARS = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$/u;

/** Names are hierarchical by `/`; the first segment is the environment. */
export function validateSecretName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !NAME_CHARS.test(name)) {
    throw new AppError('invalid_name', 'a secret name is 1-512 characters of A-Za-z0-9/_+=.@-');
  }
  const segments = name.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw new AppError('invalid_name', 'a secret name has no empty, "." or ".." segments and does not start or end with "/"');
  }
}

export function environmentOf(name: string): string {
  return name.split('/')[0]!;
}

export function validateLabel(label: unknown): asserts label is string {
  if (typeof label !== 'string' || !LABEL_CHARS.test(label)) {
    throw new AppError('invalid_label', 'a staging label is 1-256 characters of A-Za-z0-9_+=.@:-');
  }
}

export function validateLabels(labels: string[]): void {
  for (const label of labels) validateLabel(label);
  if (new Set(labels).size !== labels.length) throw new AppError('invalid_label', 'a label is listed twice');
  if (labels.length > MAX_LABELS_PER_VERSION) throw new AppError('invalid_label', `a version carries at most ${MAX_LABELS_PER_VERSION} labels`);
}

/** Version ids double as idempotency tokens (as AWS's ClientRequestToken does). */
export function validateVersionId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || !VERSION_ID_CHARS.test(id)) {
    throw new AppError('validation_failed', 'an idempotency token / version id is 32-64 characters of A-Za-z0-9_-');
  }
}

export function validateTags(tags: Record<string, string>): void {
  const entries = Object.entries(tags);
  if (entries.length > 50) throw new AppError('validation_failed', 'a secret has at most 50 tags');
  for (const [key, value] of entries) {
    if (!TAG_KEY_CHARS.test(key) || key.toLowerCase().startsWith('aws:')) throw new AppError('validation_failed', `invalid tag key "${key.slice(0, 128)}"`);
    if (typeof value !== 'string' || !TAG_VALUE_CHARS.test(value)) throw new AppError('validation_failed', `invalid value for tag "${key}"`);
  }
}

/** A secret value: text or bytes, at most 64 KiB either way. */
export type SecretValue = { kind: 'string'; text: string } | { kind: 'binary'; bytes: Buffer };

export function valueBytes(value: SecretValue): Buffer {
  return value.kind === 'string' ? Buffer.from(value.text, 'utf8') : value.bytes;
}

/** With the `u` flag a surrogate pair is one code point, so this matches only a lone surrogate. */
const LONE_SURROGATE = /\p{Cs}/u;

export function validateValue(value: SecretValue): Buffer {
  // Encoding a lone surrogate as UTF-8 silently stores U+FFFD instead: refuse it.
  if (value.kind === 'string' && LONE_SURROGATE.test(value.text)) {
    throw new AppError('invalid_value', 'a string value must be well-formed Unicode (it holds a lone surrogate); send binary data as base64');
  }
  const bytes = valueBytes(value);
  if (bytes.length === 0) throw new AppError('validation_failed', 'a secret value cannot be empty');
  if (bytes.length > MAX_VALUE_BYTES) throw new AppError('value_too_large', `a secret value is at most ${MAX_VALUE_BYTES} bytes`);
  return bytes;
}

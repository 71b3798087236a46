/**
 * `secret://` references, shared by `custos run`, `custos render` and SDK users.
 *
 *   secret://NAME[?label=LABEL | ?version=VERSION_ID][&url=DRIVER][#FIELD]
 *
 * NAME is a secret name (A-Za-z0-9/_+=.@-), the query selects a staging label or a version
 * (default: CURRENT) and the fragment picks one top-level field of a JSON value. `url=DRIVER`
 * instead turns a JSON connection secret into a connection URL with every part
 * percent-encoded (see connection-url.ts), for variables such as AIRFLOW_CONN_*. Query comes
 * before fragment, as in any URL. Any part may be percent-encoded (e.g. a field name with a
 * space: `#my%20field`).
 */
import { buildConnectionUrl } from './connection-url.js';

export interface SecretRef {
  /** The reference exactly as written. */
  raw: string;
  name: string;
  label?: string;
  versionId?: string;
  field?: string;
  /** Render a JSON connection secret as a URL for this driver (`?url=postgresql`). */
  url?: string;
}

export class SecretRefError extends Error {
  override name = 'SecretRefError';
  constructor(
    readonly code: 'invalid_reference' | 'field_not_found' | 'not_json',
    message: string,
  ) {
    super(message);
  }
}

export const SECRET_REF_PREFIX = 'secret://';

// Name: the server's name characters plus `%` (percent-encoding). Query and fragment use a
// conservative set so a reference embedded in YAML/JSON/shell text ends at the first quote,
// space, comma, brace or bracket.
const NAME = '[A-Za-z0-9/_+=.@%-]+';
const QUERY = '\\?[A-Za-z0-9_=&%.@:+-]*';
const FRAGMENT = '#[A-Za-z0-9_.%-]+';
const REF_SOURCE = `secret://(${NAME})(${QUERY})?(${FRAGMENT})?`;

/** A fresh global regex matching every reference in a text. */
export function secretRefPattern(): RegExp {
  return new RegExp(REF_SOURCE, 'g');
}

const decode = (part: string, what: string, raw: string): string => {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new SecretRefError('invalid_reference', `${raw}: the ${what} is not valid percent-encoding`);
  }
};

/** Parses one whole reference string; throws SecretRefError when it is malformed. */
export function parseSecretRef(raw: string): SecretRef {
  const match = new RegExp(`^${REF_SOURCE}$`).exec(raw);
  if (!match) throw new SecretRefError('invalid_reference', `not a secret reference (expected secret://NAME[?label=L|?version=ID][#field]): ${raw}`);
  const name = decode(match[1]!, 'name', raw).replace(/^\/+|\/+$/g, '');
  if (!name) throw new SecretRefError('invalid_reference', `${raw}: the secret name is empty`);
  const ref: SecretRef = { raw, name };
  if (match[2] && match[2].length > 1) {
    for (const pair of match[2].slice(1).split('&')) {
      if (!pair) continue;
      const eq = pair.indexOf('=');
      const key = eq < 0 ? pair : pair.slice(0, eq);
      const value = eq < 0 ? '' : decode(pair.slice(eq + 1), 'query', raw);
      if (!value) throw new SecretRefError('invalid_reference', `${raw}: "${key}" needs a value`);
      if (key === 'label') ref.label = value;
      else if (key === 'version' || key === 'version_id') ref.versionId = value;
      else if (key === 'url') ref.url = value;
      else throw new SecretRefError('invalid_reference', `${raw}: unknown parameter "${key}" (use label, version or url)`);
    }
    if (ref.label !== undefined && ref.versionId !== undefined) throw new SecretRefError('invalid_reference', `${raw}: give label or version, not both`);
  }
  if (match[3]) ref.field = decode(match[3].slice(1), 'field', raw);
  if (ref.url !== undefined && ref.field !== undefined) throw new SecretRefError('invalid_reference', `${raw}: give url or a #field, not both`);
  return ref;
}

// Percent-encodes every character outside `keep` (UTF-8 bytes), so the text stays inside the
// reference pattern and decodes back to exactly `value`.
const encodeOutside = (value: string, keep: RegExp): string =>
  Array.from(value, (ch) => (keep.test(ch) ? ch : Array.from(Buffer.from(ch, 'utf8'), (b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''))).join('');
const NAME_KEEP = /^[A-Za-z0-9/_+=.@-]$/;
const QUERY_VALUE_KEEP = /^[A-Za-z0-9_.@:-]$/;
const FIELD_KEEP = /^[A-Za-z0-9_.-]$/;

/** The reference text for `ref` (the inverse of parseSecretRef: parsing it gives `ref` back). */
export function formatSecretRef(ref: Omit<SecretRef, 'raw'>): string {
  const query = [
    ref.label !== undefined ? `label=${encodeOutside(ref.label, QUERY_VALUE_KEEP)}` : '',
    ref.versionId !== undefined ? `version=${encodeOutside(ref.versionId, QUERY_VALUE_KEEP)}` : '',
    ref.url !== undefined ? `url=${encodeOutside(ref.url, QUERY_VALUE_KEEP)}` : '',
  ].filter(Boolean).join('&');
  return `${SECRET_REF_PREFIX}${encodeOutside(ref.name, NAME_KEEP)}${query ? `?${query}` : ''}${ref.field !== undefined ? `#${encodeOutside(ref.field, FIELD_KEEP)}` : ''}`;
}

export function isSecretRef(value: string): boolean {
  return value.startsWith(SECRET_REF_PREFIX);
}

/** Cache/dedupe key for the value a reference reads (the field is applied afterwards). */
export function refSourceKey(ref: Pick<SecretRef, 'name' | 'label' | 'versionId'>): string {
  return `${ref.name}\u0000${ref.label ?? ''}\u0000${ref.versionId ?? ''}`;
}

/**
 * Applies a reference's field to a secret value: no field → the value itself; a field → that
 * top-level key of the JSON object (strings as-is, anything else JSON-encoded).
 */
export function selectField(value: string, ref: Pick<SecretRef, 'raw' | 'field'>): string {
  if (ref.field === undefined) return value;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new SecretRefError('not_json', `${ref.raw}: the secret is not a JSON object, so it has no field "${ref.field}"`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) || !Object.prototype.hasOwnProperty.call(parsed, ref.field)) {
    throw new SecretRefError('field_not_found', `${ref.raw}: the secret has no field "${ref.field}"`);
  }
  const field = (parsed as Record<string, unknown>)[ref.field];
  return typeof field === 'string' ? field : JSON.stringify(field);
}

/** The text a reference stands for, given the secret's value: the value, one field, or a connection URL. */
export function applyRef(value: string, ref: Pick<SecretRef, 'raw' | 'field' | 'url'>): string {
  if (ref.url === undefined) return selectField(value, ref);
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new SecretRefError('not_json', `${ref.raw}: the secret is not a JSON connection secret`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new SecretRefError('not_json', `${ref.raw}: the secret is not a JSON connection secret`);
  return buildConnectionUrl(parsed as Record<string, unknown>, { driver: ref.url });
}

/** Every reference in a text with its 1-based line and column. */
export function findSecretRefs(text: string): { ref: string; index: number; line: number; column: number }[] {
  const found: { ref: string; index: number; line: number; column: number }[] = [];
  const pattern = secretRefPattern();
  let line = 1;
  let lineStart = 0;
  let scanned = 0;
  for (let m = pattern.exec(text); m; m = pattern.exec(text)) {
    for (let i = text.indexOf('\n', scanned); i !== -1 && i < m.index; i = text.indexOf('\n', i + 1)) {
      line += 1;
      lineStart = i + 1;
    }
    scanned = m.index;
    found.push({ ref: m[0], index: m.index, line, column: m.index - lineStart + 1 });
  }
  return found;
}

/**
 * Statement and username templates of the database engine. Custos does all quoting: in a
 * statement, `{{name}}` becomes the user's name as a quoted identifier, `{{name_literal}}` as
 * a quoted string, `{{password}}` a quoted string (on PostgreSQL a SCRAM verifier, so the
 * password never travels in SQL text), `{{expiration}}` a quoted timestamp. A template that
 * quotes a placeholder itself ('{{password}}') is refused: it would break out of its quotes.
 * Templates are split into statements on `;` before anything is substituted, so a value can
 * never add a statement.
 */
import { randomInt } from 'node:crypto';
import { AppError } from '../../errors/app-error.js';

export interface Dialect {
  quoteIdentifier(value: string): string;
  quoteLiteral(value: string): string;
  /** The password as the statement carries it (quoted). */
  passwordLiteral(password: string): string;
  expirationLiteral(ms: number): string;
  maxUsernameLength: number;
}

const STATEMENT_PLACEHOLDERS = new Set(['name', 'name_literal', 'password', 'expiration']);
const PLACEHOLDER = /\{\{\s*([a-z_]+)(?:\|(\d+))?\s*\}\}/g;
const QUOTED_PLACEHOLDER = /['"`]\s*\{\{|\}\}\s*['"`]/;

/** Splits template text into statements and checks every placeholder; throws `invalid_template`. */
export function parseStatements(templates: readonly string[], field: string): string[] {
  const statements = templates.flatMap((t) => t.split(';')).map((s) => s.trim()).filter((s) => s !== '');
  for (const statement of statements) {
    if (QUOTED_PLACEHOLDER.test(statement)) {
      throw new AppError('invalid_template', `${field}: do not quote placeholders ({{name}} and {{password}} are quoted by Custos): ${statement.slice(0, 80)}`, { details: { field } });
    }
    for (const m of statement.matchAll(PLACEHOLDER)) {
      if (!STATEMENT_PLACEHOLDERS.has(m[1]!) || m[2] !== undefined) {
        throw new AppError('invalid_template', `${field}: unknown placeholder {{${m[1]}}} (use {{name}}, {{name_literal}}, {{password}}, {{expiration}})`, { details: { field } });
      }
    }
    if (/\{\{|\}\}/.test(statement.replace(PLACEHOLDER, ''))) throw new AppError('invalid_template', `${field}: a malformed placeholder`, { details: { field } });
  }
  return statements;
}

export interface StatementValues { name: string; password?: string; expiration?: number }

/** One statement with its placeholders replaced by quoted values (in one pass: a value is never re-scanned). */
export function renderStatement(dialect: Dialect, statement: string, values: StatementValues): string {
  return statement.replace(PLACEHOLDER, (_all, key: string) => {
    switch (key) {
      case 'name': return dialect.quoteIdentifier(values.name);
      case 'name_literal': return dialect.quoteLiteral(values.name);
      case 'password':
        if (values.password === undefined) throw new AppError('invalid_template', 'this statement cannot use {{password}}');
        return dialect.passwordLiteral(values.password);
      case 'expiration':
        if (values.expiration === undefined) throw new AppError('invalid_template', 'this statement cannot use {{expiration}}');
        return dialect.expirationLiteral(values.expiration);
      default: throw new AppError('invalid_template', `unknown placeholder {{${key}}}`);
    }
  });
}

const USERNAME_PLACEHOLDERS = new Set(['role', 'display_name', 'random', 'unix_time']);
const RANDOM_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789';
export const RANDOM_LENGTH = 10;
/** A display name contributes at most this much (it comes from the token, so its length is not ours). */
export const DISPLAY_NAME_MAX = 16;

export interface UsernameValues { role: string; displayName: string; now: number }

/** Checks a username template: known placeholders, `{{random}}` present (names must not repeat), fits the dialect at its longest. */
export function checkUsernameTemplate(template: string, dialect: Dialect, role: string): void {
  let hasRandom = false;
  for (const m of template.matchAll(PLACEHOLDER)) {
    if (!USERNAME_PLACEHOLDERS.has(m[1]!)) throw new AppError('invalid_template', `username_template: unknown placeholder {{${m[1]}}} (use {{role}}, {{display_name}}, {{random}}, {{unix_time}}, optionally {{role|N}})`, { details: { field: 'username_template' } });
    if (m[1] === 'random') hasRandom = true;
  }
  if (!hasRandom) throw new AppError('invalid_template', 'username_template must contain {{random}} so that every lease gets its own user', { details: { field: 'username_template' } });
  const longest = renderUsername(template, { role, displayName: 'x'.repeat(DISPLAY_NAME_MAX), now: 9_999_999_999_999 }, Infinity);
  if ([...longest].length > dialect.maxUsernameLength) {
    throw new AppError('invalid_template', `username_template can expand to ${[...longest].length} characters; this database allows ${dialect.maxUsernameLength} (shorten it or truncate with {{role|N}})`, { details: { field: 'username_template' } });
  }
}

/** A new username from the template; NUL and control characters are dropped (no database takes them in a name). */
export function renderUsername(template: string, values: UsernameValues, maxLength: number): string {
  const name = template.replace(PLACEHOLDER, (_all, key: string, cut?: string) => {
    let value: string;
    if (key === 'random') value = Array.from({ length: RANDOM_LENGTH }, () => RANDOM_CHARS[randomInt(RANDOM_CHARS.length)]).join('');
    else if (key === 'role') value = values.role;
    else if (key === 'display_name') value = [...values.displayName].slice(0, DISPLAY_NAME_MAX).join('');
    else if (key === 'unix_time') value = String(Math.floor(values.now / 1000));
    else throw new AppError('invalid_template', `unknown placeholder {{${key}}}`);
    return cut === undefined ? value : [...value].slice(0, Number(cut)).join('');
  // eslint-disable-next-line no-control-regex
  }).replace(/[\u0000-\u001f\u007f]/g, '');
  if ([...name].length > maxLength) throw new AppError('invalid_template', `the username would be ${[...name].length} characters; this database allows ${maxLength}`);
  return name;
}

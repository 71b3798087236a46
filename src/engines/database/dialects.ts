/**
 * Quoting per database. PostgreSQL: identifiers in double quotes (doubled inside), strings
 * through pg's escapeLiteral (E'' form when a backslash is present), passwords as SCRAM
 * verifiers. MySQL/MariaDB: identifiers in backticks (doubled inside), strings with every
 * special character backslash-escaped; connections turn NO_BACKSLASH_ESCAPES off so that
 * escaping means what it says.
 */
import pg from 'pg';
import { scramVerifier } from '../rotation/rotators/pg-common.js';
import type { Dialect } from './templates.js';

const noNul = (value: string) => {
  if (value.includes('\u0000')) throw new Error('a NUL character cannot be quoted');
  return value;
};

const iso = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, '');

export const postgresDialect: Dialect = {
  quoteIdentifier: (value) => `"${noNul(value).replace(/"/g, '""')}"`,
  quoteLiteral: (value) => pg.escapeLiteral(noNul(value)),
  passwordLiteral: (password) => pg.escapeLiteral(scramVerifier(password)),
  expirationLiteral: (ms) => `'${iso(ms)}+00'`,
  maxUsernameLength: 63,
};

const MYSQL_ESCAPES: Record<string, string> = { '\u0000': '\\0', '\b': '\\b', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\u001a': '\\Z', '"': '\\"', "'": "\\'", '\\': '\\\\' };

export function mysqlLiteral(value: string): string {
  // eslint-disable-next-line no-control-regex
  return `'${value.replace(/[\u0000\b\t\n\r\u001a"'\\]/g, (c) => MYSQL_ESCAPES[c]!)}'`;
}

export const mysqlDialect: Dialect = {
  quoteIdentifier: (value) => `\`${noNul(value).replace(/`/g, '``')}\``,
  quoteLiteral: (value) => mysqlLiteral(noNul(value)),
  passwordLiteral: (password) => mysqlLiteral(password),
  expirationLiteral: (ms) => `'${iso(ms)}'`,
  // MySQL's limit (MariaDB allows 80): a role must work on both.
  maxUsernameLength: 32,
};

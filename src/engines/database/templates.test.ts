import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isAppError } from '../../errors/app-error.js';
import { mysqlDialect, postgresDialect } from './dialects.js';
import { checkUsernameTemplate, parseStatements, renderStatement, renderUsername } from './templates.js';

/** Template parsing and quoting; the quoted forms are run against real servers in tests/integration/database-*.test.ts. */
const code = (e: unknown) => (isAppError(e) ? e.code : String(e));

test('statements are split on ; before substitution, so a value never adds a statement', () => {
  const [s] = parseStatements(['CREATE ROLE {{name}} PASSWORD {{password}}'], 'creation_statements');
  const sql = renderStatement(postgresDialect, s!, { name: 'x', password: "'; DROP ROLE admin; --" });
  assert.equal(parseStatements([s!], 'x').length, 1);
  assert.ok(!sql.includes("'; DROP"), 'the password travels as a SCRAM verifier on PostgreSQL');
  const my = renderStatement(mysqlDialect, s!, { name: 'x', password: "'; DROP USER admin; --" });
  assert.ok(my.includes("\\'; DROP USER admin; --'"), my);
});

test('identifiers double their quote character; literals escape quotes and backslashes per dialect', () => {
  assert.equal(postgresDialect.quoteIdentifier('a"b'), '"a""b"');
  assert.equal(mysqlDialect.quoteIdentifier('a`b'), '`a``b`');
  assert.equal(postgresDialect.quoteLiteral("a'b"), "'a''b'");
  assert.equal(postgresDialect.quoteLiteral('a\\b'), " E'a\\\\b'");
  assert.equal(mysqlDialect.quoteLiteral(`a'b"c\\d`), `'a\\'b\\"c\\\\d'`);
  assert.throws(() => postgresDialect.quoteIdentifier('a\u0000b'));
});

test('templates that quote placeholders themselves, or name unknown ones, are refused', () => {
  for (const bad of ["CREATE ROLE \"{{name}}\"", "PASSWORD '{{password}}'", 'CREATE USER `{{name}}`', 'GRANT {{role}} TO x', 'CREATE {{name']) {
    assert.throws(() => parseStatements([bad], 'creation_statements'), (e) => code(e) === 'invalid_template', bad);
  }
});

test('username templates: {{random}} required, truncation, the dialect limit checked at its longest', () => {
  assert.throws(() => checkUsernameTemplate('v_{{role}}', postgresDialect, 'ro'), (e) => code(e) === 'invalid_template');
  assert.throws(() => checkUsernameTemplate('a_very_long_prefix_{{role}}_{{display_name}}_{{random}}', mysqlDialect, 'ro'), (e) => code(e) === 'invalid_template');
  checkUsernameTemplate('v_{{role|10}}_{{display_name|8}}_{{random}}', mysqlDialect, 'a-very-long-role-name-indeed');
  const name = renderUsername('v_{{role|4}}_{{display_name}}_{{random}}', { role: 'reporting', displayName: "x'\u0000y", now: 0 }, 32);
  assert.match(name, /^v_repo_x'y_[a-z0-9]{10}$/);
  const a = renderUsername('{{random}}', { role: 'r', displayName: '', now: 0 }, 32);
  const b = renderUsername('{{random}}', { role: 'r', displayName: '', now: 0 }, 32);
  assert.notEqual(a, b);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyRef, findSecretRefs, parseSecretRef, selectField, SecretRefError } from './secret-ref.js';

test('parseSecretRef reads name, label, version and field', () => {
  assert.deepEqual(parseSecretRef('secret://prod/data/warehouse#password'), { raw: 'secret://prod/data/warehouse#password', name: 'prod/data/warehouse', field: 'password' });
  assert.deepEqual(parseSecretRef('secret://prod/db?label=PREVIOUS'), { raw: 'secret://prod/db?label=PREVIOUS', name: 'prod/db', label: 'PREVIOUS' });
  const v = parseSecretRef('secret://prod/db?version=0123456789abcdef0123456789abcdef#user%20name');
  assert.equal(v.versionId, '0123456789abcdef0123456789abcdef');
  assert.equal(v.field, 'user name');
});

test('parseSecretRef rejects malformed references with a reason', () => {
  for (const bad of ['secret://', 'secret://a?label=X&version=Y', 'secret://a?colour=red', 'secret://a?label=', 'http://a', 'secret://a b']) {
    assert.throws(() => parseSecretRef(bad), (e: unknown) => e instanceof SecretRefError && e.code === 'invalid_reference', bad);
  }
});

test('findSecretRefs reports line and column and stops at quotes, commas and spaces', () => {
  const text = 'a: 1\nb: "secret://prod/x#password"\nc: [secret://prod/y, secret://prod/z?label=PENDING]\nurl: postgres://u:secret://prod/d#pw@host/db\n';
  const found = findSecretRefs(text);
  assert.deepEqual(found.map((f) => [f.ref, f.line, f.column]), [
    ['secret://prod/x#password', 2, 5],
    ['secret://prod/y', 3, 5],
    ['secret://prod/z?label=PENDING', 3, 22],
    ['secret://prod/d#pw', 4, 19],
  ]);
});

test('selectField picks a JSON field and explains what is missing', () => {
  const value = JSON.stringify({ password: 'p"w', port: 5432 });
  assert.equal(selectField(value, { raw: 'r', field: 'password' }), 'p"w');
  assert.equal(selectField(value, { raw: 'r', field: 'port' }), '5432');
  assert.equal(selectField(value, { raw: 'r' }), value);
  assert.throws(() => selectField(value, { raw: 'r', field: 'nope' }), (e: unknown) => (e as SecretRefError).code === 'field_not_found');
  assert.throws(() => selectField('plain', { raw: 'r', field: 'x' }), (e: unknown) => (e as SecretRefError).code === 'not_json');
  // An inherited property is not a field.
  assert.throws(() => selectField('{}', { raw: 'r', field: 'toString' }), (e: unknown) => (e as SecretRefError).code === 'field_not_found');
});

test('?url=DRIVER turns a JSON connection secret into a URL with every part encoded', () => {
  const ref = parseSecretRef('secret://prod/db?label=PENDING&url=postgresql');
  assert.equal(ref.url, 'postgresql');
  assert.equal(ref.label, 'PENDING');
  const password = 'p@ss/w:rd?#%&';
  const url = new URL(applyRef(JSON.stringify({ host: 'h', username: 'u', password, dbname: 'd' }), ref));
  assert.equal(url.protocol, 'postgresql:');
  assert.equal(decodeURIComponent(url.password), password);
  assert.throws(() => parseSecretRef('secret://prod/db?url=postgres#password'), (e: unknown) => (e as SecretRefError).code === 'invalid_reference');
  assert.throws(() => applyRef('not json', ref), (e: unknown) => (e as SecretRefError).code === 'not_json');
  assert.equal(applyRef('{"a":"b"}', parseSecretRef('secret://x#a')), 'b');
});

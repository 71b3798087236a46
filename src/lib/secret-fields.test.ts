import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fingerprintInputs, urlPasswords } from './secret-fields.js';

test('JSON string fields, nested paths and URL passwords are fingerprint inputs; descriptive fields are not', () => {
  const value = JSON.stringify({ engine: 'postgres', host: 'warehouse.internal', username: 'etl_loader', password: 'pa55-w0rd-xyz', replicas: [{ dsn: 'postgresql://etl:s3cr%40t-pw1@replica:5432/dw' }] });
  const inputs = fingerprintInputs(value).map((i) => `${i.field}=${i.text}`);
  assert.ok(inputs.includes(`=${value}`), 'the whole value');
  assert.ok(inputs.includes('password=pa55-w0rd-xyz'));
  assert.ok(inputs.includes('replicas.0.dsn+url-password=s3cr@t-pw1'), 'decoded URL password');
  assert.ok(inputs.includes('replicas.0.dsn+url-password=s3cr%40t-pw1'), 'and as written');
  assert.ok(!inputs.some((i) => i.startsWith('host=') || i.startsWith('username=')), 'host and user names do not name a secret');
  assert.deepEqual(fingerprintInputs('short'), [], 'too short to fingerprint');
});

test('urlPasswords finds the password of each URL', () => {
  assert.deepEqual(urlPasswords('a snowflake://u:Pw-123456@acct/db b redis://:r3d1s-pass@h:6379'), ['Pw-123456', 'r3d1s-pass']);
  assert.deepEqual(urlPasswords('https://example.com/path'), []);
});

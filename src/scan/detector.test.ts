import assert from 'node:assert/strict';
import { test } from 'node:test';
import { detect, redact } from './detector.js';

const rules = (text: string) => detect(text).map((d) => d.ruleId);

test('provider formats', () => {
  assert.deepEqual(rules('key = "AKIAABCDEFGHIJKLMNOP"'), ['aws-access-key-id']);
  assert.deepEqual(rules('AKIAABCDEFGHIJKLMNOP\nother = "Xb3kT9pQ2mZ7vL4nR8sW1yC6dF0gH5jK9aE2uI7o"'), ['aws-access-key-id', 'aws-secret-access-key'], 'secret key near an access key id');
  assert.deepEqual(rules('t = "xoxb-123456789012-abcdefABCDEF12"'), ['slack-token']);
  assert.deepEqual(rules('props.put("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required username=\\"u\\" password=\\"Kafka-Pw-9x\\";")'), ['kafka-sasl-jaas']);
  assert.deepEqual(rules('url = "jdbc:snowflake://acme.snowflakecomputing.com/?user=etl&password=Sn0w-Pw-88x"'), ['jdbc-password']);
});

test('positions are 1-based line and column; custos:allow on the line silences it', () => {
  const [d] = detect('first line\n  token: ghp_abcdefghijklmnopqrstuvwxyz0123456789\n');
  assert.equal(d!.line, 2);
  assert.equal(d!.column, 10);
  assert.deepEqual(detect('ghp_abcdefghijklmnopqrstuvwxyz0123456789 # custos:allow'), []);
  // 'İ' lower-cases to two code units: keyword offsets must still point into the original text.
  const [u] = detect('İİİİ token: ghp_abcdefghijklmnopqrstuvwxyz0123456789');
  assert.equal(u!.column, 13);
  assert.equal(u!.secret, 'ghp_abcdefghijklmnopqrstuvwxyz0123456789');
});

test('placeholders, references and descriptive names are not secrets', () => {
  for (const line of ['password = "${DB_PASSWORD}"', 'password = "<password>"', 'token = settings.api.token', 'password_file = "/run/secrets/pw-file-x"',
    'secret_name = "prod/db/main"', 'password: changeme123', 'postgres://user:${PGPASSWORD}@h/db', 'api_key = get_key(name)', 'password = "xxxxxxxxxxxx"']) {
    assert.deepEqual(rules(line), [], line);
  }
});

test('a generic assignment needs entropy', () => {
  assert.deepEqual(rules('db_password = "Zq9!xkPl2mW8"'), ['generic-secret-assignment']);
  assert.deepEqual(rules('db_password = "aaaaaaaabbbb"'), []);
});

test('previews never hold the value', () => {
  const secret = 'ghp_abcdefghijklmnopqrstuvwxyz0123456789';
  assert.equal(redact(secret), 'ghp_****** (40 chars)');
  assert.equal(redact('hunter2hunter2'), '****** (14 chars)');
});

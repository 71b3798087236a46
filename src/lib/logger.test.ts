import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from './logger.js';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(chunk.toString()); done(); } });
  return { logger: createLogger('info', stream as never), lines };
}

test('a secret\'s name is logged as is; values, passwords and keys are redacted', () => {
  const { logger, lines } = capture();
  // The failed-rotation line's shape: the name is what an operator acts on.
  logger.warn({ secret: 'prod/db/app', rotation: 'r1', step: 'test', cause: 'login failed' }, 'rotation failed and was rolled back');
  logger.info({ value: 'canary-value-1', password: 'canary-pw-2', secret_access_key: 'canary-ak-3', body: { SecretString: 'canary-ss-4', token: 'canary-tok-5' } }, 'x');
  const [rotation, values] = lines.map((l) => JSON.parse(l));
  assert.equal(rotation.secret, 'prod/db/app');
  assert.doesNotMatch(lines.join(''), /canary-/);
  assert.equal(values.value, '[redacted]');
  assert.equal(values.body.SecretString, '[redacted]');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ERROR_STATUS, type ErrorCode } from '../../errors/app-error.js';
import { AWS_ERRORS } from './aws-errors.js';

test('every Custos error code has an AWS type, and transient server failures stay 5xx for AWS clients (they retry them)', () => {
  for (const [code, status] of Object.entries(ERROR_STATUS) as [ErrorCode, number][]) {
    const shape = AWS_ERRORS[code];
    assert.ok(shape && /^[A-Z][A-Za-z]+$/.test(shape.type), `${code} has an AWS __type`);
    // not_implemented (501) is permanent: an InvalidRequestException, not something to retry.
    if (status >= 500 && code !== 'not_implemented') assert.ok(shape.status >= 500, `${code} (${status}) must not become a 4xx an SDK would not retry`);
  }
});

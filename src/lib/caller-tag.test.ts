import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CALLER_TAG_MAX, cleanCallerTag } from './caller-tag.js';

test('a caller tag keeps printable ASCII only, is trimmed and capped', () => {
  assert.equal(cleanCallerTag('pod/etl-7\r\n{"accessor":"root"}'), 'pod/etl-7{"accessor":"root"}');
  assert.equal(cleanCallerTag('a\u202eb\u0000c\u2028d\u001b[31m'), 'abcd[31m');
  assert.equal(cleanCallerTag('  uid=1000  '), 'uid=1000');
  assert.equal(cleanCallerTag(' \t\n'), null);
  assert.equal(cleanCallerTag('😀'), null);
  assert.equal(cleanCallerTag(undefined), null);
  assert.equal(cleanCallerTag(['x']), null);
  assert.equal(cleanCallerTag('x'.repeat(CALLER_TAG_MAX * 4)), 'x'.repeat(CALLER_TAG_MAX));
});

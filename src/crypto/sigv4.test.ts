import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalRequest, formatAmzDate, parseAmzDate, parseAuthorization, sha256Hex, signatureOf, signingKey, splitTrailingSignature, stringToSign } from './sigv4.js';

// The worked example from the AWS Signature Version 4 documentation (IAM ListUsers, 2015-08-30).
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';

test('signing key derivation matches the AWS documentation example', () => {
  assert.equal(signingKey(SECRET, '20150830', 'us-east-1', 'iam').toString('hex'), 'c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9');
});

test('canonical request, string to sign and signature match the AWS documentation example', () => {
  const canonical = canonicalRequest({
    method: 'GET', path: '/', query: 'Version=2010-05-08&Action=ListUsers',
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', host: 'iam.amazonaws.com', 'x-amz-date': '20150830T123600Z' },
    signedHeaders: ['content-type', 'host', 'x-amz-date'], payloadHash: sha256Hex(''),
  });
  assert.equal(sha256Hex(canonical), 'f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59');
  const toSign = stringToSign('20150830T123600Z', '20150830/us-east-1/iam/aws4_request', canonical);
  assert.equal(signatureOf(signingKey(SECRET, '20150830', 'us-east-1', 'iam'), toSign), '5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7');
});

test('Authorization header parsing accepts the SDK form and rejects malformed ones', () => {
  const parsed = parseAuthorization('AWS4-HMAC-SHA256 Credential=AKCUABC/20260101/eu-west-1/secretsmanager/aws4_request, SignedHeaders=host;x-amz-date, Signature=' + 'a'.repeat(64));
  assert.deepEqual(parsed, { accessKeyId: 'AKCUABC', scopeDate: '20260101', region: 'eu-west-1', service: 'secretsmanager', signedHeaders: ['host', 'x-amz-date'], signature: 'a'.repeat(64) });
  assert.equal(parseAuthorization('Bearer cst_x'), null);
  assert.equal(parseAuthorization('AWS4-HMAC-SHA256 Credential=AKCUABC/2026/eu-west-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=' + 'a'.repeat(64)), null);
  assert.equal(parseAuthorization('AWS4-HMAC-SHA256 Credential=AKCUABC/20260101/eu-west-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=xyz'), null);
  // Fields in any order, with or without spaces (tabs too) around them.
  const sig = 'b'.repeat(64);
  for (const form of [
    `AWS4-HMAC-SHA256 Signature=${sig},SignedHeaders=Host;X-Amz-Date,Credential=AK/20260101/us-east-1/secretsmanager/aws4_request`,
    `AWS4-HMAC-SHA256  Credential = AK/20260101/us-east-1/secretsmanager/aws4_request ,\tSignedHeaders=host;x-amz-date,  Signature=${sig} `,
  ]) {
    assert.deepEqual(parseAuthorization(form), { accessKeyId: 'AK', scopeDate: '20260101', region: 'us-east-1', service: 'secretsmanager', signedHeaders: ['host', 'x-amz-date'], signature: sig }, form);
  }
  for (const bad of [
    `AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host`, // no signature
    `AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature`, // no '='
    `AWS4-HMAC-SHA256 Credentials=AK/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=${sig}`, // wrong name
    `AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=${sig.toUpperCase()}`,
    `AWS4-HMAC-SHA256Credential=AK/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=${sig}`,
    `AWS4-HMAC-SHA256 Credential=/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=${sig}`,
  ]) assert.equal(parseAuthorization(bad), null, bad);
});

test('amz dates round-trip and malformed ones are NaN', () => {
  const ms = Date.UTC(2026, 10, 22, 16, 5, 9);
  assert.equal(formatAmzDate(ms), '20261122T160509Z');
  assert.equal(parseAmzDate('20261122T160509Z'), ms);
  assert.ok(Number.isNaN(parseAmzDate('2026-11-22T16:05:09Z')));
  for (const bad of ['20261122T160509', '20261122X160509Z', '2026112xT160509Z', '20261122T16050aZ', '', '20261122T160509Z ']) assert.ok(Number.isNaN(parseAmzDate(bad)), bad);
});

test('splitTrailingSignature separates the per-request signature from the rest of the header', () => {
  const signature = 'a'.repeat(63) + 'f';
  const unsigned = 'AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host;x-amz-date, ';
  assert.deepEqual(splitTrailingSignature(unsigned + 'Signature=' + signature), { unsigned, signature });
  assert.equal(splitTrailingSignature(unsigned + 'Signature=' + signature.toUpperCase()), null, 'not lowercase hex');
  assert.equal(splitTrailingSignature(unsigned + 'Signature=' + signature.slice(1)), null, 'too short');
  for (const c of ['g', '/', ':', '`', ' ']) assert.equal(splitTrailingSignature(unsigned + 'Signature=' + signature.slice(0, 40) + c + signature.slice(41)), null, `not hex: ${c}`);
  assert.equal(splitTrailingSignature(`AWS4-HMAC-SHA256 Signature=${signature}, Credential=AKID/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host`), null, 'not at the end');
  assert.equal(splitTrailingSignature(signature), null);
});

test('signed header values are trimmed and whitespace runs folded to one space, as the SDKs sign them', () => {
  // The AWS SDKs canonicalize with value.trim().replace(/\s+/g, ' '): the server must agree on every value.
  const values = [
    'plain', 'one space', 'two  spaces', 'tab\there', ' lead and trail ', 'space\t tab', 'nbsp\u00a0alone', 'nbsp \u00a0run',
    'vt\u000bff\u000c', 'a \r\n b', 'ends with space ', '\u2003em\u2003space', 'x-amz-json-1.1; charset=utf-8', '',
  ];
  for (const value of values) {
    const canonical = canonicalRequest({ method: 'POST', path: '/', query: '', headers: { 'x-test': value }, signedHeaders: ['x-test'], payloadHash: 'h' });
    assert.equal(canonical.split('\n')[3], `x-test:${value.trim().replace(/\s+/g, ' ')}`, JSON.stringify(value));
  }
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maskVariants, StreamMasker } from './masker.js';

function run(masker: StreamMasker, chunks: string[]): string {
  let out = '';
  for (const c of chunks) out += masker.push(Buffer.from(c)).toString();
  return out + masker.flush().toString();
}

test('masks whole, repeated and overlapping occurrences', () => {
  assert.equal(run(new StreamMasker(['hunter2']), ['pw=hunter2 again hunter2\n']), 'pw=**** again ****\n');
  assert.equal(run(new StreamMasker(['abc', 'abcdef']), ['xabcdefy abc']), 'x****y ****');
});

test('masks a value split across chunks, even one byte at a time', () => {
  const secret = 's3cr3t-välue';
  const text = `before ${secret} middle ${secret}${secret} after`;
  const bytes = Buffer.from(text);
  const masker = new StreamMasker([secret]);
  let out = Buffer.alloc(0);
  for (let i = 0; i < bytes.length; i++) out = Buffer.concat([out, masker.push(bytes.subarray(i, i + 1))]);
  out = Buffer.concat([out, masker.flush()]);
  assert.equal(out.toString(), 'before **** middle ******** after');
});

test('holds back only what could start a secret', () => {
  const masker = new StreamMasker(['password123']);
  assert.equal(masker.push(Buffer.from('prompt> ')).toString(), 'prompt> ');
  assert.equal(masker.push(Buffer.from('x pass')).toString(), 'x ');
  assert.equal(masker.push(Buffer.from('ion')).toString(), 'passion');
  assert.equal(masker.flush().toString(), '');
});

test('maskVariants covers the JSON-escaped form and JSON fields', () => {
  const value = JSON.stringify({ username: 'etl', password: 'p"a\\ss' });
  const variants = maskVariants(value);
  assert.ok(variants.includes(value));
  assert.ok(variants.includes('p"a\\ss'));
  assert.ok(variants.includes('p\\"a\\\\ss'));
  assert.ok(variants.includes('etl'));
});

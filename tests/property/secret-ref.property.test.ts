import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { formatSecretRef, parseSecretRef, SecretRefError, type SecretRef } from '../../src/sdk/secret-ref.js';

/**
 * `secret://` references (sdk/secret-ref.ts): whatever a reference holds survives format →
 * parse exactly, and any text is either a reference or refused with the stable code
 * `invalid_reference` (never another exception).
 */
const RUNS = { numRuns: 200, seed: 29_0004 };

// Any Unicode text (no lone surrogates: those are not text a reference could carry).
const text = fc.string({ unit: 'binary', minLength: 1, maxLength: 40 });
const name = text.filter((n) => !n.startsWith('/') && !n.endsWith('/'));
const ref: fc.Arbitrary<Omit<SecretRef, 'raw'>> = fc.record({
  name,
  selector: fc.option(fc.oneof(fc.record({ label: text }), fc.record({ versionId: text })), { nil: undefined }),
  part: fc.option(fc.oneof(fc.record({ field: text }), fc.record({ url: text })), { nil: undefined }),
}).map(({ name, selector, part }) => ({ name, ...selector, ...part }));

const withoutRaw = ({ raw: _raw, ...rest }: SecretRef) => rest;

test('parse(format(ref)) gives ref back, for any name, label, version, field and driver', () => {
  fc.assert(fc.property(ref, (r) => {
    const formatted = formatSecretRef(r);
    const parsed = parseSecretRef(formatted);
    assert.deepEqual(withoutRaw(parsed), r);
    assert.equal(parsed.raw, formatted);
  }), RUNS);
});

const refusedCleanly = (input: string): void => {
  try {
    const parsed = parseSecretRef(input);
    // Accepted: then it is a fixed point of format ∘ parse.
    assert.deepEqual(withoutRaw(parseSecretRef(formatSecretRef(parsed))), withoutRaw(parsed));
  } catch (error) {
    assert.ok(error instanceof SecretRefError, `not a SecretRefError: ${String(error)}`);
    assert.equal(error.code, 'invalid_reference');
  }
};

test('any text is a reference or refused with invalid_reference', () => {
  const garbage = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 60 }),
    fc.string({ unit: fc.constantFrom(...'ab/%?#&=.-_:+@~ 2F'.split('')), maxLength: 40 }).map((s) => `secret://${s}`),
  );
  fc.assert(fc.property(garbage, refusedCleanly), RUNS);
});

test('regression cases: malformed percent-encoding, empty parts, both selectors', () => {
  for (const input of ['secret://%', 'secret://a%zz', 'secret:///', 'secret://a?label=', 'secret://a?label=x&version=y', 'secret://a?url=pg#f', 'secret://a?x=1', 'secret://a#%E0%A4%A']) {
    assert.throws(() => parseSecretRef(input), (e: unknown) => e instanceof SecretRefError && e.code === 'invalid_reference', input);
  }
});

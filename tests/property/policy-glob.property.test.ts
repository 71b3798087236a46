import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { matchesPath } from '../../src/policy/policy.js';

/**
 * Policy globs (policy/policy.ts `matchesPath`) against a reference model written for clarity,
 * not speed: `*` is any run of characters within a segment, a whole segment `**` is zero or
 * more whole segments, everything else is literal.
 */
const RUNS = { numRuns: 200, seed: 29_0003 };

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const segmentModel = (glob: string, segment: string) => new RegExp(`^${glob.split('*').map(escapeRegex).join('[^/]*')}$`).test(segment);
function model(pattern: readonly string[], resource: readonly string[]): boolean {
  if (pattern.length === 0) return resource.length === 0;
  const [head, ...rest] = pattern;
  if (head === '**') return model(rest, resource) || (resource.length > 0 && model(pattern, resource.slice(1)));
  return resource.length > 0 && segmentModel(head!, resource[0]!) && model(rest, resource.slice(1));
}
const modelMatches = (pattern: string, resource: string) => model(pattern.split('/'), resource.split('/'));

// Small alphabets, so patterns and resources often come close to matching.
const patternText = fc.string({ unit: fc.constantFrom('a', 'b', '.', '*', '/', '**', '+'), maxLength: 12 });
const resourceText = fc.string({ unit: fc.constantFrom('a', 'b', '.', '/', '+'), maxLength: 12 });

test('matchesPath agrees with the reference model on secret paths', () => {
  fc.assert(fc.property(patternText, resourceText, (pattern, resource) => {
    assert.equal(matchesPath(pattern, resource), modelMatches(pattern, resource), `${pattern} vs ${resource}`);
  }), RUNS);
});

test('a resource built from a pattern (stars filled in, ** expanded) always matches it', () => {
  const filler = fc.string({ unit: fc.constantFrom('a', 'b', '.'), maxLength: 4 });
  const instance = fc.tuple(patternText, fc.array(filler, { minLength: 40, maxLength: 40 }), fc.array(fc.array(filler.filter((s) => s !== ''), { maxLength: 3 }), { minLength: 12, maxLength: 12 }))
    .map(([pattern, fills, expansions]) => {
      let f = 0;
      let e = 0;
      const resource = pattern.split('/').flatMap((segment) => (segment === '**' ? expansions[e++ % expansions.length]! : [segment.replace(/\*/g, () => fills[f++ % fills.length]!)]));
      return { pattern, resource: resource.join('/') };
    });
  fc.assert(fc.property(instance, ({ pattern, resource }) => {
    assert.equal(matchesPath(pattern, resource), true, `${pattern} should match ${resource}`);
  }), RUNS);
});

test('no secret glob reaches sys:, transit: or database: resources, and ":" in a secret path matches nothing', () => {
  const namespaced = fc.tuple(fc.constantFrom('sys:', 'transit:', 'database:'), resourceText).map(([ns, r]) => ns + r);
  fc.assert(fc.property(patternText, namespaced, (pattern, resource) => {
    assert.equal(matchesPath(pattern, resource), false, `${pattern} vs ${resource}`);
  }), RUNS);
  assert.equal(matchesPath('**', 'a:b'), false);
  assert.equal(matchesPath('sys:**', 'sys:tokens'), true);
});

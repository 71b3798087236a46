import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matchesFilters, pageOffset, pageToken, searchWords, validateFilters } from './secret-search.js';

test("words split as AWS's search splits them", () => {
  assert.deepEqual(searchWords('credsDatabase#892'), ['creds', 'Database', '892']);
  assert.deepEqual(searchWords('prod/analytics-pipeline/warehouse-db'), ['prod', 'analytics', 'pipeline', 'warehouse', 'db']);
  assert.deepEqual(searchWords('My_Secret HTTPServer v2'), ['My', 'Secret', 'HTTP', 'Server', 'v', '2']);
  assert.deepEqual(searchWords('!!'), []);
});

test('filters: case-sensitive prefixes, description and all by words, negation, AND across filters', () => {
  const secret = { name: 'DatabaseSecret', description: 'Description of my secret', tags: { Team: 'DataEng' }, primaryRegion: 'eu-west-1' };
  const match = (key: Parameters<typeof matchesFilters>[1][number]['key'], ...values: string[]) => matchesFilters(secret, [{ key, values }]);
  assert.equal(match('name', 'Data'), true);
  assert.equal(match('name', 'data'), false);
  assert.equal(match('name', '!data'), true);
  assert.equal(match('description', 'My Description'), true);
  assert.equal(match('description', 'description of'), true);
  assert.equal(match('description', 'my password'), false);
  assert.equal(match('all', 'eng'), true, 'a word of a tag value');
  assert.equal(match('all', 'nothing here'), false);
  assert.equal(match('tag-key', 'Te'), true);
  assert.equal(match('tag-key', 'te'), false);
  assert.equal(match('primary-region', 'eu-'), true);
  assert.equal(match('owning-service', 'rds'), false);
  assert.equal(match('name', 'x', 'Data'), true, 'values of one filter are alternatives');
  assert.equal(match('name', '!Data', '!x'), false, 'every ! value excludes');
  assert.equal(match('name', '!x', '!y'), true);
  assert.equal(match('name', 'Data', '!DatabaseS'), false, 'an exclusion wins over an alternative');
  assert.equal(match('name', 'x', '!y'), false, 'an exclusion alone does not make a match when alternatives are given');
  assert.equal(matchesFilters(secret, [{ key: 'name', values: ['Data'] }, { key: 'tag-key', values: ['Owner'] }]), false, 'filters combine with AND');
});

test('filter values outside AWS pattern and unknown keys are refused', () => {
  assert.throws(() => validateFilters([{ key: 'name', values: ['a*b'] }]), /at most 512 characters/);
  assert.throws(() => validateFilters([{ key: 'name', values: ['x'.repeat(513)] }]), /at most 512 characters/);
  assert.throws(() => validateFilters([{ key: 'name', values: [] }]), /1 to 10/);
  assert.throws(() => validateFilters([{ key: 'color' as 'name', values: ['x'] }]), /not one of/);
  validateFilters([{ key: 'all', values: ['!prod/db:main @x+y=z.1-2'] }]);
});

test('paging tokens round-trip; anything else is invalid_next_token', () => {
  assert.equal(pageOffset(pageToken(40)), 40);
  assert.equal(pageOffset(undefined), 0);
  for (const bad of ['garbage!!', 'zzz', Buffer.from('o:-1').toString('base64url'), Buffer.from('o:1.5').toString('base64url')]) {
    assert.throws(() => pageOffset(bad), (e: Error & { code?: string }) => e.code === 'invalid_next_token');
  }
});

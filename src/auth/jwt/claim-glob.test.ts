import { test } from 'node:test';
import assert from 'node:assert/strict';
import { claimAt, globMatches, matchClaim } from './claim-glob.js';

test('globs: * spans any characters, everything else is literal', () => {
  assert.equal(globMatches('acme/*', 'acme/warehouse'), true);
  assert.equal(globMatches('acme/*', 'acme/a/b'), true);
  assert.equal(globMatches('acme/*', 'acmex/warehouse'), false);
  assert.equal(globMatches('refs/heads/main', 'refs/heads/main2'), false);
  assert.equal(globMatches('refs/heads/main', 'refs/heads/mai'), false);
  assert.equal(globMatches('a.b', 'axb'), false, 'a dot is literal');
  assert.equal(globMatches('(x)+', '(x)+'), true);
  assert.equal(globMatches('(x)+', 'xx'), false);
  assert.equal(globMatches('acme/wf/.github/workflows/*.yml@refs/heads/main', 'acme/wf/.github/workflows/deploy.yml@refs/heads/main'), true);
  assert.equal(globMatches('*', ''), true);
  // Hyphens are everywhere in Kubernetes names (a service account custos-agent).
  assert.equal(globMatches('system:serviceaccount:custos:custos-agent', 'system:serviceaccount:custos:custos-agent'), true);
  assert.equal(globMatches('system:serviceaccount:*:etl-*', 'system:serviceaccount:data:etl-job'), true);
  assert.equal(globMatches('a-b', 'a_b'), false);
  assert.equal(globMatches('[a-z]', 'b'), false, 'brackets are literal');
  assert.equal(globMatches('[a-z]', '[a-z]'), true);
});

test('claims: names, JSON pointers, arrays; objects and missing claims never match', () => {
  const claims = { sub: 'system:serviceaccount:airflow:worker', 'kubernetes.io': { namespace: 'airflow', serviceaccount: { name: 'worker' } }, groups: ['a', 'b'], n: 3, obj: { x: 1 } };
  assert.equal(claimAt(claims, '/kubernetes.io/serviceaccount/name'), 'worker');
  assert.equal(claimAt(claims, '/kubernetes.io/missing'), undefined);
  assert.equal(claimAt(claims, 'constructor'), undefined, 'no prototype lookups');
  assert.equal(matchClaim(claims.groups, ['b']), 'b');
  assert.equal(matchClaim(claims.n, ['3']), '3');
  assert.equal(matchClaim(claims.obj, ['*']), null);
  assert.equal(matchClaim(undefined, ['*']), null);
});

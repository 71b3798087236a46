import { test } from 'node:test';
import assert from 'node:assert/strict';
import { csrfTokenFor, parseCookies } from './ui-session.js';

test('cookies parse by name; the first of a repeated name wins; malformed parts are skipped', () => {
  const c = parseCookies('a=1; custos_session=cst_abc; junk; =x; custos_session=cst_other; b=two=parts');
  assert.equal(c.get('custos_session'), 'cst_abc');
  assert.equal(c.get('a'), '1');
  assert.equal(c.get('b'), 'two=parts');
  assert.equal(c.has('junk'), false);
  assert.equal(c.has(''), false);
  assert.equal(parseCookies(undefined).size, 0);
});

test('the CSRF token is per session and does not contain the session token', () => {
  const a = csrfTokenFor('cst_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa');
  assert.equal(a, csrfTokenFor('cst_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'));
  assert.notEqual(a, csrfTokenFor('cst_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab'));
  assert.ok(!a.includes('aaaa'));
  assert.match(a, /^[A-Za-z0-9_-]{43}$/);
});

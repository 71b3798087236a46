import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  backoffMs, inWindow, isDue, MAX_ATTEMPTS, nextDueAt, nextWindowOpening, overdueAt, parseSettings, parseWindow, passwordOptions, OVERDUE_AFTER_MS, settleMs, type RotationSettings,
} from './rotation-settings.js';
import { generatePassword } from '../../crypto/password.js';

const at = (iso: string) => Date.parse(iso);

test('every-N schedule is due N after the last rotation and not before', () => {
  const s = parseSettings({ rotator: 'postgres', every_seconds: 30 * 86_400 });
  const due = nextDueAt(s, at('2026-01-01T10:00:00Z'))!;
  assert.equal(new Date(due).toISOString(), '2026-01-31T10:00:00.000Z');
  assert.equal(isDue(s, due, due - 1), false);
  assert.equal(isDue(s, due, due), true);
});

test('a window moves the due time to the next opening and gates isDue', () => {
  const s = parseSettings({ rotator: 'postgres', every_seconds: 86_400, window: '02:00-04:00' });
  const due = nextDueAt(s, at('2026-01-01T10:00:00Z'))!;
  assert.equal(new Date(due).toISOString(), '2026-01-03T02:00:00.000Z');
  assert.equal(isDue(s, due, at('2026-01-03T03:59:00Z')), true);
  assert.equal(isDue(s, due, at('2026-01-03T04:00:00Z')), false, 'closed at the end of the window');
  assert.equal(isDue(s, due, at('2026-01-04T02:30:00Z')), true, 'next day window');
  assert.equal(new Date(overdueAt(s, due)).toISOString(), '2026-01-03T04:00:00.000Z');
});

test('windows that wrap midnight', () => {
  const w = parseWindow('23:00-01:00');
  assert.equal(inWindow(at('2026-01-01T23:30:00Z'), w), true);
  assert.equal(inWindow(at('2026-01-02T00:30:00Z'), w), true);
  assert.equal(inWindow(at('2026-01-02T01:00:00Z'), w), false);
  assert.equal(new Date(nextWindowOpening(at('2026-01-02T12:00:00Z'), w)).toISOString(), '2026-01-02T23:00:00.000Z');
  assert.throws(() => parseWindow('25:00-01:00'));
  assert.throws(() => parseWindow('02:00-02:00'));
});

test('cron schedules use UTC and the window', () => {
  const s = parseSettings({ rotator: 'postgres', cron: '0 3 * * 1' }); // Mondays 03:00
  assert.equal(new Date(nextDueAt(s, at('2026-01-01T00:00:00Z'))!).toISOString(), '2026-01-05T03:00:00.000Z');
  const windowed = parseSettings({ rotator: 'postgres', cron: '0 12 * * *', window: '02:00-04:00' });
  assert.equal(new Date(nextDueAt(windowed, at('2026-01-01T00:00:00Z'))!).toISOString(), '2026-01-02T02:00:00.000Z');
  assert.throws(() => parseSettings({ rotator: 'postgres', cron: 'not a cron' }), /invalid cron/);
  assert.throws(() => parseSettings({ rotator: 'postgres', cron: '0 3 * * *', every_seconds: 3600 }), /not both/);
});

test('on-demand settings have no due time; overdue without a window is due + 1h', () => {
  const s = parseSettings({ rotator: 'postgres' });
  assert.equal(nextDueAt(s, 0), null);
  const e = parseSettings({ rotator: 'postgres', every_seconds: 3600 });
  assert.equal(overdueAt(e, 1_000_000), 1_000_000 + OVERDUE_AFTER_MS);
});

test('backoff doubles per attempt and is capped', () => {
  assert.deepEqual([1, 2, 3, 4].map(backoffMs), [15_000, 30_000, 60_000, 120_000]);
  assert.equal(backoffMs(40), 3_600_000);
  assert.ok(MAX_ATTEMPTS >= 3);
});

test('settings validation: rotator requirements, strict keys', () => {
  assert.throws(() => parseSettings({ rotator: 'postgres-alternating' }), /admin_secret/);
  assert.throws(() => parseSettings({ rotator: 'command' }), /command/);
  assert.throws(() => parseSettings({ rotator: 'webhook', webhook: { url: 'http://x.example', hmac_secret: 'k' } }), /https/);
  assert.throws(() => parseSettings({ rotator: 'postgres', surprise: 1 }));
  assert.throws(() => parseSettings({ rotator: 'nope' }));
});

test('password rules: default excluded characters never appear', () => {
  const options = passwordOptions(parseSettings({ rotator: 'postgres', password: { length: 64 } }));
  for (let i = 0; i < 200; i++) {
    const p = generatePassword(options);
    assert.equal(p.length, 64);
    assert.doesNotMatch(p, /[/@"' \\]/);
  }
  const digitsOnly = passwordOptions(parseSettings({ rotator: 'postgres', password: { length: 12, exclude_lowercase: true, exclude_uppercase: true, exclude_punctuation: true } }));
  assert.match(generatePassword(digitsOnly), /^\d{12}$/);
});

test('settle interval: both PostgreSQL rotators wait 2 s by default after the previous finish; external rotators do not', () => {
  const s = (extra: Record<string, unknown>) => parseSettings({ ...extra }) as RotationSettings;
  assert.equal(settleMs(s({ rotator: 'postgres' })), 2000);
  assert.equal(settleMs(s({ rotator: 'postgres-alternating', admin_secret: 'prod/admin' })), 2000);
  assert.equal(settleMs(s({ rotator: 'postgres-alternating', admin_secret: 'prod/admin', settle_seconds: 0 })), 0);
  assert.equal(settleMs(s({ rotator: 'command', command: { path: '/bin/true' } })), 0);
});

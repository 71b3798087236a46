import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createAgentLog } from './agent-log.js';
import { createDiskCache, DiskCacheKeyError, loadCacheKey } from './disk-cache.js';

test('the disk cache is sealed: no plaintext, 0600, and unreadable under another key or binding', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'agent-disk-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const key = loadCacheKey(path.join(dir, 'key'));
  assert.equal(statSync(path.join(dir, 'key')).mode & 0o777, 0o600);
  const lines: string[] = [];
  const log = createAgentLog('debug', (l) => lines.push(l));
  const file = path.join(dir, 'cache.bin');
  const canary = 'disk-canary-5f2b9a';
  const disk = createDiskCache({ path: file, key, boundTo: 'http://a\0token_file\0/t', log });
  disk.schedule(() => [['v\0prod/db\0l:CURRENT', { body: { name: 'prod/db', value: canary }, knownGoodAt: 1, valid: true, bytes: 10 }]]);
  disk.flush();
  const raw = readFileSync(file).toString('latin1');
  assert.ok(!raw.includes(canary) && !raw.includes('prod/db'));
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(disk.load()[0]![1].body.value, canary);
  // Another binding (server or identity) or another key: nothing comes back.
  assert.deepEqual(createDiskCache({ path: file, key, boundTo: 'http://b\0token_file\0/t', log }).load(), []);
  writeFileSync(path.join(dir, 'other'), 'ab'.repeat(32), { mode: 0o600 });
  assert.deepEqual(createDiskCache({ path: file, key: loadCacheKey(path.join(dir, 'other')), boundTo: 'http://a\0token_file\0/t', log }).load(), []);
  assert.ok(!lines.join('').includes(canary));
});

test('a key file others may read is refused', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'agent-disk-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'key');
  writeFileSync(file, 'ab'.repeat(32));
  chmodSync(file, 0o644);
  assert.throws(() => loadCacheKey(file), DiskCacheKeyError);
});

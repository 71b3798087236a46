import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { tar, zip } from '../../../tests/support/scan-corpus.js';
import { readImage, readTar, readZip } from './archives.js';
import { createDiffParser, type AddedLines } from './git.js';

test('tar and zip entries round-trip', () => {
  assert.deepEqual(readTar(tar([{ path: 'a/b.txt', data: 'hello' }, { path: 'c', data: '' }])).map((e) => [e.path, e.data.toString()]), [['a/b.txt', 'hello'], ['c', '']]);
  assert.deepEqual(readZip(zip([{ path: 'x/y.py', data: 'print(1)' }])).map((e) => [e.path, e.data.toString()]), [['x/y.py', 'print(1)']]);
});

test('an OCI image layout: index → manifest → gzip layers, in order', () => {
  const layer = gzipSync(tar([{ path: 'app/.env', data: 'A=1' }, { path: 'app/.wh.old', data: '' }]));
  const digest = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  const manifest = Buffer.from(JSON.stringify({ layers: [{ digest: digest(layer) }] }));
  const index = { manifests: [{ digest: digest(manifest) }] };
  const blob = (b: Buffer) => ({ path: `blobs/${digest(b).replace(':', '/')}`, data: b });
  const entries = readTar(tar([{ path: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' }, { path: 'index.json', data: JSON.stringify(index) }, blob(manifest), blob(layer)]));
  const layers = readImage(entries)!;
  assert.equal(layers.length, 1);
  assert.equal(layers[0]!.id, digest(layer));
  assert.deepEqual(layers[0]!.entries.map((e) => e.path), ['app/.env'], 'whiteouts dropped');
  assert.equal(readImage(readTar(tar([{ path: 'plain.txt', data: 'x' }]))), null);
});

test('the diff parser keeps added lines with their line numbers, per commit and file', () => {
  const units: AddedLines[] = [];
  const parser = createDiffParser((u) => units.push(u));
  parser.lines([
    '\u0001commit abc', '', 'diff --git a/f.py b/f.py', 'index 1..2 100644', '--- a/f.py', '+++ b/f.py', '@@ -3,1 +3,3 @@', ' before', '+x = 1', '+++y = 2',
    'diff --git a/gone.py b/gone.py', '--- a/gone.py', '+++ /dev/null', '@@ -1 +0,0 @@', '-old',
  ].join('\n'));
  parser.end();
  assert.deepEqual(units, [{ commit: 'abc', path: 'f.py', text: 'before\nx = 1\n++y = 2', lineNumbers: [3, 4, 5], added: [false, true, true] }]);
});

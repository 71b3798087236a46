import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { openStorage } from '../storage/database.js';
import { createSnapshotService } from './snapshot-service.js';

/** The snapshot format's checks, on real SQLite files. */
test('snapshot service: round trip, and every kind of bad file is refused without writing anything', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'custos-snapshot-unit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const service = createSnapshotService({ openStorage });
  const url = (name: string) => ({ url: `sqlite:${path.join(dir, name, 'custos.db')}` });

  // A source with a few rows, including a blob and unicode.
  const source = await openStorage(url('source'));
  await source.db.insertInto('keyring').values({ key_id: 'data:1', purpose: 'data', term: 1, sealed_key: Buffer.from([0, 1, 255, 0]), created_at: 1_763_800_000_000 }).execute();
  await source.db.insertInto('secrets').values({
    id: 's1', region: 'us-east-1', name: 'prod/ünï_%', arn_suffix: 'abcdef', description: null, owner: null, kms_key_id: null, created_at: 1, updated_at: 2,
    last_accessed_at: null, last_rotated_at: null, deleted_at: null, delete_after: null, rotation: null, primary_region: null,
  }).execute();
  await source.db.insertInto('secret_tags').values({ secret_id: 's1', key: 'team', value: 'data' }).execute();
  await source.close();

  const file = path.join(dir, 'snap.gz');
  const saved = await service.save(url('source'), file);
  assert.equal(saved.rows, 3);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const lines = gunzipSync(readFileSync(file)).toString('utf8').trimEnd().split('\n');
  // Parents before children: secrets precede secret_tags.
  assert.ok(lines.findIndex((l) => l.startsWith('{"t":"secrets"')) < lines.findIndex((l) => l.startsWith('{"t":"secret_tags"')));

  const restored = await service.restore(url('copy'), file);
  assert.deepEqual(restored.tables, saved.tables);
  const copy = await openStorage(url('copy'));
  const key = await copy.db.selectFrom('keyring').selectAll().executeTakeFirstOrThrow();
  assert.ok(Buffer.isBuffer(key.sealed_key) && key.sealed_key.equals(Buffer.from([0, 1, 255, 0])));
  assert.equal(key.created_at, 1_763_800_000_000);
  assert.equal((await copy.db.selectFrom('secrets').select('name').executeTakeFirstOrThrow()).name, 'prod/ünï_%');
  await copy.close();

  const write = (name: string, content: string[]) => {
    const f = path.join(dir, name);
    writeFileSync(f, gzipSync(content.join('\n') + '\n'));
    return f;
  };
  const refuses = async (name: string, content: string[], code: string, message?: RegExp) => {
    const target = url(`target-${name}`);
    await assert.rejects(service.restore(target, write(name, content)), (e: { code?: string; message: string }) => {
      assert.equal(e.code, code);
      if (message) assert.match(e.message, message);
      return true;
    });
    const check = await openStorage(target);
    assert.deepEqual(await check.db.selectFrom('secrets').selectAll().execute(), [], `${name}: nothing restored`);
    await check.close();
  };

  await refuses('truncated', lines.slice(0, -1), 'snapshot_invalid', /truncated/);
  await refuses('missing-row', [...lines.slice(0, 2), ...lines.slice(3)], 'snapshot_invalid');
  await refuses('not-json', [lines[0]!, 'garbage', ...lines.slice(1)], 'snapshot_invalid', /not JSON/);
  const header = JSON.parse(lines[0]!);
  await refuses('other-schema', [JSON.stringify({ ...header, migrations: [...header.migrations, '999-future'] }), ...lines.slice(1)], 'snapshot_schema_mismatch');
  await refuses('not-a-snapshot', ['{"hello":1}'], 'snapshot_invalid', /not a Custos snapshot/);
  await refuses('unknown-table', [lines[0]!, '{"t":"nope","r":{}}', ...lines.slice(1)], 'snapshot_invalid', /no known table/);
  await assert.rejects(service.restore(url('copy'), file), (e: { code?: string }) => e.code === 'storage_not_empty');
});

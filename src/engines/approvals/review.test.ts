import { test } from 'node:test';
import assert from 'node:assert/strict';
import { changesOf, SEALED_VALUE, type CurrentMetadata } from './review.js';

const value = 'CANARY-review-value';
const held = { kind: 'string' as const, base64: Buffer.from(value).toString('base64') };
const current: CurrentMetadata = { description: 'old desc', owner: 'data', kmsKeyId: null, tags: { team: 'data', cost: 'a' }, rotation: { rotator: 'postgres', every_seconds: 3600 },
  replicaRegions: ['eu-west-1'], primaryRegion: null, resourcePolicy: '{"Version":"2012-10-17","Statement":[]}', deleteAfter: null,
};

test('a metadata update shows each changed field from the current value to the requested one; unchanged fields are left out', () => {
  const changes = changesOf({ kind: 'secret.update', name: 'prod/x', metadata: { description: 'new desc', owner: 'data' } }, current);
  assert.deepEqual(changes, [{ field: 'description', from: 'old desc', to: 'new desc' }]);
});

test('a new value shows only as sealed, in any kind that carries one', () => {
  for (const op of [
    { kind: 'secret.update' as const, name: 'prod/x', metadata: { description: null }, value: held },
    { kind: 'secret.create' as const, name: 'prod/x', value: held, tags: { team: 'data' } },
  ]) {
    const changes = changesOf(op, op.kind === 'secret.create' ? null : current);
    const text = JSON.stringify(changes);
    assert.ok(!text.includes(value) && !text.includes(held.base64) && !text.includes(Buffer.from(value).toString('hex')));
    assert.ok(changes.some((c) => c.field === 'value' && c.to!.startsWith(SEALED_VALUE)));
  }
});

test('tags: set, changed and removed keys; rotation settings key by key', () => {
  assert.deepEqual(changesOf({ kind: 'secret.tag', name: 'prod/x', tags: { team: 'platform', env: 'prod' } }, current), [
    { field: 'tag:team', from: 'data', to: 'platform' }, { field: 'tag:env', from: null, to: 'prod' },
  ]);
  assert.deepEqual(changesOf({ kind: 'secret.untag', name: 'prod/x', keys: ['cost', 'absent'] }, current), [{ field: 'tag:cost', from: 'a', to: null }]);
  assert.deepEqual(changesOf({ kind: 'rotation.configure', name: 'prod/x', settings: { rotator: 'postgres', every_seconds: 86400, window: '02:00-04:00' } }, current), [
    { field: 'rotation.every_seconds', from: '3600', to: '86400' }, { field: 'rotation.window', from: null, to: '02:00-04:00' },
  ]);
  assert.deepEqual(changesOf({ kind: 'rotation.configure', name: 'prod/x', settings: null }, current).map((c) => c.to), [null, null]);
});

test('when the requester may not see the current metadata, the diff shows only the requested values', () => {
  const changes = changesOf({ kind: 'secret.tag', name: 'prod/x', tags: { team: 'platform' } }, undefined);
  assert.deepEqual(changes, [{ field: 'tag:team', to: 'platform' }]);
  assert.ok(!('from' in changes[0]!));
});

test('replication, resource policy and restore diffs: each line says what changes, the current state only when the requester may see it', () => {
  assert.deepEqual(changesOf({ kind: 'replication.add', name: 'prod/x', regions: [{ region: 'eu-west-1' }, { region: 'ap-south-1', kmsKeyId: 'k1' }], overwrite: false }, current), [
    { field: 'replica:eu-west-1', from: 'replica', to: 'replica' }, { field: 'replica:ap-south-1', from: null, to: 'replica (kms key k1)' },
  ]);
  assert.deepEqual(changesOf({ kind: 'replication.remove', name: 'prod/x', regions: ['eu-west-1'] }, current), [{ field: 'replica:eu-west-1', from: 'replica', to: null }]);
  assert.deepEqual(changesOf({ kind: 'replication.promote', name: 'prod/x', region: 'eu-west-1' }, { ...current, primaryRegion: 'us-east-1' }), [{ field: 'primary_region', from: 'us-east-1', to: null }]);
  assert.deepEqual(changesOf({ kind: 'policy.put', name: 'prod/x', document: '{"new":1}', blockPublic: false }, current), [{ field: 'resource_policy', from: current.resourcePolicy, to: '{"new":1}' }]);
  assert.deepEqual(changesOf({ kind: 'policy.delete', name: 'prod/x' }, undefined), [{ field: 'resource_policy', to: null }]);
  assert.deepEqual(changesOf({ kind: 'secret.restore', name: 'prod/x' }, { ...current, deleteAfter: Date.UTC(2026, 0, 31) }), [{ field: 'deletion', from: 'scheduled, purged at 2026-01-31T00:00:00.000Z', to: 'cancelled' }]);
});

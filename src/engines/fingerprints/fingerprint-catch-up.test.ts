import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { SYSTEM_IDENTITY } from '../../auth/identity.types.js';
import { createBarrier } from '../../barrier/barrier.js';
import { createLocalChangeBus } from '../../lib/change-bus.js';
import { createAuthorizer } from '../../services/authorizer.js';
import { openStorage, type Storage } from '../../storage/database.js';
import { createFingerprintStore } from '../../storage/fingerprint-store.js';
import { createPolicyStore } from '../../storage/policy-store.js';
import { createSecretStore } from '../../storage/secret-store.js';
import { createSystemStore } from '../../storage/system-store.js';
import { createPageCursors } from '../secrets/page-cursor.js';
import { createSecretsService } from '../secrets/secrets-service.js';
import { createFingerprintIndex } from './fingerprint-index.js';

/**
 * Changes the index missed (while another node led, or committed just before a crash) are found
 * by comparing the index with the labels, and only those secrets are recomputed: a full rebuild
 * of a million secrets is many minutes of elliptic-curve work.
 */
let dir: string;
let storage: Storage;
let leader = true;
const logs: { msg: string; secrets?: number }[] = [];
let deps: Parameters<typeof createFingerprintIndex>[0];
let secrets: ReturnType<typeof createSecretsService>;

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'custos-scan-catch-up-'));
  storage = await openStorage({ url: `sqlite:${path.join(dir, 'custos.db')}` });
  const now = () => Date.UTC(2026, 5, 1);
  const barrier = createBarrier({ db: storage.db, systemStore: createSystemStore(), now });
  const key = (await storage.db.transaction().execute((tx) => barrier.initialize(tx, 1, 1)))[0]!;
  await barrier.submitUnsealShare(key);
  const changes = createLocalChangeBus();
  const authorizer = createAuthorizer({ db: storage.db, policyStore: createPolicyStore(), changes });
  secrets = createSecretsService({ db: storage.db, secretStore: createSecretStore(storage.dialect), barrier, authorizer, changes, cursors: createPageCursors(barrier), now, region: 'us-east-1', accountId: '123456789012' });
  const logger = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line)) });
  deps = { db: storage.db, secretStore: createSecretStore(storage.dialect), fingerprintStore: createFingerprintStore(), barrier, changes, isLeader: () => leader, logger };
});
after(async () => {
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
});

const value = (password: string) => ({ kind: 'string' as const, text: JSON.stringify({ user: 'etl', password }) });
const currentVersion = async (name: string) => (await storage.db.selectFrom('version_labels as l').innerJoin('secrets as s', 's.id', 'l.secret_id')
  .select('l.version_id').where('s.name', '=', name).where('l.label', '=', 'CURRENT').executeTakeFirstOrThrow()).version_id;
const indexedCurrent = async (name: string) => (await storage.db.selectFrom('scan_fingerprints as f').innerJoin('secrets as s', 's.id', 'f.secret_id')
  .select('f.version_id').distinct().where('s.name', '=', name).where('f.label', '=', 'CURRENT').execute()).map((r) => r.version_id);
const caughtUp = () => logs.filter((l) => l.msg.includes('catching up')).map((l) => l.secrets);

test('a node that becomes leader recomputes only the secrets changed while it did not lead', async () => {
  const index = createFingerprintIndex(deps);
  index.start();
  await index.settled();
  for (const name of ['prod/a', 'prod/b', 'prod/c']) await secrets.create(SYSTEM_IDENTITY, { name, value: value(`${name}-first-password`) });
  await index.settled();
  assert.ok(logs.some((l) => l.msg.includes('built')), 'the first start built the index (empty), then followed the writes');
  assert.deepEqual(caughtUp(), []);
  leader = false;
  await secrets.putValue(SYSTEM_IDENTITY, { name: 'prod/b' }, { value: value('prod/b-second-password') });
  await index.settled();
  assert.notDeepEqual(await indexedCurrent('prod/b'), [await currentVersion('prod/b')], 'not the leader: the change was left to the leader');
  leader = true;
  await index.settled();
  assert.deepEqual(caughtUp(), [1], 'one secret was stale, not three');
  assert.deepEqual(await indexedCurrent('prod/b'), [await currentVersion('prod/b')]);
});

test('a restart finds a change committed just before a crash, and a second restart finds nothing to do', async () => {
  leader = false;
  await secrets.putValue(SYSTEM_IDENTITY, { name: 'prod/c' }, { value: value('prod/c-second-password') });
  leader = true;
  const restarted = createFingerprintIndex(deps);
  restarted.start();
  await restarted.settled();
  assert.deepEqual(caughtUp(), [1, 1]);
  assert.deepEqual(await indexedCurrent('prod/c'), [await currentVersion('prod/c')]);
  const again = createFingerprintIndex(deps);
  again.start();
  await again.settled();
  assert.deepEqual(caughtUp(), [1, 1], 'nothing stale');
});

test('an index never built is built by the same catch-up, and a build cut short goes on from what it wrote', async () => {
  await storage.db.deleteFrom('system_state').where('key', '=', 'scan_index_built').execute();
  const oneLeft = await storage.db.selectFrom('secrets').select('id').where('name', '=', 'prod/a').executeTakeFirstOrThrow();
  await storage.db.deleteFrom('scan_fingerprints').where('secret_id', '=', oneLeft.id).execute();
  const restarted = createFingerprintIndex(deps);
  restarted.start();
  await restarted.settled();
  assert.deepEqual(caughtUp(), [1, 1, 1], 'only the secret with no rows was computed');
  assert.deepEqual(await indexedCurrent('prod/a'), [await currentVersion('prod/a')]);
  assert.equal((await storage.db.selectFrom('system_state').select('key').where('key', '=', 'scan_index_built').execute()).length, 1, 'marked built');
});

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { createAuditLog } from '../../audit/audit-log.js';
import { createBarrier } from '../../barrier/barrier.js';
import { blind, curve, finalize } from '../../crypto/oprf.js';
import { isAppError } from '../../errors/app-error.js';
import { createLocalChangeBus } from '../../lib/change-bus.js';
import { createAuthorizer } from '../../services/authorizer.js';
import { SYSTEM_IDENTITY } from '../../auth/identity.types.js';
import { createSecretsService } from '../secrets/secrets-service.js';
import { createPageCursors } from '../secrets/page-cursor.js';
import { createAuditStore } from '../../storage/audit-store.js';
import { openStorage, type Storage } from '../../storage/database.js';
import { createFingerprintStore } from '../../storage/fingerprint-store.js';
import { createPolicyStore } from '../../storage/policy-store.js';
import { createSecretStore } from '../../storage/secret-store.js';
import { createSystemStore } from '../../storage/system-store.js';
import { createFingerprintIndex } from './fingerprint-index.js';
import { createScanService } from './scan-service.js';

/** The index following the secrets engine through the change bus, and the oracle's rate limit, with a clock the test controls. */
describe('scan fingerprint index and matching', () => {
  let dir: string;
  let storage: Storage;
  let clock = Date.UTC(2026, 5, 1);
  let secrets: ReturnType<typeof createSecretsService>;
  let scan: ReturnType<typeof createScanService>;
  let barrier: ReturnType<typeof createBarrier>;
  let key: string;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'custos-scan-index-'));
    storage = await openStorage({ url: `sqlite:${path.join(dir, 'custos.db')}` });
    const now = () => clock;
    barrier = createBarrier({ db: storage.db, systemStore: createSystemStore(), now });
    key = (await storage.db.transaction().execute((tx) => barrier.initialize(tx, 1, 1)))[0]!;
    await barrier.submitUnsealShare(key);
    const changes = createLocalChangeBus();
    const authorizer = createAuthorizer({ db: storage.db, policyStore: createPolicyStore(), changes });
    secrets = createSecretsService({ db: storage.db, secretStore: createSecretStore(storage.dialect), barrier, authorizer, changes, cursors: createPageCursors(barrier), now, region: 'us-east-1', accountId: '123456789012' });
    const fingerprintStore = createFingerprintStore();
    const index = createFingerprintIndex({ db: storage.db, secretStore: createSecretStore(storage.dialect), fingerprintStore, barrier, changes, isLeader: () => true, logger: pino({ level: 'silent' }) });
    index.start();
    const auditLog = createAuditLog({ db: storage.db, auditStore: createAuditStore(storage.dialect), chainKey: () => barrier.auditKey(), isSealed: () => barrier.isSealed(), now, onError: () => {} });
    // The barrier was initialized directly, not through the operator service, which starts the chain.
    await auditLog.initializeChain();
    scan = createScanService({ db: storage.db, fingerprintStore, index, barrier, authorizer, auditLog, now, limits: { evaluationsPerHour: 6, batchMax: 4 } });
  });
  after(async () => {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const ecdh = curve();
  const fingerprints = async (candidates: string[], caller = SYSTEM_IDENTITY) => {
    const blinded = candidates.map((c) => blind(ecdh, c));
    const points = await scan.evaluate(caller, blinded.map((b) => b.blinded.toString('hex')));
    return candidates.map((c, i) => finalize(ecdh, c, blinded[i]!.r, Buffer.from(points[i]!, 'hex')));
  };
  const lookup = async (candidates: string[]) => (await scan.match(SYSTEM_IDENTITY, await fingerprints(candidates), { requestId: 'req_test', source: null }))
    .map((h) => `${h.secret}|${h.field}|${h.label}`);
  const code = (error: unknown) => (isAppError(error) ? error.code : String(error));

  test('writes, label moves and deletion are followed: CURRENT and PREVIOUS fields match, older values do not', async () => {
    const json = (password: string) => JSON.stringify({ host: 'db.internal', password, dsn: `postgresql://etl:${password}@db.internal/dw` });
    await secrets.create(SYSTEM_IDENTITY, { name: 'prod/db', value: { kind: 'string', text: json('first-pass-1') } });
    assert.deepEqual((await lookup(['first-pass-1'])).sort(), ['prod/db|dsn+url-password|CURRENT', 'prod/db|password|CURRENT']);
    await secrets.putValue(SYSTEM_IDENTITY, { name: 'prod/db' }, { value: { kind: 'string', text: json('second-pass-2') } });
    assert.deepEqual((await lookup(['first-pass-1', 'db.internal'])).sort(), ['prod/db|dsn+url-password|PREVIOUS', 'prod/db|password|PREVIOUS'], 'the old value is PREVIOUS now; a host name is no secret');
    clock += 3_600_000;
    await secrets.putValue(SYSTEM_IDENTITY, { name: 'prod/db' }, { value: { kind: 'string', text: json('third-pass-3') } });
    assert.deepEqual(await lookup(['first-pass-1']), [], 'a value that is neither CURRENT nor PREVIOUS is out of the index');
    assert.deepEqual((await lookup(['second-pass-2'])).filter((h) => h.endsWith('|password|PREVIOUS')), ['prod/db|password|PREVIOUS']);
    clock += 3_600_000;
    await secrets.delete(SYSTEM_IDENTITY, { name: 'prod/db' }, { force: true });
    assert.deepEqual(await lookup(['third-pass-3']), []);
    clock += 3_600_000;
  });

  test('evaluations are counted per accessor per hour; batches are bounded', async () => {
    clock += 3_600_000;
    await fingerprints(['a-candidate-1', 'a-candidate-2', 'a-candidate-3', 'a-candidate-4']);
    await fingerprints(['a-candidate-5', 'a-candidate-6']);
    await assert.rejects(fingerprints(['a-candidate-7']), (e) => code(e) === 'scan_rate_limited');
    await assert.rejects(fingerprints(['1', '2', '3', '4', '5']), (e) => code(e) === 'scan_input_invalid');
    clock += 3_600_000;
    assert.equal((await fingerprints(['a-candidate-7'])).length, 1, 'a new hour, a new allowance');
  });

  test('a keyring made before the scan index gets its fingerprint key at the next unseal', async () => {
    await storage.db.deleteFrom('keyring').where('purpose', '=', 'fingerprint').execute();
    barrier.seal();
    await barrier.submitUnsealShare(key);
    assert.equal(barrier.fingerprintKey().length, 32);
    assert.equal((await storage.db.selectFrom('keyring').select('key_id').where('purpose', '=', 'fingerprint').execute()).length, 1);
  });
});

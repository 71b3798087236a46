import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createAuditLog } from '../../audit/audit-log.js';
import { createBarrier } from '../../barrier/barrier.js';
import { createLocalChangeBus } from '../../lib/change-bus.js';
import { createSingleNodeLeadership } from '../../lib/leadership.js';
import { createAuditStore } from '../../storage/audit-store.js';
import { openStorage, type Storage } from '../../storage/database.js';
import { createPolicyStore } from '../../storage/policy-store.js';
import { createRotationStore } from '../../storage/rotation-store.js';
import { createSecretStore } from '../../storage/secret-store.js';
import { createSystemStore } from '../../storage/system-store.js';
import { createTokenStore } from '../../storage/token-store.js';
import { createAuthorizer } from '../authorizer.js';
import { createIdentityService } from '../identity-service.js';
import { SYSTEM_IDENTITY } from '../identity.types.js';
import { createOperatorService } from '../operator-service.js';
import { createPolicyService } from '../policy-service.js';
import { createSecretsService } from '../secrets-service.js';
import { createRotationEngine, parseRotationFault } from './rotation-engine.js';
import { backoffMs, MAX_ATTEMPTS } from './rotation-settings.js';
import { createRotationScheduler } from './scheduler.js';

/**
 * The engine and scheduler on real SQLite storage and real services, with an injectable
 * clock: retries with backoff, scheduled starts, windows and overdue marking. The rotator
 * is the real `command` rotator running /bin/sh.
 */
let dir: string;
let storage: Storage;
let clock = Date.parse('2026-03-02T12:00:00Z');
const now = () => clock;
const logs: string[] = [];
let engine: ReturnType<typeof createRotationEngine>;
let secrets: ReturnType<typeof createSecretsService>;

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'custos-engine-'));
  storage = await openStorage({ url: `sqlite:${path.join(dir, 'c.db')}`, sqliteSynchronous: 'NORMAL' });
  const { db } = storage;
  const changes = createLocalChangeBus();
  const barrier = createBarrier({ db, systemStore: createSystemStore(), now });
  const auditLog = createAuditLog({ db, auditStore: createAuditStore(storage.dialect), chainKey: () => barrier.auditKey(), isSealed: () => barrier.isSealed(), now, onError: () => undefined });
  const authorizer = createAuthorizer({ db, policyStore: createPolicyStore(), changes });
  const identity = createIdentityService({ db, tokenStore: createTokenStore(), authorizer, hashToken: (t) => barrier.hashToken(t), changes, now });
  secrets = createSecretsService({ db, secretStore: createSecretStore(storage.dialect), barrier, authorizer, changes, now, region: 'us-east-1', accountId: '123456789012' });
  const policies = createPolicyService({ db, policyStore: createPolicyStore(), authorizer, changes, now });
  const operator = createOperatorService({ db, barrier, identity, authorizer, auditLog, changes });
  const { keys } = await operator.initialize(1, 1);
  await operator.unseal(keys[0]!);
  const logger = { info: () => undefined, warn: (o: object, m: string) => void logs.push(m + ' ' + JSON.stringify(o)), error: (o: object, m: string) => void logs.push(m) };
  engine = createRotationEngine({
    db, rotationStore: createRotationStore(), secrets, identity, policies, authorizer, auditLog, logger, now, nodeId: 'node-1', address: () => 'http://127.0.0.1:1',
  });
});

after(async () => {
  await engine.idle();
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
});

// Fails every phase except rollback: exercises retries, then the rollback path.
const failingCommand = { path: '/bin/sh', args: ['-c', 'grep -q \'"step":"rollback"\' && exit 0; exit 1'] };
const okCommand = { path: '/bin/sh', args: ['-c', 'cat > /dev/null; exit 0'] };

test('a failing phase is retried with exponential backoff, then rolled back after MAX_ATTEMPTS', async () => {
  await secrets.create(SYSTEM_IDENTITY, { name: 'prod/retry', value: { kind: 'string', text: '{"password":"x-initial"}' } });
  await engine.configure(SYSTEM_IDENTITY, 'prod/retry', { rotator: 'command', command: failingCommand });
  const run = await engine.rotateNow(SYSTEM_IDENTITY, 'prod/retry', { waitMs: 10_000 });
  assert.equal(run.status, 'running');
  assert.equal(run.attempts, 1);
  assert.equal(run.nextAttemptAt, clock + backoffMs(1));
  assert.match(run.error!, /exited with 1 at step create/);

  for (let attempt = 2; attempt <= MAX_ATTEMPTS; attempt++) {
    // Not yet due: nothing resumes.
    clock += backoffMs(attempt - 1) - 1;
    assert.equal(await engine.resumeDue(), 0);
    clock += 1;
    assert.equal(await engine.resumeDue(), 1);
    await engine.idle();
    const status = (await engine.status(SYSTEM_IDENTITY, 'prod/retry')).latest!;
    if (attempt < MAX_ATTEMPTS) {
      assert.equal(status.attempts, attempt);
      assert.equal(status.nextAttemptAt, clock + backoffMs(attempt));
    } else {
      assert.equal(status.status, 'failed', 'out of retries: rolled back');
      assert.equal(status.attempts, MAX_ATTEMPTS);
    }
  }
  const described = await secrets.describe(SYSTEM_IDENTITY, { name: 'prod/retry' });
  assert.ok(!described.versions.some((v) => v.labels.includes('PENDING')), 'PENDING removed by the rollback');
  assert.ok(logs.some((l) => l.startsWith('rotation failed and was rolled back')));
  assert.ok(!logs.join('\n').includes('x-initial'), 'no credential in log lines');
});

test('the scheduler starts due rotations inside the window only, and marks missed ones overdue', async () => {
  clock = Date.parse('2026-03-02T12:00:00Z');
  await secrets.create(SYSTEM_IDENTITY, { name: 'prod/sched', value: { kind: 'string', text: '{"password":"y"}' } });
  const status = await engine.configure(SYSTEM_IDENTITY, 'prod/sched', { rotator: 'command', command: okCommand, every_seconds: 86_400, window: '02:00-04:00' });
  assert.equal(new Date(status.nextDueAt!).toISOString(), '2026-03-04T02:00:00.000Z');
  const scheduler = createRotationScheduler({ engine, leadership: createSingleNodeLeadership(), isSealed: () => false, logger: { error: () => undefined }, tickMs: 60_000 });

  clock = Date.parse('2026-03-04T01:59:00Z');
  await scheduler.tick();
  await engine.idle();
  assert.equal((await engine.status(SYSTEM_IDENTITY, 'prod/sched')).latest, null, 'not due before the window');

  // A non-leader does nothing even when due.
  clock = Date.parse('2026-03-04T02:30:00Z');
  const follower = createRotationScheduler({ engine, leadership: { isLeader: () => false, nodeId: 'n2', close: async () => undefined }, isSealed: () => false, logger: { error: () => undefined }, tickMs: 60_000 });
  await follower.tick();
  assert.equal((await engine.status(SYSTEM_IDENTITY, 'prod/sched')).latest, null, 'followers never start work');

  await scheduler.tick();
  await engine.idle();
  const after = await engine.status(SYSTEM_IDENTITY, 'prod/sched');
  assert.equal(after.latest?.status, 'succeeded');
  assert.equal(after.latest?.trigger, 'schedule');
  assert.equal(after.lastRotatedAt, clock);
  assert.equal(new Date(after.nextDueAt!).toISOString(), '2026-03-05T02:30:00.000Z', 'next due: a day after the rotation (inside the window)');
  assert.equal(after.overdueSince, null);

  // Missed the whole window (e.g. the server was down): overdue once the window closed.
  clock = Date.parse('2026-03-05T05:00:00Z');
  await scheduler.tick();
  await engine.idle();
  const missed = await engine.status(SYSTEM_IDENTITY, 'prod/sched');
  assert.equal(missed.overdueSince, clock);
  assert.equal(missed.latest?.id, after.latest?.id, 'outside the window nothing starts');
  assert.deepEqual((await engine.list(SYSTEM_IDENTITY, { overdueOnly: true })).map((s) => s.secretName), ['prod/sched']);

  // The next window: it rotates and is no longer overdue.
  clock = Date.parse('2026-03-06T02:10:00Z');
  await scheduler.tick();
  await engine.idle();
  const caughtUp = await engine.status(SYSTEM_IDENTITY, 'prod/sched');
  assert.notEqual(caughtUp.latest?.id, after.latest?.id);
  assert.equal(caughtUp.latest?.status, 'succeeded');
  assert.equal(caughtUp.overdueSince, null);
  assert.deepEqual(await engine.list(SYSTEM_IDENTITY, { overdueOnly: true }), []);
});

test('fault option parsing is strict', () => {
  assert.deepEqual(parseRotationFault('crash-after:set'), { when: 'after', step: 'set' });
  assert.equal(parseRotationFault(undefined), null);
  assert.throws(() => parseRotationFault('crash-during:set'));
});

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
import { createAuthorizer } from '../../services/authorizer.js';
import { createIdentityService } from '../../auth/tokens/identity-service.js';
import { SYSTEM_IDENTITY } from '../../auth/identity.types.js';
import { createOperatorService } from '../../services/operator-service.js';
import { createPolicyService } from '../../services/policy-service.js';
import { createSecretsService } from '../secrets/secrets-service.js';
import { createRotationEngine, parseRotationFault } from './rotation-engine.js';
import { backoffMs, MAX_ATTEMPTS } from './rotation-settings.js';
import { createRotationScheduler } from './scheduler.js';
import { createPageCursors } from '../secrets/page-cursor.js';
import { createAwsKeyStore } from '../../storage/aws-key-store.js';

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
/** A second node's engine on the same database (ownership, lease and takeover tests). */
let engine2: ReturnType<typeof createRotationEngine>;
let makeEngine: (nodeId: string, extra?: Partial<Parameters<typeof createRotationEngine>[0]>) => ReturnType<typeof createRotationEngine>;
let secrets: ReturnType<typeof createSecretsService>;

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'custos-engine-'));
  storage = await openStorage({ url: `sqlite:${path.join(dir, 'c.db')}`, sqliteSynchronous: 'NORMAL' });
  const { db } = storage;
  const changes = createLocalChangeBus();
  const barrier = createBarrier({ db, systemStore: createSystemStore(), now });
  const auditLog = createAuditLog({ db, auditStore: createAuditStore(storage.dialect), chainKey: () => barrier.auditKey(), isSealed: () => barrier.isSealed(), now, onError: () => undefined });
  const authorizer = createAuthorizer({ db, policyStore: createPolicyStore(), changes });
  const identity = createIdentityService({ db, tokenStore: createTokenStore(), authorizer, hashToken: (t) => barrier.hashToken(t), awsKeys: createAwsKeyStore(), changes, now });
  secrets = createSecretsService({ db, secretStore: createSecretStore(storage.dialect), barrier, authorizer, changes, cursors: createPageCursors(barrier), now, region: 'us-east-1', accountId: '123456789012' });
  const policies = createPolicyService({ db, policyStore: createPolicyStore(), authorizer, changes, now });
  const operator = createOperatorService({ db, barrier, identity, authorizer, auditLog, changes });
  const { keys } = await operator.initialize(1, 1);
  await operator.unseal(keys[0]!);
  const logger = { info: () => undefined, warn: (o: object, m: string) => void logs.push(m + ' ' + JSON.stringify(o)), error: (o: object, m: string) => void logs.push(m) };
  makeEngine = (nodeId, extra = {}) => createRotationEngine({
    db, rotationStore: createRotationStore(), secrets, identity, policies, authorizer, auditLog, logger, now, nodeId, address: () => 'http://127.0.0.1:1', ...extra,
  });
  engine = makeEngine('node-1');
  engine2 = makeEngine('node-2');
});

after(async () => {
  await engine.idle();
  await engine2.idle();
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

const runOf = async (name: string) =>
  storage.db.selectFrom('rotations').select(['id', 'owner_node', 'lease_until', 'status', 'step', 'attempts']).where('secret_name', '=', name).execute();
const rotationEventsOf = async (name: string) =>
  (await storage.db.selectFrom('audit_events').select(['operation', 'outcome', 'detail']).where('secret_name', '=', name).where('operation', 'like', 'rotation.%').orderBy('seq').execute())
    .map((e) => ({ operation: e.operation, outcome: e.outcome, node: JSON.parse(e.detail ?? '{}').node as string }));

test('a run waiting for a retry is resumed by another node (the leader), not only by the node that drove it last', async () => {
  // e.g. a manual rotation driven by a follower hits a transient failure; the leader retries it.
  const marker = path.join(dir, 'handover-failed-once');
  await secrets.create(SYSTEM_IDENTITY, { name: 'prod/handover', value: { kind: 'string', text: '{"password":"h-initial"}' } });
  await engine.configure(SYSTEM_IDENTITY, 'prod/handover', { rotator: 'command', command: { path: '/bin/sh', args: ['-c', `cat > /dev/null; [ -e '${marker}' ] && exit 0; touch '${marker}'; exit 1`] } });
  const run = await engine.rotateNow(SYSTEM_IDENTITY, 'prod/handover', { waitMs: 10_000 });
  assert.deepEqual([run.status, run.attempts], ['running', 1]);
  const [waiting] = await runOf('prod/handover');
  assert.deepEqual([waiting!.owner_node, waiting!.lease_until], ['node-1', null], 'node-1 stopped driving: no lease while it waits');

  clock += backoffMs(1);
  assert.equal(await engine2.resumeDue(), 1);
  await engine2.idle();
  const [done] = await runOf('prod/handover');
  assert.deepEqual([done!.status, done!.owner_node], ['succeeded', 'node-2'], 'node-2 claimed and finished it');
  const events = await rotationEventsOf('prod/handover');
  assert.deepEqual(events.filter((e) => e.outcome === 'success' && e.operation !== 'rotation.start').map((e) => `${e.operation}@${e.node}`),
    ['rotation.create@node-2', 'rotation.set@node-2', 'rotation.test@node-2', 'rotation.finish@node-2', 'rotation.complete@node-2']);
});

test('a driver whose lease ran out mid-phase and whose run was claimed by another node stops at the next phase boundary', async () => {
  clock = Date.parse('2026-03-10T12:00:00Z');
  await secrets.create(SYSTEM_IDENTITY, { name: 'prod/fence', value: { kind: 'string', text: '{"password":"f-initial"}' } });
  // `set` takes a second (real time): long enough for the lease to run out on the injected clock.
  await engine.configure(SYSTEM_IDENTITY, 'prod/fence', { rotator: 'command', command: { path: '/bin/sh', args: ['-c', 'cat > /dev/null; [ "$CUSTOS_ROTATION_STEP" = set ] && sleep 1; exit 0'] } });
  await engine.rotateNow(SYSTEM_IDENTITY, 'prod/fence');
  const deadline = Date.now() + 10_000;
  while ((await runOf('prod/fence'))[0]?.step !== 'set') {
    assert.ok(Date.now() < deadline, 'node-1 reaches set');
    await new Promise((r) => setTimeout(r, 10));
  }
  clock += 6 * 60_000; // node-1's lease (5 minutes) has run out while it is still in `set`
  assert.equal(await engine2.resumeDue(), 1);
  await Promise.all([engine.idle(), engine2.idle()]);

  const [run] = await runOf('prod/fence');
  assert.deepEqual([run!.status, run!.owner_node], ['succeeded', 'node-2']);
  const done = (await rotationEventsOf('prod/fence')).filter((e) => e.outcome === 'success');
  // Both ran `set` (the phase in flight when the lease ran out; phases are idempotent); from
  // then on only the new owner drives: no phase runs twice.
  assert.deepEqual(done.filter((e) => e.operation === 'rotation.set').map((e) => e.node).sort(), ['node-1', 'node-2']);
  for (const op of ['rotation.test', 'rotation.finish', 'rotation.complete']) {
    assert.deepEqual(done.filter((e) => e.operation === op).map((e) => e.node), ['node-2'], op);
  }
});

test('runs of a gone node: a command rotation still waits for its lease (the command may outlive the node)', async () => {
  clock = Date.parse('2026-03-12T12:00:00Z');
  // node-3 "dies" right after `set` (the fault's crash hook stops its driver there).
  const dying = makeEngine('node-3', { fault: { when: 'after', step: 'set' }, crash: () => { throw new Error('simulated crash of node-3'); } });
  const leader = makeEngine('node-4', { nodeGone: async (id) => id === 'node-3' });
  await secrets.create(SYSTEM_IDENTITY, { name: 'prod/gone-cmd', value: { kind: 'string', text: '{"password":"g-initial"}' } });
  await engine.configure(SYSTEM_IDENTITY, 'prod/gone-cmd', { rotator: 'command', command: okCommand });
  await dying.rotateNow(SYSTEM_IDENTITY, 'prod/gone-cmd');
  await dying.idle();
  let [run] = await runOf('prod/gone-cmd');
  assert.deepEqual([run!.status, run!.step, run!.owner_node], ['running', 'test', 'node-3']);
  for (let i = 0; i < 3; i++) {
    clock += 10_000; // well past the gone-confirmation time
    await leader.resumeDue();
    await leader.idle();
  }
  [run] = await runOf('prod/gone-cmd');
  assert.deepEqual([run!.step, run!.owner_node], ['test', 'node-3'], 'not taken over while leased');
  clock = run!.lease_until! + 1;
  await leader.resumeDue();
  await leader.idle();
  [run] = await runOf('prod/gone-cmd');
  assert.deepEqual([run!.status, run!.owner_node], ['succeeded', 'node-4'], 'taken over once the lease ran out');
});

test('fault option parsing is strict', () => {
  assert.deepEqual(parseRotationFault('crash-after:set'), { when: 'after', step: 'set' });
  assert.equal(parseRotationFault(undefined), null);
  assert.throws(() => parseRotationFault('crash-during:set'));
});

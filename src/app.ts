import { identityRoutes } from './http/routes/identity.js';
import { metricsRoutes } from './http/routes/metrics.js';
import { operatorRoutes } from './http/routes/operator.js';
import { secretRoutes } from './http/routes/secrets.js';
import { createSnapshotService, type SnapshotProgress } from './services/snapshot-service.js';
import { readFileSync, writeSync } from 'node:fs';
import { ensurePortFree } from './lib/port-check.js';
import { devInitAndUnseal, unsealFromConfig } from './start-up-unseal.js';
import type { WorkerLink } from './cluster/worker-link.js';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createAuditLog, createInProcessAppender, createPgAppender, createSqliteAppender } from './audit/audit-log.js';
import { createAuditCheckpointer } from './audit/checkpoint-sinks.js';
import { createBarrier } from './barrier/barrier.js';
import { pgPoolSettings, storagePassword, type Config } from './config/config.js';
import type { ChangeBus } from './lib/change-bus.js';
import { createHttpServer } from './http/server.js';
import { createUiSession } from './http/ui-session.js';
import { uiStaticRoutes } from './http/ui-static.js';
import { createAuthorizer } from './services/authorizer.js';
import { createIdentityService } from './auth/tokens/identity-service.js';
import { createOperatorService } from './services/operator-service.js';
import { createPolicyService } from './services/policy-service.js';
import { createSecretsService } from './engines/secrets/secrets-service.js';
import { createPageCursors } from './engines/secrets/page-cursor.js';
import { createAuditStore } from './storage/audit-store.js';
import { openStorage, type Storage } from './storage/database.js';
import { openCoordination } from './storage/cluster.js';
import { createPolicyStore } from './storage/policy-store.js';
import { createSecretStore } from './storage/secret-store.js';
import { createSystemStore } from './storage/system-store.js';
import { createTokenStore } from './storage/token-store.js';
import { awsRoutes } from './http/aws/aws-routes.js';
import { awsKeyRoutes } from './http/routes/aws-keys.js';
import { createAwsCredentialsService, DEV_ACCESS_KEY_ID } from './auth/aws-keys/aws-credentials-service.js';
import { createReplicationService, createReplicator } from './engines/secrets/replication-service.js';
import { createAwsKeyStore } from './storage/aws-key-store.js';
import { rotationRoutes } from './http/routes/rotation.js';
import { createRotationEngine, parseRotationFault } from './engines/rotation/rotation-engine.js';
import { createRotationScheduler } from './engines/rotation/scheduler.js';
import { createCurrentHold } from './engines/rotation/current-hold.js';
import { createRotationStore } from './storage/rotation-store.js';
import { createTransitService } from './engines/transit/transit-service.js';
import { transitRoutes } from './http/routes/transit.js';
import { createTransitStore } from './storage/transit-store.js';
import { saveToken, tokensPath } from './sdk/saved-tokens.js';
import { createResourcePolicyIndex, createResourcePolicyService } from './engines/secrets/resource-policy-service.js';
import { createResourcePolicyStore } from './storage/resource-policy-store.js';
import { createClock } from './lib/clock.js';
import { retryUntilDone } from './lib/retry.js';
import { createAuthService } from './auth/auth-service.js';
import { createAppRoleMethod } from './auth/approle/approle-method.js';
import { createAppRoleService } from './auth/approle/approle-service.js';
import { createJwtMethod } from './auth/jwt/jwt-method.js';
import { createLoginLookups } from './auth/login-lookups.js';
import { createGroupCommit } from './storage/group-commit.js';
import { createOidcMethod } from './auth/oidc/oidc-method.js';
import { createOidcStateStore } from './storage/oidc-state-store.js';
import { createUserpassMethod } from './auth/userpass/userpass-method.js';
import { createAuthStore } from './storage/auth-store.js';
import { authRoutes } from './http/routes/auth.js';
import { appRoleRoutes } from './http/routes/approle.js';
import { testingClockRoutes } from './http/routes/testing-clock.js';
import { createWrappingService } from './auth/wrapping/wrapping-service.js';
import { createWrappingStore } from './storage/wrapping-store.js';
import { wrappingRoutes } from './http/wrapping-hooks.js';
import { loginAuditor } from './http/routes/auth.js';
import { createGroupService } from './auth/groups/group-service.js';
import { createGroupStore } from './storage/group-store.js';
import { groupRoutes } from './http/routes/groups.js';
import { createFingerprintIndex } from './engines/fingerprints/fingerprint-index.js';
import { createScanService } from './engines/fingerprints/scan-service.js';
import { scanRoutes } from './http/routes/scan.js';
import { createFingerprintStore } from './storage/fingerprint-store.js';
import { createMetrics, timedAppender } from './lib/metrics.js';
import { isErrorCode } from './errors/app-error.js';
import { createMetricsService } from './services/metrics-service.js';
import { createAlertStore } from './storage/alert-store.js';
import { createAlertEngine } from './alerts/alert-engine.js';
import { createAlertService } from './alerts/alert-service.js';
import { resolveSinks } from './alerts/alert-sinks.js';
import { alertRoutes } from './http/routes/alerts.js';
import { createReportService } from './engines/reports/report-service.js';
import { reportRoutes } from './http/routes/reports.js';
import { createReportStore } from './storage/report-store.js';
import { createApprovalsService } from './engines/approvals/approvals-service.js';
import { approvalRoutes } from './http/routes/approvals.js';
import { createChangeRequestStore } from './storage/change-request-store.js';
import { createLeaseManager } from './leases/lease-manager.js';
import { createLeaseSweeper } from './leases/lease-sweeper.js';
import { createLeaseStore } from './storage/lease-store.js';
import { createDatabaseService } from './engines/database/database-service.js';
import { createDatabaseStore } from './storage/database-store.js';
import { databaseRoutes } from './http/routes/database.js';
import { leaseRoutes } from './http/routes/leases.js';
import { createChangeFeed } from './engines/changes/change-feed.js';
import { changeRoutes } from './http/routes/changes.js';
import { createAgentReports } from './engines/changes/agent-reports.js';
import { agentReportRoutes } from './http/routes/agent-reports.js';

export const VERSION = '0.1.0';

/**
 * The offline tools (`custos operator snapshot|migrate`): no server, no token, no unseal key;
 * built here, like the server, so the CLI never wires storage itself.
 */
export function createOfflineTools(options: { onProgress?: SnapshotProgress } = {}) {
  return { snapshots: createSnapshotService({ openStorage, onProgress: options.onProgress }) };
}

export interface StartOptions {
  /** Set in a worker of `custos server --workers N`: the link to the primary and the other workers. */
  worker?: WorkerLink;
}

export interface CustosServer {
  readonly http: FastifyInstance;
  readonly storage: Storage;
  /** The address the server listens on, e.g. http://127.0.0.1:8420. */
  readonly address: string;
  close(): Promise<void>;
}

/** Composition root: config -> storage -> barrier -> services -> http, then start-up and background jobs. */
export async function startServer(config: Config, logger: Logger, output: (line: string) => void = (l) => process.stdout.write(l + '\n'), options: StartOptions = {}): Promise<CustosServer> {
  const { worker } = options;
  if (!worker) await ensurePortFree(config.host, config.port); // workers share the primary's listener
  const storage = await openStorage({
    url: config.storage, password: storagePassword(config), sqliteSynchronous: config.sqlite_synchronous,
    // One WAL checkpointer per database file is enough: worker 0's.
    backgroundCheckpoints: worker && worker.index > 0 ? undefined : { onError: (error) => logger.error({ err: error }, 'SQLite WAL checkpoint failed') },
    pgPool: { ...pgPoolSettings(config), onReachability: (change) => (change.reachable ? logger.warn('PostgreSQL is reachable again')
      : logger.error({ err: change.error }, `PostgreSQL is unreachable; requests get 503 storage_unavailable, reconnecting with backoff (first retry in ${change.retryInMs} ms)`)) },
  });
  const { db } = storage;
  const clock = createClock(config.testing_clock);
  const now = clock.now;

  const barrier = createBarrier({ db, systemStore: createSystemStore(), now });
  const auditFsync = config.audit_fsync ?? storage.dialect === 'postgres';
  const auditStore = createAuditStore(storage.dialect, { fsyncEachBatch: auditFsync, sqliteSynchronous: config.sqlite_synchronous });
  await auditStore.months.ensure(db, now());
  // SQLite: one node, in-process bus (--workers: relayed across workers, worker 0 leads). PostgreSQL: LISTEN/NOTIFY bus and an advisory-lock leader.
  const coordinationOptions = { dialect: storage.dialect, url: config.storage, password: storagePassword(config), nodeId: config.node_id, log: logger,
    leaderEligible: () => !barrier.isSealed() }; // singleton work (rotation) needs keys
  const coordination = worker ? await worker.coordination(coordinationOptions) : await openCoordination(coordinationOptions);
  const changes: ChangeBus = coordination.changes;
  const { leadership } = coordination;
  const metrics = createMetrics({ environments: config.metrics_environments, isKnownCode: isErrorCode });
  // Signed checkpoints of the verified chain head go outside the database (see docs/audit-threat-model.md).
  const checkpointFile = config.audit_checkpoint_file ?? path.join(path.dirname(tokensPath()), 'audit-checkpoints.jsonl');
  const checkpointer = createAuditCheckpointer({ config, barrier, logger, nodeId: coordination.nodeId, file: checkpointFile, now });
  const auditLog = createAuditLog({
    db, auditStore, chainKey: () => barrier.auditKey(), isSealed: () => barrier.isSealed(), now,
    onError: (error) => logger.error({ err: error }, 'audit log write failed'),
    onTamper: (found) => logger.error({ audit_tampered: found }, `AUDIT LOG TAMPERED: ${found}. Audited requests fail with audit_tampered until an operator runs \`custos audit acknowledge-break --reason ...\``),
    onHead: (head) => checkpointer.observe(head),
    allowMissingHead: () => barrier.checkpointKeyWasAdded(),
    startupCheck: (q, acknowledged) => checkpointer.checkAgainstStore(q, auditStore, acknowledged),
    highestExternalSeq: () => checkpointer.lastCheckpointSeq(),
    startupWalkMaxEvents: config.audit_startup_walk_max_events,
    periodicFullWalkMs: config.alerts.enabled && config.alerts.rules.integrity.enabled ? config.alerts.rules.integrity.full_verify_every_hours * 3_600_000 : undefined,
    onAcknowledged: () => checkpointer.flush(),
    appender: timedAppender(storage.sqlitePath && storage.sqlitePath !== ':memory:'
      ? createSqliteAppender(storage.sqlitePath, { fsyncEachBatch: auditFsync })
      : storage.dialect === 'postgres' ? createPgAppender(db, auditStore, { onHeadRace: (outcome) => metrics.observeAuditHeadRace(outcome) }) : createInProcessAppender(db, auditStore), metrics),
  });
  // The audit queue as requests see it: events recorded and not yet durable.
  let auditPending = 0;
  const requestAuditLog = {
    record: (...args: Parameters<typeof auditLog.record>) => {
      auditPending++;
      return auditLog.record(...args).finally(() => auditPending--);
    },
    appendWithin: (...args: Parameters<typeof auditLog.appendWithin>) => auditLog.appendWithin(...args),
    committed: (...args: Parameters<typeof auditLog.committed>) => auditLog.committed(...args),
    isTampered: () => auditLog.isTampered(),
  };
  const alertStore = createAlertStore();
  metrics.setSources({ sealed: () => barrier.isSealed(), auditPending: () => auditPending, rotation: () => alertStore.rotationStats(db), alertsFiring: () => alertStore.firingCounts(db) });
  const resourcePolicyStore = createResourcePolicyStore();
  const resourcePolicyIndex = createResourcePolicyIndex({ db, store: resourcePolicyStore, changes, accountId: config.account_id });
  const authorizer = createAuthorizer({ db, policyStore: createPolicyStore(), changes, resourcePolicies: resourcePolicyIndex });
  const groups = createGroupService({ db, store: createGroupStore(), authorizer, changes, now });
  // SQLite runs one transaction at a time: token writes that queue share commits (group commit),
  // fully durable; PostgreSQL batches concurrent commits' WAL flushes itself.
  const sharedCommit = storage.dialect === 'sqlite' ? createGroupCommit((fn) => db.transaction().execute(fn)) : undefined;
  const identity = createIdentityService({
    db, tokenStore: createTokenStore(), authorizer, hashToken: (t) => barrier.hashToken(t), awsKeys: createAwsKeyStore(), changes, now, groupPolicies: groups.policiesOf,
    sharedCommit,
  });
  const replicator = createReplicator({ secretStore: createSecretStore(storage.dialect), barrier, now });
  const cursors = createPageCursors(barrier);
  // Reads of CURRENT wait (bounded) while a single-user rotation on any node is between set and finish.
  const currentHold = createCurrentHold({ changes, maxWaitMs: config.rotation_read_hold_ms });
  const secrets = createSecretsService({
    db, secretStore: createSecretStore(storage.dialect), barrier, authorizer, changes, cursors, now, region: config.region, accountId: config.account_id,
    // One writer (SQLite): cached until a change. Several nodes: other nodes' writes arrive
    // through LISTEN/NOTIFY (in publish order, so a rotation's CURRENT move empties the cache
    // before its hold is released), and the age bound covers a notification that never arrives.
    readCache: storage.dialect === 'sqlite' || config.read_cache_max_age_ms > 0,
    readCacheMaxAgeMs: storage.dialect === 'sqlite' ? undefined : config.read_cache_max_age_ms,
    replicator, currentHold,
  });
  const policies = createPolicyService({ db, policyStore: createPolicyStore(), authorizer, changes, now });
  const operator = createOperatorService({ db, barrier, identity, authorizer, auditLog, changes, checkpoints: checkpointer, peers: worker?.sealPeers });
  changes.subscribe((topic) => {
    // Retried: also sent when the change bus reconnects, maybe before PostgreSQL is back.
    if (topic === 'keyring') retryUntilDone(() => barrier.refreshKeyring(), { onError: (err) => logger.warn({ err }, 'keyring reload failed; retrying') });
    if (topic === 'audit') auditLog.recheck(); // another node acknowledged a break
  });
  // Scan fingerprint index: follows secret changes on the bus; rebuilt once unsealed at start.
  const fingerprintStore = createFingerprintStore();
  const fingerprintIndex = createFingerprintIndex({
    db, secretStore: createSecretStore(storage.dialect), fingerprintStore, barrier, changes, isLeader: () => leadership.isLeader(), logger,
  });

  // A (re)started worker takes the unseal shares the other workers were given, and stays sealed if an operator sealed them.
  const peerSeal = worker ? await worker.joinSeal(operator) : null;
  for (const share of peerSeal?.shares ?? []) await operator.applyPeerShare(share);
  const devRootToken = config.dev && !peerSeal?.sealedByOperator ? await devInitAndUnseal(config, operator, logger, output) : null;
  if (!config.dev && !peerSeal?.sealedByOperator) await unsealFromConfig(config, operator, logger);
  fingerprintIndex.start();
  const scan = createScanService({ db, fingerprintStore, index: fingerprintIndex, barrier, authorizer, auditLog, now });

  // Rotation engine: persisted four-phase runs, driven by a leader-only scheduler.
  let listeningAddress = '';
  const rotation = createRotationEngine({
    db, rotationStore: createRotationStore(), secrets, identity, policies, authorizer, auditLog, logger, now, nodeId: leadership.nodeId,
    address: () => listeningAddress, fault: parseRotationFault(config.rotation_fault), currentHold,
    nodeGone: leadership.isNodeGone ? (id) => leadership.isNodeGone!(id) : undefined,
    // The documented fault: a synchronous note on stderr (async logs would be lost), then SIGKILL.
    crash: () => {
      writeSync(2, `rotation fault injection (${config.rotation_fault}): killing this process with SIGKILL\n`);
      process.kill(process.pid, 'SIGKILL');
    },
  });
  const rotationScheduler = createRotationScheduler({ engine: rotation, leadership, isSealed: () => barrier.isSealed(), logger, tickMs: config.rotation_tick_seconds * 1000 });

  // AWS Secrets Manager-compatible API (SigV4 keys, replication); `test`/`test` is root in --dev only.
  const replication = createReplicationService({ db, secretStore: createSecretStore(storage.dialect), replicator, authorizer, changes, now, region: config.region });
  const awsCredentials = createAwsCredentialsService({ db, keyStore: createAwsKeyStore(), barrier, authorizer, changes, now, devRootKey: config.dev, groupPolicies: groups.policiesOfAwsKey });
  const resourcePolicies = createResourcePolicyService({
    db, secretStore: createSecretStore(storage.dialect), store: resourcePolicyStore, authorizer, changes, region: config.region, arnOf: secrets.arnOf, now,
  });

  // Change requests: writes a policy grants only with approval wait for other people's approval.
  const approvals = createApprovalsService({
    db, store: createChangeRequestStore(storage.dialect), tokenStore: createTokenStore(), awsKeyStore: createAwsKeyStore(), groupStore: createGroupStore(), authorizer, secrets, rotation, barrier, auditLog, now,
    secretStore: createSecretStore(storage.dialect), resourcePolicyStore, replication, resourcePolicies, region: config.region,
  });
  const awsPlugins = [awsRoutes({ secrets, replication, rotation, resourcePolicies, credentials: awsCredentials, approvals }), awsKeyRoutes(awsCredentials)];
  if (awsCredentials.devRootKeyEnabled) {
    output(`WARNING: dev mode accepts AWS access key "${DEV_ACCESS_KEY_ID}" / secret "test" as root on the AWS-compatible API.`);
  }

  // Transit (encryption as a service): named keys sealed by the barrier.
  const transit = createTransitService({ db, store: createTransitStore(storage.dialect), barrier, authorizer, changes, now });

  // Leases (stored, swept by the leader) and the dynamic database credentials that use them.
  const leases = createLeaseManager({ db, store: createLeaseStore(), authorizer, now, audit: (event) => auditLog.record(event), nodeId: leadership.nodeId, logger, concurrency: config.lease_sweep_concurrency });
  const database = createDatabaseService({ db, store: createDatabaseStore(), secrets, authorizer, leases, now, logger, poolSize: config.database_pool_size });
  metrics.setSources({ leases: () => leases.countByState() });
  const leaseSweeper = createLeaseSweeper({ leases, leadership, isSealed: () => barrier.isSealed(), logger, tickMs: config.lease_sweep_seconds * 1000 });


  // Auth methods (AppRole, JWT/OIDC): logins end in ordinary tokens issued by the identity service.
  const authStore = createAuthStore();
  const loginLookups = createLoginLookups({ db, authStore, changes, now });
  const hashSecretId = (secretId: string) => barrier.hashToken(`approle-secret-id:${secretId}`);
  const auth = createAuthService({
    db, authStore, authorizer, identity, changes, now, lookups: loginLookups,
    tokenOnlyTransaction: storage.dialect === 'sqlite' ? createGroupCommit((fn) => auditStore.appendTransaction(db, fn)) : undefined,
    loginTransaction: sharedCommit,
    methods: [createAppRoleMethod({ db, authStore, hashSecretId, now }), createJwtMethod({ db, authStore, now, lookups: loginLookups }), createUserpassMethod({ db, authStore, now }),
      createOidcMethod({ db, authStore, stateStore: createOidcStateStore(), keyedHash: (text) => barrier.hashToken(text), now })],
  });
  const approle = createAppRoleService({ db, authStore, authorizer, auth, hashSecretId, now });
  const wrapping = createWrappingService({ db, store: createWrappingStore(), barrier, now });
  const identityPlugins = [authRoutes(auth), appRoleRoutes(approle), wrappingRoutes(wrapping, loginAuditor), groupRoutes(groups), ...(clock.adjustable ? [testingClockRoutes(clock)] : [])];
  if (clock.adjustable) logger.warn('TESTING CLOCK is on: a root token can move this server\'s time forward (testing aid only)');

  // Alerts: rules over the audit stream and the inventory, evaluated by the leader (below).
  const alertEngine = createAlertEngine({
    db, alertStore, auditStore, config: config.alerts, sinks: resolveSinks(config.alerts.sinks, (file) => readFileSync(file, 'utf8')), now,
    recordAudit: (event) => auditLog.record(event), isSealed: () => barrier.isSealed(), nodeId: leadership.nodeId,
    verifyAudit: async () => (barrier.isSealed() ? { ok: true } : auditLog.verify({ fullEveryMs: config.alerts.rules.integrity.full_verify_every_hours * 3_600_000 })),
  });
  const alerts = createAlertService({ db, alertStore, authorizer, now });
  const reports = createReportService({ db, reportStore: createReportStore(), authorizer, now, verifyAudit: async () => { await auditLog.flush(); return auditLog.verify(); } });

  const uiSession = createUiSession({ identity, auth });
  // Change feed (GET /v1/changes): names and version ids of secret changes, for caching agents.
  const changeFeed = createChangeFeed({ changes, authorizer, region: config.region, now, maxSubscribers: config.change_feed_max_subscribers, maxPerToken: config.change_feed_max_subscribers_per_token });
  const http = await createHttpServer({
    logger, bodyLimit: config.body_limit_bytes, version: VERSION, isSealed: () => barrier.isSealed(), auditLog: requestAuditLog, identity, operator, wrapping, metrics,
    plugins: [
      operatorRoutes(operator, VERSION), secretRoutes(secrets), identityRoutes(identity, policies),
      metricsRoutes(createMetricsService({ metrics: worker ? worker.clusterMetrics(() => metrics.collect()) : metrics, authorizer, public: config.metrics_public })),
      ...awsPlugins, rotationRoutes(rotation), transitRoutes(transit), ...identityPlugins, scanRoutes(scan), alertRoutes(alerts), reportRoutes(reports), approvalRoutes(approvals), uiSession.routes, uiStaticRoutes(), databaseRoutes(database), leaseRoutes(leases, now), changeRoutes(changeFeed, identity, uiSession.tokenOf),
      agentReportRoutes(createAgentReports({ now })),
    ],
    sessionToken: uiSession.tokenOf,
    nodeId: storage.dialect === 'postgres' || worker ? coordination.nodeId : undefined,
    beforeReply: worker ? () => worker.settled() : undefined,
    workerIndex: worker?.index,
  });
  await http.listen({ host: config.host, port: config.port });
  const { port } = http.server.address() as { port: number };
  const address = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  logger.info({ address, storage: storage.dialect, dev: config.dev }, 'custos listening');
  listeningAddress = address;
  if (devRootToken) {
    // Saved under this server's address, so it never replaces another server's token.
    const files = saveToken(address, devRootToken);
    output(`(saved to ${files.join(' and ')} for the CLI; CUSTOS_ADDR=${address} picks it)`);
  }
  if (config.rotation_fault) logger.warn({ fault: config.rotation_fault }, 'ROTATION FAULT INJECTION is on: this process will kill itself during rotations (testing aid)');
  rotationScheduler.start();
  checkpointer.start();
  leaseSweeper.start();

  // Background work: purge secrets past their recovery window, prune audit past retention.
  // Singleton work: only the leader runs it (always this node on SQLite); a run still going skips the next tick.
  const maintenanceMs = config.maintenance_interval_seconds ? config.maintenance_interval_seconds * 1000 : undefined;
  const leaderOnly = (name: string, everyMs: number, work: () => Promise<unknown>) => {
    let running = false;
    return setInterval(() => {
      if (running || !leadership.isLeader()) return;
      running = true;
      work().catch((err) => logger.error({ err }, `${name} failed`)).finally(() => (running = false));
    }, everyMs);
  };
  const jobs = [
    leaderOnly('purge', maintenanceMs ?? 3_600_000, async () => {
      const purged = await secrets.purgeExpired();
      if (purged > 0) logger.info({ nodeId: leadership.nodeId, purged }, 'purged secrets past their recovery window');
    }),
    leaderOnly('audit prune', maintenanceMs ?? 6 * 3_600_000, async () => {
      // PostgreSQL: next months' partitions exist well before the month turns (audit-partitions.ts).
      const created = await auditStore.months.ensure(db, now());
      if (created.length > 0) logger.info({ partitions: created }, 'created audit partitions');
      const pruned = await auditLog.prune(config.audit_retention_days);
      if (pruned > 0) logger.info({ pruned, retentionDays: config.audit_retention_days }, 'pruned audit events past retention');
    }),
    leaderOnly('wrapping cleanup', 60_000, () => wrapping.dropExpired()),
    leaderOnly('change request expiry', 60_000, () => approvals.expireDue()),
  ];
  if (config.alerts.enabled) jobs.push(leaderOnly('alert evaluation', config.alerts.evaluate_interval_seconds * 1000, () => alertEngine.evaluate()));
  for (const job of jobs) job.unref();

  let closing: Promise<void> | null = null;
  return {
    http,
    storage,
    address,
    close() {
      closing ??= (async () => {
        for (const job of jobs) clearInterval(job);
        await rotationScheduler.stop();
        await rotation.idle();
        await leaseSweeper.stop();
        await leadership.close();
        // A keep-alive connection busy when closing began turns idle only after its response;
        // close such connections as they go idle, or the drain waits for the keep-alive timeout.
        const sweep = setInterval(() => http.server.closeIdleConnections(), 50);
        try {
          await http.close(); // drains in-flight requests, whose audit events are awaited in onSend
        } finally {
          clearInterval(sweep);
        }
        await database.closeAll(); // after the drain: in-flight requests may still use the pools
        await auditLog.close();
        checkpointer.stop();
        if (!barrier.isSealed()) checkpointer.flush(); // the head at shutdown, for the next start's check
        await coordination.close();
        await storage.close();
      })();
      return closing;
    },
  };
}

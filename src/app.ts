import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createAuditLog, createInProcessAppender, createSqliteAppender } from './audit/audit-log.js';
import { createBarrier } from './barrier/barrier.js';
import { storagePassword, type Config } from './config/config.js';
import type { ChangeBus } from './lib/change-bus.js';
import { createHttpServer } from './http/server.js';
import { createAuthorizer } from './services/authorizer.js';
import { createIdentityService } from './services/identity-service.js';
import { createOperatorService } from './services/operator-service.js';
import { createPolicyService } from './services/policy-service.js';
import { createSecretsService } from './services/secrets-service.js';
import { createAuditStore } from './storage/audit-store.js';
import { openStorage, type Storage } from './storage/database.js';
import { openCoordination } from './storage/cluster.js';
import { createPolicyStore } from './storage/policy-store.js';
import { createSecretStore } from './storage/secret-store.js';
import { createSystemStore } from './storage/system-store.js';
import { createTokenStore } from './storage/token-store.js';
import { awsRoutes } from './http/aws/aws-routes.js';
import { awsKeyRoutes } from './http/routes/aws-keys.js';
import { createAwsCredentialsService, DEV_ACCESS_KEY_ID } from './services/aws-credentials-service.js';
import { createReplicationService, createReplicator } from './services/replication-service.js';
import { createAwsKeyStore } from './storage/aws-key-store.js';
import { rotationRoutes } from './http/routes/rotation.js';
import { createRotationEngine, parseRotationFault } from './services/rotation/rotation-engine.js';
import { createRotationScheduler } from './services/rotation/scheduler.js';
import { createRotationStore } from './storage/rotation-store.js';
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

export const VERSION = '0.1.0';

export interface CustosServer {
  readonly http: FastifyInstance;
  readonly storage: Storage;
  /** The address the server listens on, e.g. http://127.0.0.1:8420. */
  readonly address: string;
  close(): Promise<void>;
}

/** Composition root: config -> storage -> barrier -> services -> http, then start-up and background jobs. */
export async function startServer(config: Config, logger: Logger, output: (line: string) => void = (l) => process.stdout.write(l + '\n')): Promise<CustosServer> {
  const storage = await openStorage({
    url: config.storage, password: storagePassword(config), sqliteSynchronous: config.sqlite_synchronous,
    backgroundCheckpoints: { onError: (error) => logger.error({ err: error }, 'SQLite WAL checkpoint failed') },
  });
  const { db } = storage;
  const now = () => Date.now();

  const barrier = createBarrier({ db, systemStore: createSystemStore(), now });
  const auditStore = createAuditStore(storage.dialect, { fsyncEachBatch: config.audit_fsync, sqliteSynchronous: config.sqlite_synchronous });
  // SQLite: one node, in-process bus. PostgreSQL: LISTEN/NOTIFY bus and an advisory-lock leader.
  const coordination = await openCoordination({ dialect: storage.dialect, url: config.storage, password: storagePassword(config), nodeId: config.node_id, log: logger,
    leaderEligible: () => !barrier.isSealed() }); // singleton work (rotation) needs keys
  const changes: ChangeBus = coordination.changes;
  const { leadership } = coordination;
  const metrics = createMetrics({ environments: config.metrics_environments, isKnownCode: isErrorCode });
  const auditLog = createAuditLog({
    db, auditStore, chainKey: () => barrier.auditKey(), isSealed: () => barrier.isSealed(), now,
    onError: (error) => logger.error({ err: error }, 'audit log write failed'),
    appender: timedAppender(storage.sqlitePath && storage.sqlitePath !== ':memory:'
      ? createSqliteAppender(storage.sqlitePath, { fsyncEachBatch: config.audit_fsync })
      : createInProcessAppender(db, auditStore), metrics),
  });
  // The audit queue as requests see it: events recorded and not yet durable.
  let auditPending = 0;
  const requestAuditLog = {
    record: (event: Parameters<typeof auditLog.record>[0]) => {
      auditPending++;
      return auditLog.record(event).finally(() => auditPending--);
    },
    appendWithin: auditLog.appendWithin,
  };
  const alertStore = createAlertStore();
  metrics.setSources({ sealed: () => barrier.isSealed(), auditPending: () => auditPending, rotation: () => alertStore.rotationStats(db), alertsFiring: () => alertStore.firingCounts(db) });
  const authorizer = createAuthorizer({ db, policyStore: createPolicyStore(), changes });
  const identity = createIdentityService({ db, tokenStore: createTokenStore(), authorizer, hashToken: (t) => barrier.hashToken(t), changes, now });
  const replicator = createReplicator({ secretStore: createSecretStore(storage.dialect), barrier, now });
  const secrets = createSecretsService({
    db, secretStore: createSecretStore(storage.dialect), barrier, authorizer, changes, now, region: config.region, accountId: config.account_id,
    readCache: storage.dialect === 'sqlite',
    replicator,
  });
  const policies = createPolicyService({ db, policyStore: createPolicyStore(), authorizer, changes, now });
  const operator = createOperatorService({ db, barrier, identity, authorizer, auditLog, changes });
  changes.subscribe((topic) => {
    if (topic === 'keyring') void barrier.refreshKeyring();
  });

  if (config.dev) await devInitAndUnseal(config, operator, logger, output);
  else await unsealFromConfig(config, operator, logger);

  // Rotation engine: persisted four-phase runs, driven by a leader-only scheduler.
  let listeningAddress = '';
  const rotation = createRotationEngine({
    db, rotationStore: createRotationStore(), secrets, identity, policies, authorizer, auditLog, logger, now, nodeId: leadership.nodeId,
    address: () => listeningAddress, fault: parseRotationFault(config.rotation_fault),
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
  const awsCredentials = createAwsCredentialsService({ db, keyStore: createAwsKeyStore(), barrier, authorizer, changes, now, devRootKey: config.dev });
  const awsPlugins = [awsRoutes({ secrets, replication, rotation, credentials: awsCredentials }), awsKeyRoutes(awsCredentials)];
  if (awsCredentials.devRootKeyEnabled) {
    logger.warn('DEV MODE: the AWS-compatible API accepts access key "test" with secret "test" as the root identity');
    output(`WARNING: dev mode accepts AWS access key "${DEV_ACCESS_KEY_ID}" / secret "test" as root on the AWS-compatible API.`);
  }

  // Alerts: rules over the audit stream and the inventory, evaluated by the leader (below).
  const alertEngine = createAlertEngine({
    db, alertStore, auditStore, config: config.alerts, sinks: resolveSinks(config.alerts.sinks, (file) => readFileSync(file, 'utf8')), now,
    recordAudit: (event) => auditLog.record(event), isSealed: () => barrier.isSealed(), nodeId: leadership.nodeId,
    verifyAudit: async () => (barrier.isSealed() ? { ok: true } : auditLog.verify()),
  });
  const alerts = createAlertService({ db, alertStore, authorizer, now });
  const reports = createReportService({ db, reportStore: createReportStore(), authorizer, now, verifyAudit: async () => { await auditLog.flush(); return auditLog.verify(); } });

  const http = await createHttpServer({
    logger, bodyLimit: config.body_limit_bytes, version: VERSION, isSealed: () => barrier.isSealed(), auditLog: requestAuditLog, identity, secrets, policies, operator,
    metrics: { instruments: metrics, service: createMetricsService({ metrics, authorizer, public: config.metrics_public }) },
    plugins: [...awsPlugins, rotationRoutes(rotation), alertRoutes(alerts), reportRoutes(reports)],
    nodeId: storage.dialect === 'postgres' ? coordination.nodeId : undefined,
  });
  await http.listen({ host: config.host, port: config.port });
  const { port } = http.server.address() as { port: number };
  const address = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  logger.info({ address, storage: storage.dialect, dev: config.dev }, 'custos listening');
  listeningAddress = address;
  if (config.rotation_fault) logger.warn({ fault: config.rotation_fault }, 'ROTATION FAULT INJECTION is on: this process will kill itself during rotations (testing aid)');
  rotationScheduler.start();

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
    leaderOnly('audit prune', maintenanceMs ?? 6 * 3_600_000, () => auditLog.prune(config.audit_retention_days)),
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
        await leadership.close();
        // A keep-alive connection busy when closing began turns idle only after its response;
        // close such connections as they go idle, or the drain waits for the keep-alive timeout.
        const sweep = setInterval(() => http.server.closeIdleConnections(), 50);
        try {
          await http.close(); // drains in-flight requests, whose audit events are awaited in onSend
        } finally {
          clearInterval(sweep);
        }
        await auditLog.close();
        await coordination.close();
        await storage.close();
      })();
      return closing;
    },
  };
}

export function defaultTokenPath(): string {
  return path.join(process.env.HOME || os.homedir(), '.custos', 'token');
}

function writePrivateFile(file: string, content: string): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, content, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/** --dev: initialize on first start with one unseal key kept beside the data, and unseal from it. */
async function devInitAndUnseal(config: Config, operator: ReturnType<typeof createOperatorService>, logger: Logger, output: (line: string) => void): Promise<void> {
  const keyFile = path.join(config.data_dir, 'unseal.key');
  const status = await operator.status();
  if (!status.initialized) {
    const { rootToken, keys } = await operator.initialize(1, 1);
    writePrivateFile(keyFile, keys[0]! + '\n');
    const tokenFile = defaultTokenPath();
    writePrivateFile(tokenFile, rootToken + '\n');
    output(`Root token: ${rootToken}`);
    output(`(saved to ${tokenFile} for the CLI)`);
  }
  if (!existsSync(keyFile)) throw new Error(`dev mode: the unseal key file ${keyFile} is missing`);
  logger.warn({ keyFile }, 'DEV MODE: the unseal key is stored next to the data. This is for one machine only; never use --dev in production.');
  output(`WARNING: dev mode keeps the unseal key in ${keyFile}; for one machine only, never for production.`);
  await operator.unseal(readFileSync(keyFile, 'utf8').trim());
}

async function unsealFromConfig(config: Config, operator: ReturnType<typeof createOperatorService>, logger: Logger): Promise<void> {
  const source = config.unseal_key ?? (config.unseal_key_file ? readFileSync(config.unseal_key_file, 'utf8') : undefined);
  if (!source) {
    logger.info('starting sealed; unseal with `custos operator unseal`');
    return;
  }
  if (!(await operator.status()).initialized) {
    logger.warn('an unseal key is configured but Custos is not initialized; run `custos operator init`');
    return;
  }
  for (const share of source.split(/[\s,]+/).filter(Boolean)) {
    const status = await operator.unseal(share);
    if (!status.sealed) break;
  }
  const status = await operator.status();
  if (status.sealed) logger.error({ progress: status.progress, threshold: status.threshold }, 'configured unseal keys did not unseal');
  else logger.info('unsealed from configured key');
}

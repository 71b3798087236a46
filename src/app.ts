import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createAuditLog } from './audit/audit-log.js';
import { createBarrier } from './barrier/barrier.js';
import { storagePassword, type Config } from './config/config.js';
import { createLocalChangeBus, type ChangeBus } from './lib/change-bus.js';
import { createHttpServer } from './http/server.js';
import { createAuthorizer } from './services/authorizer.js';
import { createIdentityService } from './services/identity-service.js';
import { createOperatorService } from './services/operator-service.js';
import { createPolicyService } from './services/policy-service.js';
import { createSecretsService } from './services/secrets-service.js';
import { createAuditStore } from './storage/audit-store.js';
import { openStorage, type Storage } from './storage/database.js';
import { createPolicyStore } from './storage/policy-store.js';
import { createSecretStore } from './storage/secret-store.js';
import { createSystemStore } from './storage/system-store.js';
import { createTokenStore } from './storage/token-store.js';

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
  const storage = await openStorage({ url: config.storage, password: storagePassword(config), sqliteSynchronous: config.sqlite_synchronous });
  const { db } = storage;
  const now = () => Date.now();
  const changes: ChangeBus = createLocalChangeBus();

  const barrier = createBarrier({ db, systemStore: createSystemStore(), now });
  const auditLog = createAuditLog({
    db, auditStore: createAuditStore(storage.dialect), chainKey: () => barrier.auditKey(), isSealed: () => barrier.isSealed(), now,
    onError: (error) => logger.error({ err: error }, 'audit log write failed'),
  });
  const authorizer = createAuthorizer({ db, policyStore: createPolicyStore(), changes });
  const identity = createIdentityService({ db, tokenStore: createTokenStore(), authorizer, hashToken: (t) => barrier.hashToken(t), changes, now });
  const secrets = createSecretsService({
    db, secretStore: createSecretStore(storage.dialect), barrier, authorizer, changes, now, region: config.region, accountId: config.account_id,
  });
  const policies = createPolicyService({ db, policyStore: createPolicyStore(), authorizer, changes, now });
  const operator = createOperatorService({ db, barrier, identity, authorizer, auditLog, changes });
  changes.subscribe((topic) => {
    if (topic === 'keyring') void barrier.refreshKeyring();
  });

  if (config.dev) await devInitAndUnseal(config, operator, logger, output);
  else await unsealFromConfig(config, operator, logger);

  const http = await createHttpServer({
    logger, bodyLimit: config.body_limit_bytes, version: VERSION, isSealed: () => barrier.isSealed(), auditLog, identity, secrets, policies, operator,
  });
  await http.listen({ host: config.host, port: config.port });
  const { port } = http.server.address() as { port: number };
  const address = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  logger.info({ address, storage: storage.dialect, dev: config.dev }, 'custos listening');

  // Background work: purge secrets past their recovery window, prune audit past retention.
  const jobs = [
    setInterval(() => void secrets.purgeExpired().catch((err) => logger.error({ err }, 'purge failed')), 3_600_000),
    setInterval(() => void auditLog.prune(config.audit_retention_days).catch((err) => logger.error({ err }, 'audit prune failed')), 6 * 3_600_000),
  ];
  for (const job of jobs) job.unref();

  let closing: Promise<void> | null = null;
  return {
    http,
    storage,
    address,
    close() {
      closing ??= (async () => {
        for (const job of jobs) clearInterval(job);
        // A keep-alive connection busy when closing began turns idle only after its response;
        // close such connections as they go idle, or the drain waits for the keep-alive timeout.
        const sweep = setInterval(() => http.server.closeIdleConnections(), 50);
        try {
          await http.close(); // drains in-flight requests, whose audit events are awaited in onSend
        } finally {
          clearInterval(sweep);
        }
        await auditLog.flush();
        await changes.close();
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

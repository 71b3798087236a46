import { randomBytes } from 'node:crypto';
import { createAuditLog, type AuditEvent } from '../../src/audit/audit-log.js';
import { AlertsConfigSchema, type AlertsConfig } from '../../src/config/alerts-config.js';
import { createAlertStore } from '../../src/storage/alert-store.js';
import { createAuditStore } from '../../src/storage/audit-store.js';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { createAlertEngine, type AlertEngineDeps } from '../../src/alerts/alert-engine.js';
import type { Sink } from '../../src/alerts/alert-sinks.js';

/**
 * A real alert engine over in-memory SQLite and the real audit log, with a clock the test
 * sets, for the engine's own tests (scripted audit histories; nothing is mocked).
 */
export async function alertKit(config: Record<string, unknown> = {}, options: { sinks?: Sink[]; start?: number; verifyAudit?: AlertEngineDeps['verifyAudit']; storage?: Storage; maxEventsPerRun?: number } = {}) {
  // In-memory SQLite unless given a storage (the PostgreSQL contract run passes one).
  const storage = options.storage ?? (await openStorage({ url: 'sqlite::memory:' }));
  const key = randomBytes(32);
  let clock = options.start ?? Date.UTC(2026, 8, 1, 10, 0); // Tuesday 1 September 2026, 10:00 UTC
  let sealed = false;
  const auditStore = createAuditStore(storage.dialect);
  const auditLog = createAuditLog({ db: storage.db, auditStore, chainKey: () => key, isSealed: () => false, now: () => clock, onError: () => undefined });
  await auditLog.initializeChain(); // a fresh store's chain starts here (the operator's init does it in the server)
  const alertStore = createAlertStore();
  const parsed: AlertsConfig = AlertsConfigSchema.parse(config);
  const engineFor = () => createAlertEngine({
    db: storage.db, alertStore, auditStore, config: parsed, sinks: options.sinks ?? [], now: () => clock, recordAudit: (e) => auditLog.record(e),
    isSealed: () => sealed, verifyAudit: options.verifyAudit, nodeId: 'test-node', maxEventsPerRun: options.maxEventsPerRun,
  });
  let engine = engineFor();
  let request = 0;
  const record = (e: Partial<AuditEvent>) => auditLog.record({
    time: clock, requestId: `req_${request++}`, accessor: 'acc_alice', source: '10.0.0.1', operation: 'secret.read', secretName: 'prod/etl/db', versionId: null,
    outcome: 'success', errorCode: null, status: 200, latencyUs: 100, ...e,
  });
  return {
    db: storage.db, alertStore, auditLog,
    get now() { return clock; },
    set now(t: number) { clock = t; },
    setSealed(value: boolean) { sealed = value; },
    /** A successful read of `secret` by `accessor` at `time` (the clock by default). */
    read: (accessor: string, secret: string, time = clock) => record({ accessor, secretName: secret, time }),
    fail: (e: { accessor?: string | null; source?: string; code: string; time?: number; secret?: string }) =>
      record({ accessor: e.accessor ?? null, source: e.source ?? '10.0.0.1', errorCode: e.code, outcome: 'denied', status: 403, time: e.time ?? clock, secretName: e.secret ?? 'prod/etl/db' }),
    record,
    evaluate: () => engine.evaluate(),
    /** A new engine over the same database, as after a restart or a change of leader. */
    restart() { engine = engineFor(); },
    alerts: (rule?: string) => alertStore.list(storage.db, { rule, limit: 1000 }),
    auditOps: async (prefix: string) => (await auditStore.query(storage.db, { operation: undefined, limit: 100_000 })).filter((r) => r.operation.startsWith(prefix)),
    close: () => storage.close(),
  };
}

export type AlertKit = Awaited<ReturnType<typeof alertKit>>;
export const MINUTE = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;

import type { Kysely } from 'kysely';
import type { AuditEvent } from '../audit/audit-chain.js';
import type { AlertsConfig } from '../config/alerts-config.js';
import type { AlertStore } from '../storage/alert-store.js';
import type { Database } from '../storage/schema.js';
import type { AlertLedger } from './alert-ledger.js';
import { alertPayload, postOnce, sinkRequest, type Sink } from './alert-sinks.js';

export interface DeliveryDeps {
  db: Kysely<Database>;
  alertStore: AlertStore;
  sinks: readonly Sink[];
  config: AlertsConfig['delivery'];
  now: () => number;
  nodeId: string;
  recordAudit: (event: AuditEvent) => Promise<void>;
  ledger: Pick<AlertLedger, 'auditEvent'>;
}

/**
 * Sends queued deliveries whose time has come. A failure is retried with exponential
 * backoff (backoff_seconds, doubling); after max_attempts the delivery is kept in the
 * database as dead (the dead-letter list, shown by `custos alerts show`) and audited.
 */
export function createAlertDelivery(deps: DeliveryDeps) {
  const sinks = new Map(deps.sinks.map((s) => [s.name, s]));
  return {
    async deliverDue(): Promise<{ delivered: number; dead: number }> {
      let delivered = 0;
      let dead = 0;
      const due = await deps.alertStore.dueDeliveries(deps.db, deps.now(), 100);
      for (const d of due) {
        const sink = sinks.get(d.sink);
        const alert = await deps.alertStore.alert(deps.db, d.alert_id);
        const attempts = d.attempts + 1;
        const error = !sink ? `sink ${d.sink} is no longer configured` : !alert ? 'alert not found'
          : await postOnce(sink.url, sinkRequest(sink, alertPayload(alert, d.event, deps.nodeId), deps.now()), deps.config.timeout_seconds * 1000);
        const now = deps.now();
        if (error === null) {
          await deps.alertStore.updateDelivery(deps.db, d.id, { status: 'delivered', attempts, last_error: null, updated_at: now });
          delivered++;
        } else if (attempts >= deps.config.max_attempts || !sink || !alert) {
          await deps.alertStore.updateDelivery(deps.db, d.id, { status: 'dead', attempts, last_error: error, updated_at: now });
          dead++;
          if (alert) await deps.recordAudit({ ...deps.ledger.auditEvent('alert.delivery_failed', alert, now, { sink: d.sink, attempts, error }), outcome: 'failure', status: 502 });
        } else {
          const backoff = deps.config.backoff_seconds * 1000 * 2 ** (attempts - 1);
          await deps.alertStore.updateDelivery(deps.db, d.id, { attempts, last_error: error, next_attempt_at: now + backoff, updated_at: now });
        }
      }
      return { delivered, dead };
    },
  };
}

import type { Kysely } from 'kysely';
import { AppError } from '../errors/app-error.js';
import type { Authorizer } from '../services/authorizer.js';
import type { Identity } from '../auth/identity.types.js';
import type { AlertDeliveryRow, AlertRow, AlertStore } from '../storage/alert-store.js';
import type { Database } from '../storage/schema.js';
import { transaction } from '../storage/transaction.js';

export interface AlertServiceDeps {
  db: Kysely<Database>;
  alertStore: AlertStore;
  authorizer: Pick<Authorizer, 'require'>;
  now: () => number;
}

export interface AlertDetail {
  alert: AlertRow;
  deliveries: AlertDeliveryRow[];
  silencedUntil: number | null;
}

const MAX_SILENCE_SECONDS = 90 * 86_400;

/**
 * The people's side of alerts: list and show (read on sys:alerts), acknowledge and silence
 * (update on sys:alerts). Each call is audited by the request that makes it; an
 * acknowledgement or silence commits with its audit event.
 */
export function createAlertService(deps: AlertServiceDeps) {
  const { db, alertStore, authorizer } = deps;
  async function find(id: string): Promise<AlertRow> {
    const alert = await alertStore.alert(db, id);
    if (!alert) throw new AppError('alert_not_found', `no alert ${id}`);
    return alert;
  }
  const silencedUntil = async (alert: AlertRow) => {
    const until = await alertStore.silencedUntil(db, alert.rule, alert.dedupe_key);
    return until !== undefined && until > deps.now() ? until : null;
  };
  return {
    async list(caller: Identity, query: { status?: 'firing' | 'resolved'; rule?: string; limit?: number }): Promise<AlertRow[]> {
      await authorizer.require(caller, 'read', 'sys:alerts');
      return alertStore.list(db, { status: query.status, rule: query.rule, limit: query.limit ?? 100 });
    },
    /** One alert with its deliveries (dead ones are the dead-letter list) and any silence. */
    async show(caller: Identity, id: string): Promise<AlertDetail> {
      await authorizer.require(caller, 'read', 'sys:alerts');
      const alert = await find(id);
      return { alert, deliveries: await alertStore.deliveries(db, id), silencedUntil: await silencedUntil(alert) };
    },
    /** Marks an alert as seen by the caller; it keeps firing until its condition clears. */
    async acknowledge(caller: Identity, id: string): Promise<AlertDetail> {
      await authorizer.require(caller, 'update', 'sys:alerts');
      const alert = await find(id);
      await transaction(db, caller.audit, async (tx) => {
        caller.audit?.annotate({ detail: { alert_id: id, rule: alert.rule } });
        await alertStore.updateAlert(tx, id, { acked_at: deps.now(), acked_by: caller.accessor });
      });
      return this.show(caller, id);
    },
    /** No notifications for this alert's rule and key (this alert and its recurrences) for `seconds`. */
    async silence(caller: Identity, id: string, seconds: number): Promise<AlertDetail> {
      await authorizer.require(caller, 'update', 'sys:alerts');
      if (!Number.isInteger(seconds) || seconds < 60 || seconds > MAX_SILENCE_SECONDS) throw new AppError('validation_failed', 'a silence lasts from 1 minute to 90 days');
      const alert = await find(id);
      const now = deps.now();
      await transaction(db, caller.audit, async (tx) => {
        caller.audit?.annotate({ detail: { alert_id: id, rule: alert.rule, silence_seconds: seconds } });
        await alertStore.silence(tx, { rule: alert.rule, dedupe_key: alert.dedupe_key, until_at: now + seconds * 1000, created_by: caller.accessor, created_at: now });
        // Notifications already queued for it are dropped too.
        await alertStore.cancelPendingDeliveries(tx, id, now);
      });
      return this.show(caller, id);
    },
  };
}

export type AlertService = ReturnType<typeof createAlertService>;

import type { Kysely } from 'kysely';
import type { AuditEvent } from '../../audit/audit-log.js';
import type { Barrier } from '../../barrier/barrier.js';
import { curve, evaluate, POINT_BYTES, scalarFromKey } from '../../crypto/oprf.js';
import { AppError } from '../../errors/app-error.js';
import type { FingerprintStore } from '../../storage/fingerprint-store.js';
import type { Database } from '../../storage/schema.js';
import type { Authorizer } from '../../services/authorizer.js';
import type { Identity } from '../../auth/identity.types.js';
import type { FingerprintIndex } from './fingerprint-index.js';

/** The administrative resource whose `read` capability lets a token use the matching oracle. */
export const SCAN_RESOURCE = 'sys:scan';

export interface ScanLimits {
  /** Points one accessor may have evaluated per hour: each is one guess it can test. */
  evaluationsPerHour: number;
  /** Items in one request. */
  batchMax: number;
}

export const DEFAULT_SCAN_LIMITS: ScanLimits = { evaluationsPerHour: 200_000, batchMax: 2_000 };

export interface ScanServiceDeps {
  db: Kysely<Database>;
  fingerprintStore: Pick<FingerprintStore, 'lookup'>;
  index: Pick<FingerprintIndex, 'settled'>;
  barrier: Pick<Barrier, 'fingerprintKey'>;
  authorizer: Authorizer;
  auditLog: { record(event: AuditEvent): Promise<void> };
  now: () => number;
  limits?: ScanLimits;
}

export interface ScanHit {
  fingerprint: string;
  secret: string;
  versionId: string;
  label: string;
  field: string;
}

/** Who asked, for the alert events a match records (request id and source, never the input). */
export interface ScanRequestContext {
  requestId: string;
  source: string | null;
}

const POINT_HEX = new RegExp(`^0[23][0-9a-f]{${(POINT_BYTES - 1) * 2}}$`);
const FINGERPRINT_HEX = /^[0-9a-f]{64}$/;
const HOUR_MS = 3_600_000;

/**
 * Known-value matching for `custos scan`. Candidates never reach the server: the scanner sends
 * blinded curve points (uniformly random, whatever they encode) to `evaluate` and, after
 * unblinding, fingerprints to `match`. Anything else is refused before it is looked at, so a
 * client that sends plaintext by mistake gets an error, not a log line. See docs/scan.md.
 */
export function createScanService(deps: ScanServiceDeps) {
  const limits = deps.limits ?? DEFAULT_SCAN_LIMITS;
  const ecdh = curve();
  // accessor -> evaluations in the current hour window (bounded by the number of tokens in use).
  const usage = new Map<string, { windowStart: number; count: number }>();

  function charge(caller: Identity, count: number): void {
    const at = deps.now();
    let entry = usage.get(caller.accessor);
    if (!entry || at - entry.windowStart >= HOUR_MS) {
      if (usage.size > 10_000) usage.clear();
      entry = { windowStart: at, count: 0 };
      usage.set(caller.accessor, entry);
    }
    if (entry.count + count > limits.evaluationsPerHour) {
      throw new AppError('scan_rate_limited', `this token may have ${limits.evaluationsPerHour} candidates evaluated per hour; try again later`, {
        details: { retry_after_seconds: Math.ceil((entry.windowStart + HOUR_MS - at) / 1000) },
      });
    }
    entry.count += count;
  }

  function checkBatch(items: unknown[], what: string): void {
    if (items.length === 0) throw new AppError('scan_input_invalid', `give at least one ${what}`);
    if (items.length > limits.batchMax) throw new AppError('scan_input_invalid', `at most ${limits.batchMax} ${what}s per request`, { details: { max: limits.batchMax } });
  }

  return {
    /** The OPRF step: k·B for each blinded point (compressed P-256, hex). */
    async evaluate(caller: Identity, points: string[]): Promise<string[]> {
      await deps.authorizer.require(caller, 'read', SCAN_RESOURCE);
      checkBatch(points, 'point');
      // Checked before anything is charged or computed; the message never echoes the input.
      points.forEach((p, index) => {
        if (typeof p !== 'string' || !POINT_HEX.test(p)) {
          throw new AppError('scan_input_invalid', `item ${index} is not a blinded point (66 lowercase hex characters starting 02 or 03); candidates are never accepted in the clear`, { details: { index } });
        }
      });
      charge(caller, points.length);
      const k = scalarFromKey(deps.barrier.fingerprintKey());
      return points.map((p, index) => {
        try {
          return evaluate(ecdh, k, Buffer.from(p, 'hex')).toString('hex');
        } catch {
          throw new AppError('scan_input_invalid', `item ${index} is not a point on the curve`, { details: { index } });
        }
      });
    },

    /**
     * Looks fingerprints up in the index and answers only for secrets the caller may `list`.
     * Every hit, reported or not, is an alert in the audit log: a leaked value is worth knowing
     * about even when the scanner that found it may not be told whose it is.
     */
    async match(caller: Identity, fingerprints: string[], context: ScanRequestContext): Promise<ScanHit[]> {
      await deps.authorizer.require(caller, 'read', SCAN_RESOURCE);
      checkBatch(fingerprints, 'fingerprint');
      fingerprints.forEach((f, index) => {
        if (typeof f !== 'string' || !FINGERPRINT_HEX.test(f)) {
          throw new AppError('scan_input_invalid', `item ${index} is not a fingerprint (64 lowercase hex characters); candidates are never accepted in the clear`, { details: { index } });
        }
      });
      await deps.index.settled();
      const rows = await deps.fingerprintStore.lookup(deps.db, [...new Set(fingerprints)]);
      const visible = new Map<string, boolean>();
      const hits: ScanHit[] = [];
      const events: Promise<void>[] = [];
      for (const row of rows) {
        let allowed = visible.get(row.name);
        if (allowed === undefined) {
          allowed = await deps.authorizer.allows(caller, 'list', row.name);
          visible.set(row.name, allowed);
        }
        if (allowed) hits.push({ fingerprint: row.fingerprint, secret: row.name, versionId: row.versionId, label: row.label, field: row.field });
        events.push(deps.auditLog.record({
          time: deps.now(), requestId: context.requestId, accessor: caller.accessor, source: context.source, operation: 'scan.leak_found',
          secretName: row.name, versionId: row.versionId, outcome: allowed ? 'success' : 'denied', errorCode: null, status: 200, latencyUs: 0,
          detail: { alert: true, label: row.label, field: row.field || null, reported: allowed },
        }));
      }
      await Promise.all(events);
      return hits;
    },
  };
}

export type ScanService = ReturnType<typeof createScanService>;

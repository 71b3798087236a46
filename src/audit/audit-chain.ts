import { createHmac } from 'node:crypto';
import { hmacSha256Hex, hmacSha256Key, type HmacSha256Key } from '../crypto/hmac.js';
import type { AuditRow } from '../storage/audit-store.js';

/** One audited request or engine step. Never carries a secret value or a token. */
export interface AuditEvent {
  time: number;
  requestId: string;
  accessor: string | null;
  source: string | null;
  operation: string;
  secretName: string | null;
  versionId: string | null;
  outcome: 'success' | 'denied' | 'failure';
  errorCode: string | null;
  status: number;
  latencyUs: number;
  /** Small non-secret context (labels moved, rotation step, node). */
  detail?: Record<string, string | number | boolean | null>;
}

export const GENESIS_HASH = '0'.repeat(64);

/** Fixed field order so the hash input never depends on object key order or the engine. */
export function canonicalEvent(row: Omit<AuditRow, 'hash' | 'prev_hash'>): string {
  return JSON.stringify([
    row.seq, row.time, row.request_id, row.accessor, row.source, row.operation, row.secret_name,
    row.version_id, row.outcome, row.error_code, row.status, row.latency_us, row.detail,
  ]);
}

/** `key` as raw bytes, or already made a KeyObject once for many links (hmacSha256Key). */
export function chainHash(key: Buffer | HmacSha256Key, prevHash: string, row: Omit<AuditRow, 'hash' | 'prev_hash'>): string {
  return macLink(Buffer.isBuffer(key) ? hmacSha256Key(key) : key, prevHash, canonicalEvent(row));
}

/** One link: HMAC-SHA256(key, prevHash + "\n" + canonical event), once per audited request. */
function macLink(key: HmacSha256Key, prevHash: string, canonical: string): string {
  return hmacSha256Hex(key, `${prevHash}\n${canonical}`);
}

/**
 * Turns events into chained rows that follow `head` (the last stored event, or the anchor).
 * Runs on the request thread for every audited request, so it builds each row once and the
 * hash input directly (the same string canonicalEvent makes: verification uses that).
 *
 * A row's time is never earlier than the time before it in the chain (`head.time`, then each
 * row's): time grows with seq, so a search bounded by time is a range of seq found by one index
 * seek (audit-store.ts). An event recorded late in a batch, a clock stepped back, or a node whose
 * clock is behind another's is stamped with the head's time until its own clock catches up.
 */
export function chainRows(key: Buffer, head: { seq: number; hash: string; time?: number | null }, events: AuditEvent[]): AuditRow[] {
  let seq = head.seq;
  let prevHash = head.hash;
  let floor = head.time ?? -Infinity;
  const mac = hmacSha256Key(key);
  const rows = new Array<AuditRow>(events.length);
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    seq += 1;
    const latency = Math.round(event.latencyUs);
    const detail = event.detail ? JSON.stringify(event.detail) : null;
    const time = event.time < floor ? floor : event.time;
    floor = time;
    const hash = macLink(mac, prevHash, JSON.stringify([
      seq, time, event.requestId, event.accessor, event.source, event.operation, event.secretName,
      event.versionId, event.outcome, event.errorCode, event.status, latency, detail,
    ]));
    rows[i] = {
      seq, time, request_id: event.requestId, accessor: event.accessor, source: event.source, operation: event.operation,
      secret_name: event.secretName, version_id: event.versionId, outcome: event.outcome, error_code: event.errorCode,
      status: event.status, latency_us: latency, detail, prev_hash: prevHash, hash,
    };
    prevHash = hash;
  }
  return rows;
}

/** MAC of the chain's newest event: a truncated tail cannot be made to verify without the key. */
export function headMac(key: Buffer, seq: number, hash: string): string {
  return createHmac('sha256', key).update(`custos:audit-head:${seq}:${hash}`).digest('hex');
}

/** MAC of the retention anchor: deleting old events and writing a new anchor needs the key. */
export function anchorMac(key: Buffer, seq: number, hash: string, prunedBefore: number): string {
  return createHmac('sha256', key).update(`custos:audit-anchor:${seq}:${hash}:${prunedBefore}`).digest('hex');
}

/**
 * MAC of the verified mark: the newest event a verify walk found good and when the chain was
 * last walked whole. A start-up that trusts it walks only what came after; forging one needs the key.
 */
export function verifiedMac(key: Buffer, seq: number, hash: string, fullAt: number): string {
  return createHmac('sha256', key).update(`custos:audit-verified:${seq}:${hash}:${fullAt}`).digest('hex');
}

import { createHmac } from 'node:crypto';
import type { AlertSinkConfig } from '../config/alerts-config.js';
import type { AlertRow } from '../storage/alert-store.js';

/**
 * Delivery formats. A webhook gets the alert as JSON, signed: the X-Custos-Signature header
 * is `v1=` + hex HMAC-SHA256(secret, timestamp + "." + body) with the timestamp (Unix
 * seconds) in X-Custos-Timestamp, so a receiver can reject altered and replayed bodies.
 * A Slack incoming webhook gets `{ text }` (its URL is the credential; Slack ignores headers).
 */
export interface Sink {
  name: string;
  type: 'webhook' | 'slack';
  url: string;
  /** The HMAC key (webhooks); never sent, never logged. */
  secret?: string;
  rules?: readonly string[];
}

export function resolveSinks(configs: readonly AlertSinkConfig[], readFile: (file: string) => string): Sink[] {
  return configs.map((c) => ({ name: c.name, type: c.type, url: c.url, rules: c.rules, secret: c.secret ?? (c.secret_file ? readFile(c.secret_file).trim() : undefined) }));
}

export const sinkTakes = (sink: Sink, rule: string) => !sink.rules || sink.rules.includes(rule);

/** The JSON body every sink format is built from: names, numbers and seqs, never a value. */
export function alertPayload(alert: AlertRow, event: 'fired' | 'resolved', node: string) {
  return {
    event, id: alert.id, rule: alert.rule, severity: alert.severity, status: alert.status,
    principal: alert.principal, secret: alert.secret_name, summary: alert.summary,
    facts: JSON.parse(alert.facts) as Record<string, unknown>, audit_seqs: JSON.parse(alert.event_seqs) as number[],
    occurrences: alert.occurrences, fired_at: new Date(Number(alert.fired_at)).toISOString(),
    resolved_at: alert.resolved_at === null ? null : new Date(Number(alert.resolved_at)).toISOString(), node,
  };
}

export function signBody(secret: string, timestamp: number, body: string): string {
  return 'v1=' + createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/** Builds the HTTP request for one sink. */
export function sinkRequest(sink: Sink, payload: ReturnType<typeof alertPayload>, nowMs: number): { body: string; headers: Record<string, string> } {
  if (sink.type === 'slack') {
    const icon = payload.event === 'resolved' ? ':white_check_mark:' : payload.severity === 'critical' ? ':rotating_light:' : ':warning:';
    const seqs = payload.audit_seqs.length ? ` (audit seq ${payload.audit_seqs.slice(0, 5).join(', ')}${payload.audit_seqs.length > 5 ? ', …' : ''})` : '';
    const text = `${icon} [${payload.severity}] ${payload.event === 'resolved' ? 'RESOLVED ' : ''}${payload.rule}: ${payload.summary}${seqs} · ${payload.id}`;
    return { body: JSON.stringify({ text }), headers: { 'content-type': 'application/json' } };
  }
  const body = JSON.stringify(payload);
  const timestamp = Math.floor(nowMs / 1000);
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-custos-event': payload.event, 'x-custos-timestamp': String(timestamp) };
  if (sink.secret) headers['x-custos-signature'] = signBody(sink.secret, timestamp, body);
  return { body, headers };
}

/** POSTs once; resolves with an error text (no response body: it is the receiver's) or null on 2xx. */
export async function postOnce(url: string, request: { body: string; headers: Record<string, string> }, timeoutMs: number): Promise<string | null> {
  try {
    const response = await fetch(url, { method: 'POST', body: request.body, headers: request.headers, signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
    await response.arrayBuffer().catch(() => undefined);
    return response.ok ? null : `HTTP ${response.status}`;
  } catch (error) {
    const e = error as { name?: string; cause?: { code?: string } };
    return e.name === 'TimeoutError' ? 'timeout' : `connection failed${e.cause?.code ? ` (${e.cause.code})` : ''}`;
  }
}

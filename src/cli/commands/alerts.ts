import type { AlertDetailResponse } from '../../sdk/api-client.js';
import { apiClient, printJson, printTable } from '../context.js';

export async function listCommand(options: { status?: string; rule?: string; all?: boolean; limit?: string; json?: boolean }): Promise<void> {
  const status = options.all ? undefined : ((options.status ?? 'firing') as 'firing' | 'resolved');
  const { alerts } = await apiClient().listAlerts({ status, rule: options.rule, limit: options.limit ? Number(options.limit) : undefined });
  if (options.json) return printJson(alerts);
  printTable(['ID', 'STATUS', 'SEVERITY', 'RULE', 'FIRED', 'ACKED BY', 'SUMMARY'], alerts.map((a) => [a.id, a.status, a.severity, a.rule, a.fired_at, a.acked_by, a.summary]));
}

function printDetail(a: AlertDetailResponse): void {
  printTable(['KEY', 'VALUE'], [
    ['id', a.id], ['rule', a.rule], ['status', a.status], ['severity', a.severity], ['principal', a.principal], ['secret', a.secret], ['summary', a.summary],
    ...Object.entries(a.facts).map(([k, v]): [string, string] => [`fact: ${k}`, String(v)]),
    ['audit seqs', a.audit_seqs.join(', ')], ['occurrences', a.occurrences], ['fired at', a.fired_at], ['last seen', a.last_seen_at], ['resolved at', a.resolved_at],
    ['acknowledged', a.acked_at ? `${a.acked_at} by ${a.acked_by}` : null], ['silenced until', a.silenced_until],
  ]);
  if (a.deliveries.length) {
    process.stdout.write('\n');
    printTable(['SINK', 'EVENT', 'STATUS', 'ATTEMPTS', 'LAST ERROR', 'NEXT ATTEMPT'], a.deliveries.map((d) => [d.sink, d.event, d.status, d.attempts, d.last_error, d.status === 'pending' ? d.next_attempt_at : null]));
  }
}

export async function showCommand(id: string, options: { json?: boolean }): Promise<void> {
  const alert = await apiClient().showAlert(id);
  if (options.json) return printJson(alert);
  printDetail(alert);
}

export async function ackCommand(id: string, options: { json?: boolean }): Promise<void> {
  const alert = await apiClient().ackAlert(id);
  if (options.json) return printJson(alert);
  process.stdout.write(`acknowledged ${alert.id} (${alert.rule}) as ${alert.acked_by}\n`);
}

export async function silenceCommand(id: string, options: { for: string; json?: boolean }): Promise<void> {
  const alert = await apiClient().silenceAlert(id, options.for);
  if (options.json) return printJson(alert);
  process.stdout.write(`silenced ${alert.rule} alerts like ${alert.id} until ${alert.silenced_until}\n`);
}

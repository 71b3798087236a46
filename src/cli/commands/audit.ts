import type { AuditEventResponse } from '../../sdk/api-client.js';
import { apiClient, printJson, printTable } from '../context.js';

function printEvents(events: AuditEventResponse[]): void {
  printTable(['SEQ', 'TIME', 'ACCESSOR', 'OPERATION', 'SECRET', 'OUTCOME', 'CODE', 'MS'],
    events.map((e) => [e.seq, e.time, e.accessor, e.operation, e.secret, e.outcome, e.error_code, e.latency_ms.toFixed(2)]));
}

export async function tailCommand(options: { n: string; json?: boolean }): Promise<void> {
  const { events } = await apiClient().auditEvents({ limit: Number(options.n), order: 'desc' });
  events.reverse();
  if (options.json) return printJson(events);
  printEvents(events);
}

export async function queryCommand(options: { secret?: string; principal?: string; since?: string; outcome?: string; operation?: string; limit: string; json?: boolean }): Promise<void> {
  const { events } = await apiClient().auditEvents({
    secret: options.secret, principal: options.principal, since: options.since, outcome: options.outcome, operation: options.operation, limit: Number(options.limit),
  });
  if (options.json) return printJson(events);
  printEvents(events);
}

export async function verifyCommand(options: { json?: boolean }): Promise<void> {
  const result = await apiClient().auditVerify();
  if (options.json) printJson(result);
  else if (result.ok) process.stdout.write(`audit log OK: ${result.checked} events verified (seq ${result.first_seq ?? '-'}..${result.last_seq ?? '-'}), head ${result.head_hash}\n`);
  else process.stdout.write(`audit log BROKEN at event ${result.problem!.seq}: ${result.problem!.kind}: ${result.problem!.message}\n`);
  if (!result.ok) process.exitCode = 4;
}

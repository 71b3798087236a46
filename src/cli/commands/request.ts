/** `custos request …`: change requests (writes held for approval) through the SDK. */
import type { ChangeRequestResponse } from '../../sdk/api-client.js';
import { apiClient, CliError, printJson, printTable } from '../context.js';

const STATES = ['pending', 'approved', 'applied', 'failed', 'denied', 'cancelled', 'expired'] as const;

export async function listCommand(options: { state?: string; limit?: string; json?: boolean }): Promise<void> {
  if (options.state !== undefined && !(STATES as readonly string[]).includes(options.state)) throw new CliError('validation_failed', `--state is one of ${STATES.join(', ')}`);
  const { requests } = await apiClient().listRequests({ state: options.state as ChangeRequestResponse['state'] | undefined, limit: options.limit ? Number(options.limit) : undefined });
  if (options.json) return printJson(requests);
  printTable(['ID', 'STATE', 'OPERATION', 'REQUESTER', 'APPROVALS', 'EXPIRES', 'SUMMARY'],
    requests.map((r) => [r.id, r.state, r.operation, r.requester.name, `${r.approvals.length}/${r.min_approvals}`, r.expires_at, r.summary]));
}

/** One diff line: `old → new`, or only the new value when the requester could not see the old one. */
export function changeText(c: ChangeRequestResponse['changes'][number]): string {
  const shown = (v: string | null) => (v === null ? '(none)' : JSON.stringify(v));
  return c.from === undefined ? `→ ${shown(c.to)}` : `${shown(c.from)} → ${shown(c.to)}`;
}

/** A write a policy grants only with approval was held, not made: say so and how to follow it. */
export function printHeld(request: ChangeRequestResponse, json?: boolean): void {
  if (json) return printJson({ change_request: request });
  process.stdout.write(`held for approval: change request ${request.id} (${request.min_approvals} of ${request.approvers.join(', ')}, expires ${request.expires_at}); follow it with \`custos request show ${request.id}\`\n`);
}

function printDetail(r: ChangeRequestResponse): void {
  printTable(['KEY', 'VALUE'], [
    ['id', r.id], ['state', r.state], ['summary', r.summary], ['operation', r.operation], ['resource', r.resource],
    ['requester', `${r.requester.name} (${r.requester.accessor})`], ['approvers', `${r.min_approvals} of ${r.approvers.join(', ')}`],
    ['approved by', r.approvals.map((a) => `${a.name} (${a.accessor})`).join(', ') || null], ['policy', r.policy],
    ['created at', r.created_at], ['expires at', r.expires_at], ['closed at', r.closed_at], ['closed by', r.closed_by], ['reason', r.close_reason],
    ['error', r.error_code], ...(r.changes ?? []).map((c): [string, string] => [`change: ${c.field}`, changeText(c)]), ...Object.entries(r.result ?? {}).map(([k, v]): [string, string] => [`result: ${k}`, String(v)]),
  ]);
}

const show = (json: boolean | undefined) => ({ change_request: r }: { change_request: ChangeRequestResponse }) => (json ? printJson(r) : printDetail(r));

export async function showCommand(id: string, options: { json?: boolean }): Promise<void> {
  show(options.json)(await apiClient().showRequest(id));
}

export async function approveCommand(id: string, options: { json?: boolean }): Promise<void> {
  const { change_request: r } = await apiClient().approveRequest(id);
  if (options.json) return printJson(r);
  if (r.state === 'failed') throw new CliError(r.error_code ?? 'change_request_failed', `approved, but the write failed: ${r.error_code}`);
  process.stdout.write(r.state === 'applied'
    ? `approved ${r.id}: applied (${r.summary})\n`
    : `approved ${r.id}: ${r.approvals.length} of ${r.min_approvals} approvals, still ${r.state}\n`);
}

export async function denyCommand(id: string, options: { reason?: string; json?: boolean }): Promise<void> {
  const { change_request: r } = await apiClient().denyRequest(id, options.reason);
  if (options.json) return printJson(r);
  process.stdout.write(`denied ${r.id} (${r.summary})\n`);
}

export async function cancelCommand(id: string, options: { reason?: string; json?: boolean }): Promise<void> {
  const { change_request: r } = await apiClient().cancelRequest(id, options.reason);
  if (options.json) return printJson(r);
  process.stdout.write(`cancelled ${r.id} (${r.summary})\n`);
}

/**
 * Reports a caching agent sends about itself. Today one kind: `recovered` — the agent served
 * stale values while the server was unreachable and now reaches it again. The report becomes
 * the request's own audit event with `detail.alert = "agent_recovered"`, which the alert
 * engine's integrity rule raises (docs/alerts.md), naming the agent's token as principal.
 *
 * Any authenticated token may report, because only what the token itself went through is
 * reported and the event names that token; a token cannot report for another. What is
 * accepted is bounded: numbers only, capped, and one report per token per minute, so a
 * misbehaving client cannot flood the alert sinks.
 */
import { AppError } from '../../errors/app-error.js';
import type { Identity } from '../../auth/identity.types.js';

export interface AgentRecoveredReport {
  /** Seconds from losing the server to reaching it again. */
  outageSeconds: number;
  /** Answers served from values the server could not confirm during the outage. */
  staleAnswers: number;
}

export const AGENT_REPORT_INTERVAL_MS = 60_000;
const MAX_TRACKED = 10_000;
/** A year of outage or a billion answers: beyond that a number is not a measurement. */
const CAP = { outageSeconds: 366 * 86_400, staleAnswers: 1e9 };

export function createAgentReports(deps: { now: () => number }) {
  const lastAccepted = new Map<string, number>();
  return {
    /** The audit detail that turns the report's event into an alert; refuses a second report within a minute. */
    recovered(caller: Identity, report: AgentRecoveredReport): Record<string, string | number> {
      const at = deps.now();
      const last = lastAccepted.get(caller.accessor);
      if (last !== undefined && at - last < AGENT_REPORT_INTERVAL_MS) {
        throw new AppError('agent_report_rate_limited', 'a token may send one agent report per minute');
      }
      if (lastAccepted.size >= MAX_TRACKED) lastAccepted.clear(); // bounded; forgetting only allows one more report
      lastAccepted.set(caller.accessor, at);
      return {
        alert: 'agent_recovered',
        outage_seconds: Math.min(Math.floor(report.outageSeconds), CAP.outageSeconds),
        stale_answers: Math.min(Math.floor(report.staleAnswers), CAP.staleAnswers),
      };
    },
  };
}

export type AgentReports = ReturnType<typeof createAgentReports>;

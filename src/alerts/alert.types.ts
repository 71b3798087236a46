/** Shared shapes of the alert engine (rules, engine, sinks, service). */
export type AlertRule = 'off_hours' | 'volume_spike' | 'first_time_access' | 'failure_burst' | 'expiring' | 'rotation' | 'unused' | 'integrity';
export const ALERT_RULES: readonly AlertRule[] = ['off_hours', 'volume_spike', 'first_time_access', 'failure_burst', 'expiring', 'rotation', 'unused', 'integrity'];
export type Severity = 'info' | 'warning' | 'critical';

/**
 * What a rule saw: enough to name who, which secret and why (the numbers), and which audit
 * events. Never a secret value: rules only see audit rows and inventory metadata.
 */
export interface Finding {
  rule: AlertRule;
  /** Identifies "the same alert": a new finding with a key already firing refreshes it instead of firing again. */
  key: string;
  severity: Severity;
  principal: string | null;
  secret: string | null;
  summary: string;
  facts: Record<string, string | number | boolean | null>;
  seqs: number[];
  /** When it was seen (event time for stream rules, the clock for state rules). */
  time: number;
}

/** The part of an audit row the stream rules read. */
export interface AuditRecord {
  seq: number;
  time: number;
  accessor: string | null;
  source: string | null;
  operation: string;
  secret_name: string | null;
  outcome: string;
  error_code: string | null;
  detail: string | null;
}

/** Operations that hand a secret value to the caller. */
export const READ_OPERATIONS: ReadonlySet<string> = new Set(['secret.read', 'aws.GetSecretValue']);

/** The environment of a secret path: its first segment. */
export const environmentOf = (name: string | null): string | null => {
  if (!name) return null;
  const slash = name.indexOf('/');
  return slash > 0 ? name.slice(0, slash) : null;
};

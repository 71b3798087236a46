/** One report as the server returns it; every output format (table, JSON, CSV, HTML) renders this. */
export type ReportKind = 'inventory' | 'access' | 'rotation' | 'unused';
export const REPORT_KINDS: readonly ReportKind[] = ['inventory', 'access', 'rotation', 'unused'];

export type Cell = string | number | boolean | null;

export interface ReportChart {
  title: string;
  type: 'bar' | 'line';
  labels: string[];
  series: { name: string; values: number[] }[];
}

export interface Report {
  kind: ReportKind;
  title: string;
  generated_at: string;
  /** Start of the period the counts and charts cover (ISO), when the report has one. */
  since: string | null;
  columns: string[];
  rows: Record<string, Cell>[];
  summary: Record<string, number>;
  charts: ReportChart[];
}

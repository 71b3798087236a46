import { writeFileSync } from 'node:fs';
import type { Report, ReportKind } from '../../engines/reports/report.types.js';
import { apiClient } from '../context.js';
import { toCsv, toHtml, toTable } from '../report-format.js';

export interface ReportOptions {
  format?: string;
  since?: string;
  days?: string;
  output?: string;
}

const FORMATS = ['table', 'json', 'csv', 'html'];

export async function reportCommand(kind: string, options: ReportOptions): Promise<void> {
  const format = options.format ?? 'table';
  if (!FORMATS.includes(format)) throw new Error(`--format must be one of ${FORMATS.join(', ')}`);
  if (!['inventory', 'access', 'rotation', 'unused'].includes(kind)) throw new Error('report is one of inventory, access, rotation, unused, evidence');
  const report = await apiClient().report(kind as ReportKind, { since: options.since, days: options.days ? Number(options.days) : undefined }) as unknown as Report;
  const out = format === 'json' ? JSON.stringify(report, null, 2) + '\n' : format === 'csv' ? toCsv(report) : format === 'html' ? toHtml([report]) : toTable(report);
  if (options.output) writeFileSync(options.output, out, { mode: 0o600 });
  else process.stdout.write(out);
}

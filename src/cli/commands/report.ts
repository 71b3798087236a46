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

export async function evidenceCommand(options: { period: string; signingKey: string; output?: string }): Promise<void> {
  const { readFileSync } = await import('node:fs');
  const { buildEvidenceArchive } = await import('../evidence-archive.js');
  const privatePem = readFileSync(options.signingKey, 'utf8');
  const evidence = await apiClient().evidence(options.period);
  const archive = buildEvidenceArchive(evidence, privatePem, Date.parse(evidence.generated_at));
  const file = options.output ?? `custos-evidence-${options.period}.tar`;
  writeFileSync(file, archive, { mode: 0o600 });
  const verify = evidence.files['audit-verify.json'] as { ok: boolean; checked: number };
  process.stdout.write(`wrote ${file}: ${Object.keys(evidence.files).length} evidence files, audit verify ${verify.ok ? 'ok' : 'FAILED'} (${verify.checked} events), signed with Ed25519\n`);
}

export async function keygenCommand(options: { out: string }): Promise<void> {
  const { generateSigningKey } = await import('../evidence-archive.js');
  const { existsSync } = await import('node:fs');
  if (existsSync(options.out)) throw new Error(`${options.out} exists; not overwriting a signing key`);
  const { privatePem, publicPem } = generateSigningKey();
  writeFileSync(options.out, privatePem, { mode: 0o600 });
  const pub = options.out.replace(/(\.pem)?$/, '.pub.pem');
  writeFileSync(pub, publicPem, { mode: 0o644 });
  process.stdout.write(`private key: ${options.out} (keep it; mode 0600)\npublic key:  ${pub} (give it to your auditor)\n`);
}

export async function verifyEvidenceCommand(file: string, options: { publicKey: string }): Promise<void> {
  const { readFileSync } = await import('node:fs');
  const { verifyEvidenceArchive } = await import('../evidence-archive.js');
  const problems = verifyEvidenceArchive(readFileSync(file), readFileSync(options.publicKey, 'utf8'));
  if (problems.length) throw new Error(`evidence archive does not verify: ${problems.join('; ')}`);
  process.stdout.write(`${file}: signature and every file verify\n`);
}

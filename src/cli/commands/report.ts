import { writeFileSync } from 'node:fs';
import { writePrivateFile } from '../../sdk/saved-tokens.js';
import type { Report, ReportKind } from '../../engines/reports/report.types.js';
import { apiClient, printJson } from '../context.js';
import { toCsv, toHtml, toTable } from '../report-format.js';

export interface ReportOptions {
  format?: string;
  since?: string;
  days?: string;
  output?: string;
  json?: boolean;
}

const FORMATS = ['table', 'json', 'csv', 'html'];

export async function reportCommand(kind: string, options: ReportOptions): Promise<void> {
  const format = options.json ? 'json' : options.format ?? 'table';
  if (!FORMATS.includes(format)) throw new Error(`--format must be one of ${FORMATS.join(', ')}`);
  if (!['inventory', 'access', 'rotation', 'unused'].includes(kind)) throw new Error('report is one of inventory, access, rotation, unused, evidence');
  const report = await apiClient().report(kind as ReportKind, { since: options.since, days: options.days ? Number(options.days) : undefined }) as unknown as Report;
  const out = format === 'json' ? JSON.stringify(report, null, 2) + '\n' : format === 'csv' ? toCsv(report) : format === 'html' ? toHtml([report]) : toTable(report);
  if (options.output) writePrivateFile(options.output, out);
  else process.stdout.write(out);
}

export async function evidenceCommand(options: { period: string; signingKey: string; output?: string; json?: boolean }): Promise<void> {
  const { readFileSync } = await import('node:fs');
  const { buildEvidenceArchive } = await import('../evidence-archive.js');
  const privatePem = readFileSync(options.signingKey, 'utf8');
  const evidence = await apiClient().evidence(options.period);
  const archive = buildEvidenceArchive(evidence, privatePem, Date.parse(evidence.generated_at));
  const file = options.output ?? `custos-evidence-${options.period}.tar`;
  writePrivateFile(file, archive);
  const verify = evidence.files['audit-verify.json'] as { ok: boolean; checked: number };
  if (options.json) return printJson({ file, period: options.period, files: Object.keys(evidence.files).length, audit_verify: { ok: verify.ok, checked: verify.checked } });
  process.stdout.write(`wrote ${file}: ${Object.keys(evidence.files).length} evidence files, audit verify ${verify.ok ? 'ok' : 'FAILED'} (${verify.checked} events), signed with Ed25519\n`);
}

export async function keygenCommand(options: { out: string; json?: boolean }): Promise<void> {
  const { generateSigningKey } = await import('../evidence-archive.js');
  const { existsSync } = await import('node:fs');
  if (existsSync(options.out)) throw new Error(`${options.out} exists; not overwriting a signing key`);
  const { privatePem, publicPem } = generateSigningKey();
  writePrivateFile(options.out, privatePem);
  const pub = options.out.replace(/(\.pem)?$/, '.pub.pem');
  writeFileSync(pub, publicPem, { mode: 0o644 });
  if (options.json) return printJson({ private_key: options.out, public_key: pub });
  process.stdout.write(`private key: ${options.out} (keep it; mode 0600)\npublic key:  ${pub} (give it to your auditor)\n`);
}

export async function verifyEvidenceCommand(file: string, options: { publicKey: string; json?: boolean }): Promise<void> {
  const { readFileSync } = await import('node:fs');
  const { verifyEvidenceArchive } = await import('../evidence-archive.js');
  const problems = verifyEvidenceArchive(readFileSync(file), readFileSync(options.publicKey, 'utf8'));
  if (problems.length) throw new Error(`evidence archive does not verify: ${problems.join('; ')}`);
  if (options.json) return printJson({ file, verified: true });
  process.stdout.write(`${file}: signature and every file verify\n`);
}

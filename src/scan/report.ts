import { RULES } from './rules.js';
import type { Finding } from './scanner.js';

/** Output formats: a table for people, JSON for scripts and baselines, SARIF 2.1.0 for code scanning. */

const where = (f: Finding) => `${f.file}:${f.line}:${f.column}${f.location ? ` (${f.location})` : ''}${f.commit ? ` @${f.commit.slice(0, 12)}` : ''}`;
const matchText = (f: Finding) => (f.match?.length ? f.match.map((m) => `${m.secret}${m.field ? ` field ${m.field}` : ''} (${m.label})`).join('; ') : '');

export function renderTable(findings: Finding[]): string {
  if (findings.length === 0) return 'no secrets found\n';
  const rows = findings.map((f) => [where(f), f.ruleId, f.preview, matchText(f)]);
  const headers = ['LOCATION', 'RULE', 'PREVIEW', 'STORED SECRET'];
  const cells = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const lines = cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
  return `${lines.join('\n')}\n${findings.length} finding${findings.length === 1 ? '' : 's'}\n`;
}

/** JSON: everything but the secret itself. */
export function toJson(findings: Finding[]): object[] {
  return findings.map((f) => ({
    rule: f.ruleId, description: f.description, severity: f.severity, file: f.file, line: f.line, column: f.column, end_line: f.endLine, end_column: f.endColumn,
    commit: f.commit ?? null, layer: f.layer ?? null, location: f.location ?? null, preview: f.preview, fingerprint: f.fingerprint,
    matches: (f.match ?? []).map((m) => ({ secret: m.secret, field: m.field, label: m.label, version_id: m.versionId })),
  }));
}

/** SARIF 2.1.0 as GitHub code scanning reads it: archive paths use the archive's own path. */
export function toSarif(findings: Finding[], version: string): object {
  const rules = [...RULES.map((r) => ({ id: r.id, desc: r.description, level: r.severity })), { id: 'known-value', desc: 'A value stored in Custos', level: 'error' as const }];
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [{
      tool: {
        driver: {
          name: 'custos scan', version,
          rules: rules.map((r) => ({ id: r.id, name: r.id, shortDescription: { text: r.desc }, defaultConfiguration: { level: r.level } })),
        },
      },
      results: findings.map((f) => ({
        ruleId: f.ruleId,
        level: f.match?.length ? 'error' : f.severity,
        message: { text: `${f.description}: ${f.preview}${f.match?.length ? ` — stored secret ${matchText(f)}` : ''}${f.location ? ` in ${f.location}` : ''}${f.commit ? ` (commit ${f.commit})` : ''}` },
        locations: [{
          physicalLocation: {
            artifactLocation: { uri: f.file.split('!')[0]!.split('#')[0]!.replace(/^\.\//, '') },
            region: f.file.includes('!') ? { startLine: 1 } : { startLine: f.line, startColumn: f.column, endLine: f.endLine, endColumn: f.endColumn },
          },
        }],
        partialFingerprints: { custosFinding: f.fingerprint },
      })),
    }],
  };
}

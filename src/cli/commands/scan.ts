import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CustosApiError } from '../../sdk/api-client.js';
import { loadAllowlist } from '../../scan/allowlist.js';
import { loadBaseline } from '../../scan/baseline.js';
import { redact } from '../../scan/detector.js';
import { matchKnownValues } from '../../scan/known-values.js';
import { renderTable, toJson, toSarif } from '../../scan/report.js';
import { scan, type Finding } from '../../scan/scanner.js';
import { apiClient, resolveToken } from '../context.js';

interface ScanFlags {
  git?: boolean;
  since?: string;
  staged?: boolean;
  json?: boolean;
  sarif?: string;
  baseline?: string;
  rotate?: boolean;
  config?: string;
  /** commander's --no-match sets false; unset means "match when a token is configured". */
  match?: boolean;
  maxCandidates?: string;
}

const VERSION = '0.1.0';
const HOOK_MARK = '# custos scan pre-commit hook';

/** Exit codes: 0 clean, 1 findings, 2 the scan itself failed (bad flags, unreadable input, server refused). */
export async function scanCommand(paths: string[], flags: ScanFlags): Promise<void> {
  try {
    process.exitCode = await runScan(paths, flags);
  } catch (error) {
    const message = error instanceof CustosApiError ? `${error.code}: ${error.message}` : (error as Error).message;
    process.stderr.write(`error: ${message}\n`);
    process.exitCode = 2;
  }
}

async function runScan(paths: string[], flags: ScanFlags): Promise<number> {
  if (flags.since && !flags.git) throw new Error('--since needs --git');
  if (flags.git && flags.staged) throw new Error('give --git or --staged, not both');
  const root = paths[0] ?? '.';
  const allowlist = await loadAllowlist(flags.config, existsSync(root) && statSync(root).isDirectory() ? root : path.dirname(root));
  const baseline = flags.baseline ? loadBaseline(flags.baseline) : null;
  const token = resolveToken();
  if (flags.rotate && flags.match === false) throw new Error('--rotate needs known-value matching (drop --no-match)');
  if (flags.rotate && !token) throw new Error('--rotate needs a Custos token (CUSTOS_TOKEN or custos login)');
  const match = flags.match !== false && !!token;
  const maxCandidates = flags.maxCandidates ? Number(flags.maxCandidates) : undefined;
  if (maxCandidates !== undefined && !(Number.isInteger(maxCandidates) && maxCandidates > 0)) throw new Error('--max-candidates must be a positive integer');

  const result = await scan({ paths, git: flags.git, since: flags.since, staged: flags.staged, allowlist, collectCandidates: match, maxCandidates });
  let findings = result.findings;
  if (match && result.candidates.size > 0) {
    if (result.candidatesDropped > 0) process.stderr.write(`warning: ${result.candidatesDropped} candidate strings beyond --max-candidates were not matched against stored secrets\n`);
    try {
      const matches = await matchKnownValues(apiClient(), result.candidates.keys());
      findings = attachMatches(findings, result.candidates, matches);
    } catch (error) {
      // Matching was not asked for explicitly: a server that is down must not block a commit.
      const automatic = flags.match === undefined && !flags.rotate;
      if (!(automatic && error instanceof CustosApiError && error.code === 'unreachable')) throw error;
      process.stderr.write(`warning: known-value matching skipped (${error.message}); detector findings only\n`);
    }
  }
  if (baseline) findings = findings.filter((f) => !baseline.has(f.fingerprint));

  if (flags.sarif) writeFileSync(flags.sarif, JSON.stringify(toSarif(findings, VERSION), null, 2) + '\n');
  if (flags.json) process.stdout.write(JSON.stringify({ findings: toJson(findings), scanned: { files: result.files, bytes: result.bytes } }, null, 2) + '\n');
  else process.stdout.write(renderTable(findings));

  let failed = false;
  if (flags.rotate) {
    const leaked = [...new Set(findings.flatMap((f) => (f.match ?? []).map((m) => m.secret)))];
    const api = apiClient();
    for (const name of leaked) {
      try {
        const run = await api.rotate(name);
        process.stderr.write(`rotation of ${name} started (run ${run.id}, ${run.status})\n`);
      } catch (error) {
        failed = true;
        process.stderr.write(`error: could not rotate ${name}: ${error instanceof CustosApiError ? `${error.code}: ${error.message}` : (error as Error).message}\n`);
      }
    }
  }
  if (failed) return 2;
  return findings.length > 0 ? 1 : 0;
}

type Matches = Awaited<ReturnType<typeof matchKnownValues>>;

/** Names the stored secret on findings whose secret matched, and adds findings for matched strings no rule caught. */
function attachMatches(findings: Finding[], candidates: Map<string, { file: string; line: number; column: number; commit?: string; layer?: string; location?: string }[]>, matches: Matches): Finding[] {
  const out = [...findings];
  const covered = new Set(findings.map((f) => `${f.file}\u0000${f.commit ?? ''}\u0000${f.location ?? ''}\u0000${f.line}`));
  for (const f of out) {
    const hit = matches.get(f.secret);
    if (hit) (f as { match?: Finding['match'] }).match = hit;
  }
  for (const [text, hit] of matches) {
    for (const place of candidates.get(text) ?? []) {
      const key = `${place.file}\u0000${place.commit ?? ''}\u0000${place.location ?? ''}\u0000${place.line}`;
      const existing = out.find((f) => `${f.file}\u0000${f.commit ?? ''}\u0000${f.location ?? ''}\u0000${f.line}` === key);
      if (existing) {
        const merged = [...(existing.match ?? [])];
        for (const m of hit) if (!merged.some((x) => x.secret === m.secret && x.field === m.field)) merged.push(m);
        (existing as { match?: Finding['match'] }).match = merged;
        continue;
      }
      if (covered.has(key)) continue;
      covered.add(key);
      out.push({
        ruleId: 'known-value', description: 'A value stored in Custos', severity: 'error', file: place.file, line: place.line, column: place.column,
        endLine: place.line, endColumn: place.column + text.length, ...(place.commit ? { commit: place.commit } : {}), ...(place.layer ? { layer: place.layer } : {}),
        ...(place.location ? { location: place.location } : {}), preview: redact(text),
        fingerprint: `known-value:${place.file}:${place.commit ?? ''}:${place.location ?? ''}:${place.line}`, match: hit, secret: text,
      });
    }
  }
  return out;
}

/** Writes .git/hooks/pre-commit running `custos scan --staged`; refuses to replace another hook without --force. */
export async function installHookCommand(flags: { force?: boolean; json?: boolean }): Promise<void> {
  try {
    const hooksDir = execFileSync('git', ['rev-parse', '--git-path', 'hooks'], { encoding: 'utf8' }).trim();
    const hook = path.join(hooksDir, 'pre-commit');
    if (existsSync(hook) && !readFileSync(hook, 'utf8').includes(HOOK_MARK) && !flags.force) {
      throw new Error(`${hook} exists and is not ours; use --force to replace it, or call "custos scan --staged" from it`);
    }
    const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../main.js');
    mkdirSync(hooksDir, { recursive: true });
    writeFileSync(hook, [
      '#!/bin/sh',
      HOOK_MARK,
      '# Blocks a commit that adds a secret. Accept a finding with a `custos:allow` comment on its line,',
      '# or skip once with `git commit --no-verify`.',
      'if command -v custos >/dev/null 2>&1; then exec custos scan --staged; fi',
      `exec "${process.execPath}" "${cli}" scan --staged`,
      '',
    ].join('\n'));
    chmodSync(hook, 0o755);
    process.stdout.write(flags.json ? JSON.stringify({ installed: hook }) + '\n' : `installed ${hook}\n`);
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n`);
    process.exitCode = 2;
  }
}

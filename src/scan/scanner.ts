import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Allowlist } from './allowlist.js';
import { detect, redact } from './detector.js';
import { extractCandidates } from './known-values.js';
import { RULES } from './rules.js';
import { isGzip, isTar, isZip, readImage, readTar, readZip, type ArchiveEntry } from './sources/archives.js';
import { gitHistory, gitStaged, type AddedLines } from './sources/git.js';
import { notebookParts } from './sources/notebook.js';

export interface Finding {
  ruleId: string;
  description: string;
  severity: 'error' | 'warning';
  /** Display path; inside archives `archive!entry`, inside images `image!layer!entry`. */
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  commit?: string;
  layer?: string;
  /** Where inside the file, when lines alone do not say it (a notebook cell). */
  location?: string;
  preview: string;
  /** Stable id for baselines: rule, file, commit and line; never derived from the secret. */
  fingerprint: string;
  /** Set when known-value matching named the stored secret this is. */
  match?: { secret: string; versionId: string; label: string; field: string }[];
  /** The secret itself, for matching and rotation only: never serialized. */
  readonly secret: string;
}

export interface ScanOptions {
  paths: string[];
  /** Scan git history (added lines of every commit, or after `since`) of the repository at paths[0]. */
  git?: boolean;
  since?: string;
  /** Scan the staged changes of the repository at paths[0]. */
  staged?: boolean;
  allowlist: Allowlist;
  /** Collect candidate strings for known-value matching. */
  collectCandidates?: boolean;
  maxCandidates?: number;
}

export interface CandidateLocation {
  file: string;
  line: number;
  column: number;
  commit?: string;
  layer?: string;
  location?: string;
}

export interface ScanResult {
  findings: Finding[];
  /** candidate text → where it was seen (first few places). */
  candidates: Map<string, CandidateLocation[]>;
  candidatesDropped: number;
  bytes: number;
  files: number;
}

const DESCRIPTIONS = new Map(RULES.map((r) => [r.id, r]));
const SKIP_EXTENSIONS = /\.(?:png|jpe?g|gif|bmp|ico|webp|tiff?|pdf|woff2?|ttf|otf|eot|mp[34]|mov|avi|wav|flac|ogg|so|dylib|dll|exe|o|a|class|pyc|pyo|node|wasm|db|sqlite3?|parquet|avro|orc)$/i;
const ARCHIVE_EXTENSIONS = /\.(?:tar|tgz|tar\.gz|zip|whl|jar|war|ear|egg|nupkg|apk)$/i;
const MAX_NESTING = 3;

function isBinary(data: Buffer): boolean {
  const end = Math.min(data.length, 8000);
  return data.subarray(0, end).includes(0);
}

/** Walks files, archives, images, notebooks and git history, running the detectors on each text. */
export async function scan(options: ScanOptions): Promise<ScanResult> {
  const findings: Finding[] = [];
  const candidates = new Map<string, CandidateLocation[]>();
  let candidatesDropped = 0;
  let bytes = 0;
  let files = 0;
  const { allowlist } = options;
  const maxCandidates = options.maxCandidates ?? 20_000;

  function scanText(text: string, where: { file: string; commit?: string; layer?: string; location?: string; lineNumbers?: number[]; lineOffset?: number; added?: boolean[] }): void {
    bytes += text.length;
    files += 1;
    // In a diff, only what the change added counts: context lines were there before.
    const onAddedLine = (from: number, to: number) => {
      if (!where.added) return true;
      for (let l = from; l <= to; l++) if (where.added[l - 1]) return true;
      return false;
    };
    for (const d of detect(text, { disabledRules: allowlist.rules })) {
      if (allowlist.allowsSecret(d.secret) || !onAddedLine(d.line, d.endLine)) continue;
      const line = where.lineNumbers ? (where.lineNumbers[d.line - 1] ?? d.line) : d.line + (where.lineOffset ?? 0);
      const endLine = where.lineNumbers ? (where.lineNumbers[d.endLine - 1] ?? d.endLine) : d.endLine + (where.lineOffset ?? 0);
      const rule = DESCRIPTIONS.get(d.ruleId)!;
      const id = [d.ruleId, where.file, where.location ?? '', where.commit ?? '', line].join(':');
      findings.push({
        ruleId: d.ruleId, description: rule.description, severity: rule.severity, file: where.file, line, column: d.column, endLine, endColumn: d.endColumn,
        ...(where.commit ? { commit: where.commit } : {}), ...(where.layer ? { layer: where.layer } : {}), ...(where.location ? { location: where.location } : {}),
        preview: redact(d.secret), fingerprint: createHash('sha256').update(id).digest('hex').slice(0, 32), secret: d.secret,
      });
    }
    if (!options.collectCandidates) return;
    let lineStarts: number[] | null = null;
    for (const c of extractCandidates(text)) {
      if (allowlist.allowsSecret(c.text)) continue;
      let places = candidates.get(c.text);
      if (!places) {
        if (candidates.size >= maxCandidates) {
          candidatesDropped++;
          continue;
        }
        places = [];
        candidates.set(c.text, places);
      }
      if (places.length >= 5) continue;
      lineStarts ??= computeLineStarts(text);
      const { line, column } = position(lineStarts, c.offset);
      if (!onAddedLine(line, line)) continue;
      const fileLine = where.lineNumbers ? (where.lineNumbers[line - 1] ?? line) : line + (where.lineOffset ?? 0);
      places.push({ file: where.file, line: fileLine, column, ...(where.commit ? { commit: where.commit } : {}), ...(where.layer ? { layer: where.layer } : {}), ...(where.location ? { location: where.location } : {}) });
    }
  }

  function scanBuffer(data: Buffer, file: string, depth: number, layer?: string): void {
    if (allowlist.allowsPath(file)) return;
    if (depth < MAX_NESTING && (ARCHIVE_EXTENSIONS.test(file) || isZip(data) || isGzip(data) || isTar(data))) {
      if (scanArchive(data, file, depth, layer)) return;
    }
    if (SKIP_EXTENSIONS.test(file) || isBinary(data)) return;
    const text = data.toString('utf8');
    if (file.endsWith('.ipynb')) {
      const parts = notebookParts(text);
      if (parts) {
        bytes += text.length - parts.reduce((n, p) => n + p.text.length, 0);
        for (const part of parts) scanText(part.text, { file, layer, location: part.location });
        return;
      }
    }
    scanText(text, { file, layer });
  }

  /** True if `data` was an archive (and its entries were scanned). */
  function scanArchive(data: Buffer, file: string, depth: number, layer?: string): boolean {
    let entries: ArchiveEntry[];
    try {
      if (isZip(data)) entries = readZip(data);
      else {
        const tar = isGzip(data) ? gunzipSync(data) : data;
        if (!isTar(tar)) return false;
        entries = readTar(tar);
      }
    } catch {
      return false;
    }
    const image = layer === undefined ? readImage(entries) : null;
    if (image) {
      for (const l of image) {
        const id = l.id.replace(/^sha256:/, '').replace(/\/layer\.tar$/, '').slice(0, 12);
        for (const e of l.entries) scanBuffer(e.data, `${file}!${id}!${e.path}`, depth + 1, l.id);
      }
      return true;
    }
    for (const e of entries) scanBuffer(e.data, `${file}!${e.path}`, depth + 1, layer);
    return true;
  }

  function walk(target: string, display: string): void {
    let stat;
    try {
      stat = lstatSync(target);
    } catch {
      throw new Error(`cannot read ${display}`);
    }
    if (stat.isSymbolicLink()) return;
    if (stat.isDirectory()) {
      if (path.basename(target) === '.git' || (display !== '' && allowlist.allowsPath(display + '/'))) return;
      for (const name of readdirSync(target).sort()) walk(path.join(target, name), display === '' ? name : `${display}/${name}`);
    } else if (stat.isFile()) {
      if (allowlist.allowsPath(display)) return;
      scanBuffer(readFileSync(target), display, 0);
    }
  }

  const onGitUnit = (unit: AddedLines) => {
    if (allowlist.allowsPath(unit.path)) return;
    scanText(unit.text, { file: unit.path, commit: unit.commit ?? 'staged', lineNumbers: unit.lineNumbers, added: unit.added });
  };

  const root = options.paths[0] ?? '.';
  if (options.staged) await gitStaged(root, onGitUnit);
  else if (options.git) await gitHistory(root, onGitUnit, options.since);
  else {
    // A directory's files are named relative to it (as a repository's are); a file as given.
    for (const p of options.paths.length ? options.paths : ['.']) walk(p, lstatSafe(p)?.isDirectory() ? '' : p);
  }

  findings.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.column - b.column));
  return { findings, candidates, candidatesDropped, bytes, files };
}

function lstatSafe(p: string) {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

function computeLineStarts(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

function position(starts: number[], offset: number): { line: number; column: number } {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, column: offset - starts[lo]! + 1 };
}

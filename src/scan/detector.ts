import { entropy, RULES, type Rule } from './rules.js';

/** One secret found in one piece of text (positions 1-based, as editors and SARIF count). */
export interface Detection {
  ruleId: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  /** The secret itself: kept in memory for redaction, baselines and matching, never printed. */
  secret: string;
}

const INLINE_ALLOW = 'custos:allow';
const GENERIC = 'generic-secret-assignment';
// An AWS secret key is 40 base64 characters; near an access key id it needs no keyword.
const AWS_SECRET_NEARBY = /(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g;
const NEARBY_CHARS = 400;

// One pass finds every keyword of every rule; each occurrence names the rules to try there.
const RULES_BY_KEYWORD = new Map<string, Rule[]>();
for (const rule of RULES) for (const k of rule.keywords) RULES_BY_KEYWORD.set(k.toLowerCase(), [...(RULES_BY_KEYWORD.get(k.toLowerCase()) ?? []), rule]);
const KEYWORD_SOURCE = [...RULES_BY_KEYWORD.keys()].sort((a, b) => b.length - a.length).map((k) => k.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
// Lower-casing once and matching case-sensitively is ~1.5x faster than an /i alternation.
const KEYWORDS = new RegExp(KEYWORD_SOURCE, 'g');
const KEYWORDS_ANY_CASE = new RegExp(KEYWORD_SOURCE, 'gi');
// A match may start this far before its keyword (`-----BEGIN RSA ` before `PRIVATE KEY`, a URL's scheme before `://`).
const BACK = 256;
const AHEAD = 1024;

/** Line starts, computed only for texts that have a finding. */
class Positions {
  private starts: number[] | null = null;
  constructor(private readonly text: string) {}
  at(offset: number): { line: number; column: number } {
    if (!this.starts) {
      const starts = [0];
      for (let i = this.text.indexOf('\n'); i !== -1; i = this.text.indexOf('\n', i + 1)) starts.push(i + 1);
      this.starts = starts;
    }
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - this.starts[lo]! + 1 };
  }
  lineText(offset: number): string {
    const start = this.text.lastIndexOf('\n', offset - 1) + 1;
    const end = this.text.indexOf('\n', offset);
    return this.text.slice(start, end === -1 ? undefined : end);
  }
}

export interface DetectOptions {
  /** Rule ids to skip (from the allowlist). */
  disabledRules?: ReadonlySet<string>;
}

/** Runs every rule over `text`. Lines carrying `custos:allow` are skipped. */
export function detect(text: string, options: DetectOptions = {}): Detection[] {
  const found: Detection[] = [];
  const positions = new Positions(text);
  const seen = new Set<string>();
  // Spans reported by provider rules: the generic rule runs last and stays quiet where one of
  // them already said what the secret is (a token inside `x-access-token:ghs_…@github.com`).
  const specific: [number, number][] = [];
  const add = (ruleId: string, start: number, secret: string) => {
    const key = `${start}:${secret.length}`;
    if (seen.has(key)) return;
    const end = start + secret.length;
    if (ruleId === GENERIC && specific.some(([a, b]) => start < b && a < end)) return;
    const lineText = positions.lineText(start);
    if (lineText.includes(INLINE_ALLOW)) return;
    seen.add(key);
    if (ruleId !== GENERIC) specific.push([start, end]);
    const from = positions.at(start);
    const to = positions.at(start + secret.length);
    found.push({ ruleId, line: from.line, column: from.column, endLine: to.line, endColumn: to.column, secret });
  };
  // Windows per rule: the lines around each keyword occurrence, merged when they overlap.
  const windows = new Map<Rule, [number, number][]>();
  const lower = text.toLowerCase();
  // A few characters change length when lower-cased ('İ'); then offsets would drift.
  const [keywords, haystack] = lower.length === text.length ? [KEYWORDS, lower] : [KEYWORDS_ANY_CASE, text];
  keywords.lastIndex = 0;
  for (let k = keywords.exec(haystack); k !== null; k = keywords.exec(haystack)) {
    const at = k.index;
    const lineStart = text.lastIndexOf('\n', at - 1) + 1;
    const lineEnd = text.indexOf('\n', at);
    for (const rule of RULES_BY_KEYWORD.get(k[0].toLowerCase())!) {
      if (options.disabledRules?.has(rule.id)) continue;
      const from = Math.max(lineStart, at - BACK);
      const to = rule.span ? Math.min(text.length, at + rule.span) : Math.min(lineEnd === -1 ? text.length : lineEnd, at + AHEAD);
      const list = windows.get(rule);
      const last = list?.[list.length - 1];
      if (last && from <= last[1]) last[1] = Math.max(last[1], to);
      else if (list) list.push([from, to]);
      else windows.set(rule, [[from, to]]);
    }
  }
  // Rules in their declared order (the generic one last, so provider rules claim their spans first).
  for (const rule of RULES) {
    const list = windows.get(rule);
    if (!list) continue;
    const pattern = rule.pattern;
    for (const [from, to] of list) {
      const window = text.slice(from, to);
      pattern.lastIndex = 0;
      for (let m = pattern.exec(window); m !== null; m = pattern.exec(window)) {
        const secret = rule.group ? m[rule.group] : m[0];
        if (secret === undefined || secret === '') continue;
        if (rule.accept && !rule.accept(secret, m)) continue;
        const start = from + m.index + (rule.group ? m[0].indexOf(secret) : 0);
        add(rule.id, start, secret);
        if (rule.id === 'aws-access-key-id' && !options.disabledRules?.has('aws-secret-access-key')) awsSecretNearby(text, from + m.index, add);
      }
    }
  }
  return found;
}

function awsSecretNearby(text: string, at: number, add: (ruleId: string, start: number, secret: string) => void): void {
  const from = Math.max(0, at - NEARBY_CHARS);
  const window = text.slice(from, at + NEARBY_CHARS);
  AWS_SECRET_NEARBY.lastIndex = 0;
  for (let m = AWS_SECRET_NEARBY.exec(window); m !== null; m = AWS_SECRET_NEARBY.exec(window)) {
    const s = m[0];
    if (entropy(s) > 4.2 && /[a-z]/.test(s) && /[A-Z]/.test(s) && /\d/.test(s)) add('aws-secret-access-key', from + m.index, s);
  }
}

/** A preview that shows which secret it is without giving it away: a short prefix, then its length. */
export function redact(secret: string): string {
  const flat = secret.replace(/\s+/g, ' ');
  const shown = flat.length >= 20 ? 4 : 0;
  return `${flat.slice(0, shown)}${'*'.repeat(6)} (${secret.length} chars)`;
}

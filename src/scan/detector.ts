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

interface PreparedRule {
  rule: Rule;
  keywords: string[];
}

const PREPARED: PreparedRule[] = RULES.map((rule) => ({ rule, keywords: rule.ignoreCase ? rule.keywords.map((k) => k.toLowerCase()) : rule.keywords }));

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
  let lower: string | null = null;
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
  for (const { rule, keywords } of PREPARED) {
    if (options.disabledRules?.has(rule.id)) continue;
    let haystack = text;
    if (rule.ignoreCase) haystack = lower ??= text.toLowerCase();
    if (!keywords.some((k) => haystack.includes(k))) continue;
    const pattern = rule.pattern;
    pattern.lastIndex = 0;
    for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
      const secret = rule.group ? m[rule.group] : m[0];
      if (secret === undefined || secret === '') continue;
      if (rule.accept && !rule.accept(secret, m)) continue;
      const start = m.index + (rule.group ? m[0].indexOf(secret) : 0);
      add(rule.id, start, secret);
      if (rule.id === 'aws-access-key-id' && !options.disabledRules?.has('aws-secret-access-key')) awsSecretNearby(text, m.index, add);
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

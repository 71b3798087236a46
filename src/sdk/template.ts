import { findSecretRefs } from './secret-ref.js';

/**
 * Renders `secret://` references in a text file. A value is inserted so that the file still
 * means what it says, whatever the value contains (quotes, backslashes, newlines, `#`, `:`):
 *
 * - json (`.json`): a reference must sit inside a JSON string; the value is inserted
 *   JSON-escaped (`"` → `\"`, newline → `\n`, ...). A reference outside a string is an error.
 * - yaml (`.yaml`, `.yml`): inside "double quotes" → JSON/YAML escaping; inside 'single
 *   quotes' → `'` doubled (a value with a newline is an error there); an unquoted reference
 *   that is the whole scalar (`password: secret://...`) becomes a double-quoted scalar; an
 *   unquoted reference inside a longer plain scalar is inserted as-is only when that is safe
 *   (no newline, `: `, ` #`, leading/trailing space), otherwise it is an error asking you to
 *   quote the scalar. References in `#` comments are left alone and never resolved.
 *   Quote state is tracked per line (multi-line quoted scalars are not supported).
 * - env (`.env`, `*.env`, `.env.*`): inside "double quotes" → `\` `"` and newline escaped
 *   (dotenv rules); inside 'single quotes' → a value with `'` or a newline is an error;
 *   unquoted → as-is, a newline is an error. `#` comment lines are left alone.
 * - text (anything else): the value is inserted as-is.
 */
export type TemplateFormat = 'json' | 'yaml' | 'env' | 'text';

export interface TemplateProblem {
  line: number;
  column: number;
  ref: string;
  code: string;
  message: string;
}

export function formatForFile(file: string): TemplateFormat {
  const base = file.split(/[\\/]/).pop()!.toLowerCase();
  if (base.endsWith('.json')) return 'json';
  if (base.endsWith('.yaml') || base.endsWith('.yml')) return 'yaml';
  if (base === '.env' || base.endsWith('.env') || base.startsWith('.env.')) return 'env';
  return 'text';
}

type Quote = 'none' | 'double' | 'single' | 'comment';

/** Quote state at `index`, scanning the text from `from` (JSON: whole text; others: line start). */
function quoteState(text: string, from: number, index: number, format: TemplateFormat): Quote {
  let state: Quote = 'none';
  for (let i = from; i < index; i++) {
    const c = text[i];
    if (state === 'double') {
      if (c === '\\' && format !== 'text') i += 1;
      else if (c === '"') state = 'none';
    } else if (state === 'single') {
      if (c === "'") state = 'none';
    } else if (c === '"') state = 'double';
    else if (c === "'" && format !== 'json') {
      // YAML: a quote inside a plain scalar (e.g. it's) is literal; only one that starts a scalar counts.
      if (format !== 'yaml' || /(^|[\s:,[{-])$/.test(text.slice(Math.max(from, i - 1), i))) state = 'single';
    } else if (c === '#' && (format === 'yaml' || format === 'env') && (i === from || /\s/.test(text[i - 1]!))) return 'comment';
  }
  return state;
}

export class TemplateInsertError extends Error {
  override name = 'TemplateInsertError';
  readonly code = 'unsafe_insertion';
}

const jsonEscape = (v: string) => JSON.stringify(v).slice(1, -1);
const PLAIN_UNSAFE = /[\n\r]|: |:$| #|^\s|\s$/;

function insert(value: string, format: TemplateFormat, quote: Quote, before: string, after: string): { text: string; wholeScalar?: boolean } {
  if (format === 'json') {
    if (quote !== 'double') throw new TemplateInsertError('a reference in a JSON file must be inside a string');
    return { text: jsonEscape(value) };
  }
  if (format === 'yaml') {
    if (quote === 'double') return { text: jsonEscape(value) };
    if (quote === 'single') {
      if (/[\n\r]/.test(value)) throw new TemplateInsertError('the value contains a newline, which a single-quoted YAML scalar cannot hold: use double quotes');
      return { text: value.replace(/'/g, "''") };
    }
    if (/(^|:|-)\s*$/.test(before) && /^\s*(#.*)?$/.test(after)) return { text: JSON.stringify(value), wholeScalar: true };
    const startsScalar = /(^|:|-|\[|\{|,)\s*$/.test(before);
    // Inside a flow collection ([a, b] / {k: v}) commas and brackets end the scalar.
    const inFlow = /[[{]/.test(before) && /[,\]}]/.test(value);
    if (value === '' || PLAIN_UNSAFE.test(value) || inFlow || (startsScalar && /^[-?:,[\]{}#&*!|>'"%@`]/.test(value))) {
      throw new TemplateInsertError('the value cannot be inserted into an unquoted YAML scalar safely: put the scalar in double quotes');
    }
    return { text: value };
  }
  if (format === 'env') {
    if (quote === 'double') return { text: value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\r?\n/g, '\\n') };
    if (quote === 'single' && /['\n\r]/.test(value)) throw new TemplateInsertError("the value contains ' or a newline, which a single-quoted .env value cannot hold: use double quotes");
    if (/[\n\r]/.test(value)) throw new TemplateInsertError('the value contains a newline: put the .env value in double quotes');
    return { text: value };
  }
  return { text: value };
}

/**
 * Resolves and inserts every reference. `resolve` maps a reference string to its value (it
 * is called once per distinct reference, all in parallel). Never throws for a bad reference:
 * every problem is returned with its line and column; `output` is null when there is one.
 */
/**
 * Resolves references to the text they stand for: one at a time, or all at once (e.g.
 * CustosClient.resolveRefs, which reads every secret in one request).
 */
export type RefResolver = ((ref: string) => Promise<string>) | { resolveAll(refs: string[]): Promise<PromiseSettledResult<string>[]> };

export async function renderTemplate(text: string, format: TemplateFormat, resolve: RefResolver): Promise<{ output: string | null; problems: TemplateProblem[]; references: number }> {
  const refs = findSecretRefs(text).map((r) => {
    const lineStart = text.lastIndexOf('\n', r.index - 1) + 1;
    const quote = quoteState(text, format === 'json' ? 0 : lineStart, r.index, format);
    const envComment = format === 'env' && /^\s*#/.test(text.slice(lineStart, r.index));
    return { ...r, lineStart, quote: envComment ? ('comment' as const) : quote };
  });
  const live = refs.filter((r) => r.quote !== 'comment');
  const distinct = [...new Set(live.map((r) => r.ref))];
  const settled = typeof resolve === 'function' ? await Promise.allSettled(distinct.map((ref) => resolve(ref))) : await resolve.resolveAll(distinct);
  const values = new Map(distinct.map((ref, i) => [ref, settled[i]!]));

  const problems: TemplateProblem[] = [];
  let output = '';
  let cursor = 0;
  for (const r of live) {
    const outcome = values.get(r.ref)!;
    if (outcome.status === 'rejected') {
      const e = outcome.reason as { code?: string; message?: string };
      problems.push({ line: r.line, column: r.column, ref: r.ref, code: e?.code ?? 'error', message: e?.message ?? String(e) });
      continue;
    }
    const lineEnd = text.indexOf('\n', r.index);
    const before = text.slice(r.lineStart, r.index);
    const after = text.slice(r.index + r.ref.length, lineEnd === -1 ? text.length : lineEnd);
    try {
      const inserted = insert(outcome.value, format, r.quote, before, after);
      output += text.slice(cursor, r.index) + inserted.text;
      cursor = r.index + r.ref.length;
    } catch (error) {
      problems.push({ line: r.line, column: r.column, ref: r.ref, code: (error as TemplateInsertError).code ?? 'error', message: (error as Error).message });
    }
  }
  output += text.slice(cursor);
  return { output: problems.length ? null : output, problems, references: live.length };
}

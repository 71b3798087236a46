/**
 * A strict parser for the Prometheus text exposition format (0.0.4): every line is a HELP,
 * a TYPE, or a sample of a family announced by TYPE before it; label values are quoted with
 * the format's escapes; values are floats (or +Inf/-Inf/NaN, in any case). Anything else throws.
 */
export interface PromSample { name: string; labels: Record<string, string>; value: number }
export interface PromFamily { name: string; type: string; help: string; samples: PromSample[] }

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export function parsePrometheusText(text: string): Map<string, PromFamily> {
  const families = new Map<string, PromFamily>();
  const familyOf = (sample: string): PromFamily | undefined => {
    for (const suffix of ['', '_bucket', '_sum', '_count', '_total']) {
      if (suffix && !sample.endsWith(suffix)) continue;
      const f = families.get(suffix ? sample.slice(0, -suffix.length) : sample);
      if (f) return f;
    }
    return undefined;
  };
  const lines = text.split('\n');
  if (lines.at(-1) !== '') throw new Error('exposition must end with a newline');
  lines.forEach((line, i) => {
    const where = `line ${i + 1}: ${line.slice(0, 120)}`;
    if (line === '') return;
    if (line.startsWith('# HELP ')) {
      const [, name] = /^# HELP (\S+) /.exec(line) ?? [];
      if (!name || !NAME.test(name)) throw new Error(`bad HELP ${where}`);
      const f = families.get(name) ?? { name, type: 'untyped', help: '', samples: [] };
      f.help = line.slice(`# HELP ${name} `.length);
      families.set(name, f);
      return;
    }
    if (line.startsWith('# TYPE ')) {
      const [, name, type] = /^# TYPE (\S+) (\S+)$/.exec(line) ?? [];
      if (!name || !NAME.test(name) || !TYPES.has(type!)) throw new Error(`bad TYPE ${where}`);
      const f = families.get(name) ?? { name, type: type!, help: '', samples: [] };
      if (f.samples.length) throw new Error(`TYPE after samples ${where}`);
      f.type = type!;
      families.set(name, f);
      return;
    }
    if (line.startsWith('#')) throw new Error(`unexpected comment ${where}`);
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
    if (!m) throw new Error(`bad sample ${where}`);
    const labels: Record<string, string> = {};
    let rest = m[3] ?? '';
    while (rest.length) {
      const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/.exec(rest);
      if (!lm) throw new Error(`bad labels ${where}`);
      if (Object.hasOwn(labels, lm[1]!)) throw new Error(`duplicate label ${where}`);
      labels[lm[1]!] = lm[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      rest = rest.slice(lm[0].length);
    }
    const raw = m[4]!;
    // Prometheus parses these case-insensitively (Go's ParseFloat); prom-client writes `Nan`.
    const word = raw!.toLowerCase();
    const value = word === '+inf' || word === 'inf' ? Infinity : word === '-inf' ? -Infinity : word === 'nan' ? NaN : Number(raw);
    if (Number.isNaN(value) && word !== 'nan') throw new Error(`bad value ${where}`);
    const family = familyOf(m[1]!);
    if (!family) throw new Error(`sample without a TYPE ${where}`);
    family.samples.push({ name: m[1]!, labels, value });
  });
  return families;
}

/**
 * Streaming masker for `custos run --mask`: replaces every occurrence of any secret with
 * `****` in a byte stream, including occurrences split across chunks. It holds back only the
 * shortest tail that could still be the start of a secret, so ordinary output is never
 * delayed (a prompt without a newline still appears at once unless it ends with the first
 * bytes of a secret).
 */
export const MASK = Buffer.from('****');

export class StreamMasker {
  private readonly secrets: Buffer[];
  private carry: Buffer = Buffer.alloc(0);

  constructor(secrets: Iterable<string>) {
    this.secrets = [...new Set([...secrets].filter((s) => s.length > 0))].map((s) => Buffer.from(s, 'utf8')).sort((a, b) => b.length - a.length);
  }

  /** Masked bytes that are safe to emit now. */
  push(chunk: Buffer): Buffer {
    if (this.secrets.length === 0) return chunk;
    const buf = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    const intervals = this.matches(buf);
    let cut = buf.length - this.heldTail(buf);
    for (const [start, end] of intervals) if (start < cut && end > cut) cut = end;
    this.carry = Buffer.from(buf.subarray(cut));
    return this.mask(buf.subarray(0, cut), intervals.filter(([s]) => s < cut));
  }

  /** Everything left (at end of stream). */
  flush(): Buffer {
    const buf = this.carry;
    this.carry = Buffer.alloc(0);
    return this.mask(buf, this.matches(buf));
  }

  /** Merged [start, end) ranges of every occurrence of every secret. */
  private matches(buf: Buffer): [number, number][] {
    const found: [number, number][] = [];
    for (const s of this.secrets) {
      for (let i = buf.indexOf(s); i !== -1; i = buf.indexOf(s, i + 1)) found.push([i, i + s.length]);
    }
    found.sort((a, b) => a[0] - b[0]);
    const merged: [number, number][] = [];
    for (const m of found) {
      const last = merged[merged.length - 1];
      if (last && m[0] <= last[1]) last[1] = Math.max(last[1], m[1]);
      else merged.push([m[0], m[1]]);
    }
    return merged;
  }

  /** Length of the longest suffix of buf that is a proper prefix of some secret. */
  private heldTail(buf: Buffer): number {
    let best = 0;
    for (const s of this.secrets) {
      for (let k = Math.min(s.length - 1, buf.length); k > best; k--) {
        if (buf.compare(s, 0, k, buf.length - k, buf.length) === 0) {
          best = k;
          break;
        }
      }
    }
    return best;
  }

  private mask(buf: Buffer, intervals: [number, number][]): Buffer {
    if (intervals.length === 0) return Buffer.from(buf);
    const parts: Buffer[] = [];
    let at = 0;
    for (const [start, end] of intervals) {
      parts.push(buf.subarray(at, start), MASK);
      at = end;
    }
    parts.push(buf.subarray(at));
    return Buffer.concat(parts);
  }
}

/**
 * The strings to mask for one secret value: the value, its JSON-escaped form (how it appears
 * inside JSON output), and every string/number leaf of a JSON object value.
 */
export function maskVariants(value: string): string[] {
  const out = new Set<string>([value]);
  const escaped = JSON.stringify(value).slice(1, -1);
  if (escaped !== value) out.add(escaped);
  try {
    const parsed = JSON.parse(value) as unknown;
    if (parsed && typeof parsed === 'object') {
      const walk = (v: unknown) => {
        if (typeof v === 'string') {
          out.add(v);
          const e = JSON.stringify(v).slice(1, -1);
          if (e !== v) out.add(e);
        } else if (v && typeof v === 'object') for (const x of Object.values(v)) walk(x);
      };
      walk(parsed);
    }
  } catch {
    // not JSON: the value itself is enough
  }
  return [...out];
}

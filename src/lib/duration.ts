/** Parses `90s`, `15m`, `1h`, `30d`, `2w` or a bare number of seconds into seconds. */
export function parseDurationSeconds(input: string | number): number {
  if (typeof input === 'number') return input;
  const match = /^(\d+)\s*(s|m|h|d|w)?$/.exec(input.trim());
  if (!match) throw new Error(`invalid duration "${input}" (use e.g. 90s, 15m, 1h, 30d)`);
  const amount = Number(match[1]);
  const unit = match[2] ?? 's';
  const factor = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 }[unit]!;
  return amount * factor;
}

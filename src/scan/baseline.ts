import { readFileSync } from 'node:fs';

/**
 * A baseline is a previous `custos scan --json` report: findings whose fingerprint (rule,
 * file, commit, line — never the secret) it lists are accepted, so a team adopts scanning
 * without fixing history first and still fails on anything new.
 */
export function loadBaseline(file: string): Set<string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read baseline ${file}: ${(error as Error).message}`);
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { findings?: unknown[] })?.findings;
  if (!Array.isArray(list)) throw new Error(`baseline ${file} is not a custos scan --json report`);
  return new Set(list.map((f) => (f as { fingerprint?: unknown }).fingerprint).filter((x): x is string => typeof x === 'string'));
}

/**
 * The fast-path parser for `custos run` used by bin.ts (kept apart so it can be unit-tested
 * without running the executable's top level). It accepts only the canonical form, flags
 * then `--` then the command, and answers undefined for anything else so commander decides.
 */
import type { RunOptions } from './commands/run.js';

const REPEATABLE = { '--secret': 'secret', '--map': 'map', '--env': 'env' } as const;

/** Options and command of a canonical `run` argv, or undefined to let commander handle it. */
export function parseRunArgv(args: string[]): { options: RunOptions; command: string[] } | undefined {
  const options: RunOptions = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return { options, command: args.slice(i + 1) };
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = flag === arg ? undefined : arg.slice(eq + 1);
    if (flag === '--mask' && inline === undefined) {
      options.mask = true;
      continue;
    }
    if (!(flag in REPEATABLE) && flag !== '--env-file') return undefined;
    const value = inline ?? args[++i];
    if (value === undefined) return undefined;
    if (flag === '--env-file') options.envFile = value;
    else (options[REPEATABLE[flag as keyof typeof REPEATABLE]] ??= []).push(value);
  }
  return undefined;
}

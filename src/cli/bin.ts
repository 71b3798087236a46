#!/usr/bin/env node
/**
 * The `custos` executable (package.json "bin"). `custos run` in its canonical form
 * (`custos run [--secret N] [--map M] [--env E] [--env-file F] [--mask] -- CMD ...`) goes
 * straight to the run command without loading commander and the command table: start-up is
 * what every pipeline task pays, and commander alone is 10-40 ms of it. Anything else — other
 * commands, --help, an option this parser does not know, no `--` — goes to main.ts, which
 * parses with commander as usual (so `node dist/src/cli/main.js run ...` behaves the same).
 */
import { parseRunArgv } from './run-argv.js';

const argv = process.argv.slice(2);
const fast = argv[0] === 'run' ? parseRunArgv(argv.slice(1)) : undefined;
if (fast) {
  const [{ runCommand }, { fail }] = await Promise.all([import('./commands/run.js'), import('./context.js')]);
  try {
    await runCommand(fast.command, fast.options);
  } catch (error) {
    fail(error);
  }
} else {
  await import('./main.js');
}

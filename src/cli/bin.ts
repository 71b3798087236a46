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

// bin/custos moved NODE_EXTRA_CA_CERTS aside for `run` and `render` (see that file for why):
// put it back, so commands started from here inherit the caller's environment unchanged, and
// let the HTTP client load the bundle if it ever connects over TLS.
const deferredCaFile = process.env.CUSTOS_DEFERRED_CA_CERTS;
if (deferredCaFile !== undefined) {
  delete process.env.CUSTOS_DEFERRED_CA_CERTS;
  process.env.NODE_EXTRA_CA_CERTS = deferredCaFile;
  (await import('../sdk/http-transport.js')).deferExtraCaCerts(deferredCaFile);
}

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

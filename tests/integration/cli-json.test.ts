import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../support/custos-server.js';

/**
 * "Every command takes --json" (README), checked on the CLI's own help: every leaf command
 * lists --json, except `server` and `run`, whose output is the server's log and the child
 * program's (the README names both exceptions).
 */
const EXCEPTIONS = new Set(['server', 'run']);

async function subcommands(path: string[]): Promise<string[]> {
  const help = (await runCli([...path, '--help'])).stdout;
  const section = help.split(/^Commands:$/m)[1] ?? '';
  return section.split('\n').map((l) => /^ {2}([a-z][a-z-]*)/.exec(l)?.[1]).filter((c): c is string => !!c && c !== 'help');
}

test('every CLI command takes --json (except server and run)', async () => {
  const missing: string[] = [];
  const leaves: string[] = [];
  const walk = async (path: string[]) => {
    const subs = await subcommands(path);
    if (path.length > 0 && subs.length === 0) {
      leaves.push(path.join(' '));
      if (EXCEPTIONS.has(path.join(' '))) return;
      if (!(await runCli([...path, '--help'])).stdout.includes('--json')) missing.push(path.join(' '));
      return;
    }
    for (const sub of subs) await walk([...path, sub]);
  };
  await walk([]);
  assert.ok(leaves.length > 30, `only ${leaves.length} commands found: ${leaves.join(', ')}`);
  assert.deepEqual(missing, []);
});

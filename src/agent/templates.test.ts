import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createAgentLog } from './agent-log.js';
import { createTemplateRunner, writeFileAtomically } from './templates.js';

test('an atomic write replaces the file with exactly the mode asked for, whatever the umask, and leaves no temp file', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'custos-tpl-'));
  const umask = process.umask(0);
  try {
    const file = path.join(dir, 'nested', 'profiles.yml');
    writeFileAtomically(file, 'one', 0o600);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    writeFileAtomically(file, 'two', 0o640);
    assert.equal(readFileSync(file, 'utf8'), 'two');
    assert.equal(statSync(file).mode & 0o777, 0o640);
    assert.deepEqual(readdirSync(path.dirname(file)), ['profiles.yml']);
  } finally {
    process.umask(umask);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a render that fails keeps the previous file and logs the reference and code, never a value; a change re-renders only the templates naming it', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'custos-tpl-'));
  const lines: string[] = [];
  const values = new Map([['dev/a', 'value-a1'], ['dev/b', 'value-b1']]);
  const reads: string[] = [];
  try {
    writeFileSync(path.join(dir, 'a.tmpl'), 'A=secret://dev/a\n');
    writeFileSync(path.join(dir, 'b.tmpl'), 'B=secret://dev/b\n');
    const spec = (name: string) => ({ source: path.join(dir, `${name}.tmpl`), destination: path.join(dir, `${name}.env`), mode: 0o600, command_timeout: 1000 });
    const runner = createTemplateRunner([spec('a'), spec('b')], async (name) => {
      reads.push(name);
      const value = values.get(name);
      if (value === undefined) throw Object.assign(new Error('gone'), { code: 'secret_not_found' });
      return value;
    }, createAgentLog('debug', (line) => lines.push(line)));
    await runner.renderAll();
    assert.equal(readFileSync(path.join(dir, 'a.env'), 'utf8'), 'A=value-a1\n');
    reads.length = 0;
    values.set('dev/a', 'value-a2');
    await runner.changed('dev/a');
    assert.deepEqual(reads, ['dev/a'], 'the template naming dev/b was not rendered again');
    assert.equal(readFileSync(path.join(dir, 'a.env'), 'utf8'), 'A=value-a2\n');
    values.delete('dev/a');
    await runner.changed('dev/a');
    assert.equal(readFileSync(path.join(dir, 'a.env'), 'utf8'), 'A=value-a2\n', 'the previous file is kept');
    const failed = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'template reference failed');
    assert.deepEqual([failed.ref, failed.code, failed.line], ['secret://dev/a', 'secret_not_found', 1]);
    assert.ok(!lines.join('\n').includes('value-'), 'no value in the log');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

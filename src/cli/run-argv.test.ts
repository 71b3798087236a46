import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRunArgv } from './run-argv.js';

test('canonical run argv is parsed without commander', () => {
  assert.deepEqual(parseRunArgv(['--secret', 'prod/a', '--map', 'password=PW', '--secret=prod/b', '--env', 'X=secret://p/x#y', '--env-file', '.env', '--mask', '--', 'dbt', 'run', '--select', 'a+']), {
    options: { secret: ['prod/a', 'prod/b'], map: ['password=PW'], env: ['X=secret://p/x#y'], envFile: '.env', mask: true },
    command: ['dbt', 'run', '--select', 'a+'],
  });
  assert.deepEqual(parseRunArgv(['--', 'true']), { options: {}, command: ['true'] });
});

test('anything unusual is left to commander', () => {
  for (const args of [['--help'], ['-h', '--', 'x'], ['--secret', 'a', 'dbt', 'run'], ['--unknown', '--', 'x'], ['--secret'], ['--mask=yes', '--', 'x'], []]) {
    assert.equal(parseRunArgv(args), undefined, args.join(' '));
  }
});

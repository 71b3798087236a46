import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { formatForFile, renderTemplate } from './template.js';

const HOSTILE = ['p"a\'s\\s', 'line1\nline2', 'has # hash', 'key: value', '- dash', '{"json": true}', '*star', '  padded  ', 'tab\there', 'ünï€', "it's"];

const resolverFor = (values: Record<string, string>) => async (ref: string) => {
  if (!(ref in values)) throw Object.assign(new Error(`unknown ${ref}`), { code: 'secret_not_found' });
  return values[ref]!;
};

test('format follows the file name', () => {
  assert.equal(formatForFile('x/config.JSON'), 'json');
  assert.equal(formatForFile('profiles.yml'), 'yaml');
  assert.equal(formatForFile('.env'), 'env');
  assert.equal(formatForFile('prod.env'), 'env');
  assert.equal(formatForFile('.env.template'), 'env');
  assert.equal(formatForFile('notes.txt'), 'text');
});

test('JSON: hostile values are JSON-escaped inside strings and parse back exactly', async () => {
  for (const value of HOSTILE) {
    const text = '{\n  "password": "secret://p/db#pw",\n  "url": "pg://u:secret://p/db#pw@h/d"\n}\n';
    const { output, problems } = await renderTemplate(text, 'json', resolverFor({ 'secret://p/db#pw': value }));
    assert.deepEqual(problems, []);
    assert.deepEqual(JSON.parse(output!), { password: value, url: `pg://u:${value}@h/d` });
  }
});

test('JSON: a reference outside a string is an error with its position', async () => {
  const { output, problems } = await renderTemplate('{\n  "port": secret://p/db#port\n}', 'json', resolverFor({ 'secret://p/db#port': '5432' }));
  assert.equal(output, null);
  assert.equal(problems[0]!.line, 2);
  assert.equal(problems[0]!.column, 11);
  assert.equal(problems[0]!.code, 'unsafe_insertion');
});

test('YAML: plain, double- and single-quoted references keep every hostile value intact', async () => {
  for (const value of HOSTILE) {
    const text = [
      'outputs:',
      '  prod:',
      '    password: secret://p/db#pw   # the warehouse password',
      '    quoted: "secret://p/db#pw"',
      '    dsn: "host=h password=secret://p/db#pw"',
      '    list:',
      '      - secret://p/db#pw',
      ...(/\n/.test(value) ? [] : ["    single: 'secret://p/db#pw'"]),
      '    # commented: secret://p/unknown',
      '',
    ].join('\n');
    const { output, problems } = await renderTemplate(text, 'yaml', resolverFor({ 'secret://p/db#pw': value }));
    assert.deepEqual(problems, [], value);
    const parsed = parseYaml(output!) as { outputs: { prod: Record<string, unknown> } };
    const prod = parsed.outputs.prod;
    assert.equal(prod.password, value);
    assert.equal(prod.quoted, value);
    assert.equal(prod.dsn, `host=h password=${value}`);
    assert.deepEqual(prod.list, [value]);
    if (!/\n/.test(value)) assert.equal(prod.single, value);
    assert.match(output!, /# commented: secret:\/\/p\/unknown/);
  }
});

test('YAML: an unsafe value inside a longer plain scalar asks for quotes instead of corrupting the file', async () => {
  const { output, problems } = await renderTemplate('dsn: host=h password=secret://p/db#pw\n', 'yaml', resolverFor({ 'secret://p/db#pw': 'a #b' }));
  assert.equal(output, null);
  assert.equal(problems[0]!.code, 'unsafe_insertion');
  const ok = await renderTemplate('dsn: host=h password=secret://p/db#pw\n', 'yaml', resolverFor({ 'secret://p/db#pw': 'p@ss/w:rd' }));
  assert.equal((parseYaml(ok.output!) as { dsn: string }).dsn, 'host=h password=p@ss/w:rd');
});

test('YAML: flow collections refuse values that would split the scalar', async () => {
  const text = 'hosts: [secret://p/a, secret://p/b]\n';
  const ok = await renderTemplate(text, 'yaml', resolverFor({ 'secret://p/a': 'h1', 'secret://p/b': 'h2' }));
  assert.deepEqual((parseYaml(ok.output!) as { hosts: string[] }).hosts, ['h1', 'h2']);
  const bad = await renderTemplate(text, 'yaml', resolverFor({ 'secret://p/a': 'x, y', 'secret://p/b': 'h2' }));
  assert.equal(bad.output, null);
  assert.equal(bad.problems[0]!.code, 'unsafe_insertion');
});

test('.env: double quotes escape, unquoted newlines are refused', async () => {
  const text = '# comment secret://p/none\nA="secret://p/db#pw"\nB=secret://p/db#user\n';
  const { output } = await renderTemplate(text, 'env', resolverFor({ 'secret://p/db#pw': 'x"y\\z\nw', 'secret://p/db#user': 'etl' }));
  assert.equal(output, '# comment secret://p/none\nA="x\\"y\\\\z\\nw"\nB=etl\n');
  const bad = await renderTemplate('B=secret://p/db#pw\n', 'env', resolverFor({ 'secret://p/db#pw': 'a\nb' }));
  assert.equal(bad.problems[0]!.code, 'unsafe_insertion');
});

test('every failing reference is reported, not only the first, and the resolver runs once per reference', async () => {
  let calls = 0;
  const { output, problems, references } = await renderTemplate('a: secret://p/x\nb: secret://p/y\nc: secret://p/x\n', 'yaml', async (ref) => {
    calls += 1;
    throw Object.assign(new Error(`cannot read ${ref}`), { code: 'secret_not_found' });
  });
  assert.equal(output, null);
  assert.equal(calls, 2);
  assert.equal(references, 3);
  assert.deepEqual(problems.map((p) => [p.line, p.ref, p.code]), [[1, 'secret://p/x', 'secret_not_found'], [2, 'secret://p/y', 'secret_not_found'], [3, 'secret://p/x', 'secret_not_found']]);
});

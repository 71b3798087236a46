import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Report } from '../engines/reports/report.types.js';
import { toCsv, toHtml, toTable } from './report-format.js';

const report: Report = {
  kind: 'inventory', title: 'Secret inventory', generated_at: '2026-09-01T10:00:00.000Z', since: null, columns: ['secret', 'owner', 'overdue', 'reads_30d'],
  rows: [{ secret: 'prod/a', owner: '=HYPERLINK("x")', overdue: true, reads_30d: 3 }, { secret: 'prod/b', owner: '<script>alert(1)</script>, "quoted"', overdue: false, reads_30d: 0 }, { secret: 'prod/c', owner: null, overdue: false, reads_30d: 0 }],
  summary: { secrets: 3 }, charts: [{ title: 'Compliance', type: 'bar', labels: ['prod'], series: [{ name: 'ok', values: [2] }] }],
};

test('CSV quotes separators and quotes, and defuses spreadsheet formulas', () => {
  assert.equal(toCsv(report), 'secret,owner,overdue,reads_30d\r\nprod/a,"=HYPERLINK(""x"")",yes,3\r\nprod/b,"<script>alert(1)</script>, ""quoted""",no,0\r\nprod/c,,no,0\r\n');
});

test('HTML escapes every cell and has no script or external reference', () => {
  const html = toHtml([report]);
  assert.ok(!html.includes('<script>'));
  assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;, &quot;quoted&quot;/);
  assert.ok(!/(src|href)\s*=/.test(html));
  assert.match(html, /<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="[\d.]+" fill="#2563eb"><title>ok prod: 2<\/title><\/rect>/);
});

test('the table shows "-" for empty cells and yes/no for booleans', () => {
  const lines = toTable(report).split('\n');
  assert.match(lines[6]!, /^prod\/c\s+-\s+no\s+0$/);
  assert.match(lines[2]!, /^$/);
});

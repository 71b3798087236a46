import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot, type BenchRow, type BenchSuite } from './lib.js';
import { nativeReadSuite } from './suites/native-read.js';
import { clientSuite } from './suites/client.js';
import { postgresSuite } from './suites/postgres.js';
import { awsReadSuite } from './suites/aws-read.js';
import { rotationSuite } from './suites/rotation.js';

/**
 * `npm run bench [suite...]`: runs each suite (server and load generator in separate
 * processes), prints one table per suite and saves everything as JSON in bench/results/.
 */
const suites: BenchSuite[] = [nativeReadSuite, awsReadSuite, rotationSuite, clientSuite, postgresSuite];

const only = process.argv.slice(2);
const selected = only.length ? suites.filter((s) => only.includes(s.name)) : suites;
const rows: BenchRow[] = [];
for (const suite of selected) {
  process.stderr.write(`running ${suite.name}...\n`);
  const result = await suite.run();
  rows.push(...result);
  printTable(suite.name, result);
}

const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const dir = path.join(repoRoot, 'bench/results');
mkdirSync(dir, { recursive: true });
const file = path.join(dir, `bench-${stamp}.json`);
writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version }, rows }, null, 2));
process.stdout.write(`\nsaved ${path.relative(repoRoot, file)}\n`);

function printTable(title: string, result: BenchRow[]): void {
  const columns = [...new Set(result.flatMap((r) => Object.keys(r.metrics)))];
  const header = ['case', ...columns];
  const lines = result.map((r) => [r.case, ...columns.map((c) => String(r.metrics[c] ?? ''))]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  process.stdout.write(`\n### ${title}\n\n${fmt(header)}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n${lines.map(fmt).join('\n')}\n`);
}

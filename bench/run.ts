import { printTable, saveResults, type BenchRow, type BenchSuite } from './lib.js';
import { nativeReadSuite } from './suites/native-read.js';
import { clientSuite } from './suites/client.js';
import { postgresSuite } from './suites/postgres.js';
import { awsReadSuite } from './suites/aws-read.js';
import { rotationSuite } from './suites/rotation.js';
import { transitSuite } from './suites/transit.js';
import { loginsSuite } from './suites/logins.js';
import { scanSuite } from './suites/scan.js';
import { alertsSuite } from './suites/alerts.js';
import { webUiSuite } from './suites/web-ui.js';
import { leasesSuite } from './suites/leases.js';
import { agentSuite } from './suites/agent.js';
import { workersSuite } from './suites/workers.js';
import { bigDataSuite } from './suites/big-data.js';

/**
 * `npm run bench [suite...]`: runs each suite (server and load generator in separate
 * processes), prints one table per suite and saves everything as JSON in bench/results/.
 */

const suites: BenchSuite[] = [nativeReadSuite, awsReadSuite, rotationSuite, clientSuite, postgresSuite, transitSuite, loginsSuite, scanSuite, alertsSuite, webUiSuite, leasesSuite, agentSuite, workersSuite, bigDataSuite];

const only = process.argv.slice(2);
// big-data seeds millions of rows for many minutes: it runs only when named.
const selected = only.length ? suites.filter((s) => only.includes(s.name)) : suites.filter((s) => s.name !== 'big-data');
const rows: BenchRow[] = [];
for (const suite of selected) {
  process.stderr.write(`running ${suite.name}...\n`);
  const result = await suite.run();
  rows.push(...result);
  printTable(suite.name, result);
}

const file = saveResults('bench', { rows });
process.stdout.write(`\nsaved ${file}\n`);

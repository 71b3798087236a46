#!/usr/bin/env node
import { Command, Option } from 'commander';
import { fail } from './context.js';

/**
 * The `custos` CLI. Command implementations are imported lazily inside each action so that
 * short-lived commands (`secret get`, `run`) load only what they use and start fast.
 */
// `custos secret list | head` closes our stdout early: that is the reader's choice, not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const program = new Command('custos').description('Custos: secrets for data pipelines').version('0.1.0').showHelpAfterError();

const collect = (value: string, previous: string[] = []) => [...previous, value];
const run = <A extends unknown[]>(load: () => Promise<(...args: A) => Promise<void>>) =>
  async (...args: A) => {
    try {
      await (await load())(...args);
    } catch (error) {
      fail(error);
    }
  };

program
  .command('server')
  .description('run the Custos server')
  .option('--dev', 'development mode: initialize and unseal automatically (one machine only)')
  .option('-c, --config <file>', 'YAML or JSON config file')
  .option('--host <host>', 'listen address (default 127.0.0.1)')
  .option('--port <port>', 'listen port (default 8420)')
  .option('--data-dir <dir>', 'data directory (default ./.custos)')
  .option('--storage <url>', 'sqlite:PATH or postgres://user@host:port/db (password via CUSTOS_STORAGE_PASSWORD or a file)')
  .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent')
  .action(run(async () => (await import('./commands/server.js')).serverCommand));

const operator = program.command('operator').description('initialize, seal and unseal the server');
operator.command('init').description('initialize: prints the root token and unseal key shares once')
  .option('--shares <n>', 'number of unseal key shares', '5').option('--threshold <n>', 'shares needed to unseal', '3').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/operator.js')).initCommand));
operator.command('unseal').description('submit one unseal key share (argument, --key-file, or prompt on stdin)')
  .argument('[key]', 'unseal key share').option('--key-file <file>', 'read the share from a file').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/operator.js')).unsealCommand));
operator.command('seal').description('seal the server: drop all keys from memory').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/operator.js')).sealCommand));
operator.command('status').description('show initialization and seal status').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/operator.js')).statusCommand));
operator.command('rotate-key').description('add a new keyring term; new writes use it, old values stay readable').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/operator.js')).rotateKeyCommand));
const snapshot = operator.command('snapshot').description('offline copies of the storage (values stay encrypted)');
snapshot.command('save').description('write a consistent snapshot of the storage to FILE (safe while nodes serve)').argument('<file>')
  .option('--storage <url>', 'sqlite:PATH or postgres://user@host:port/db (password via CUSTOS_STORAGE_PASSWORD or storage_password_file)')
  .option('-c, --config <file>', 'server config file (for its storage settings)').option('--data-dir <dir>', 'data directory (default ./.custos)').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/snapshot.js')).snapshotSaveCommand));
snapshot.command('restore').description('restore FILE into empty storage (stop the nodes first)').argument('<file>')
  .option('--storage <url>', 'sqlite:PATH or postgres://user@host:port/db (password via CUSTOS_STORAGE_PASSWORD or storage_password_file)')
  .option('-c, --config <file>', 'server config file (for its storage settings)').option('--data-dir <dir>', 'data directory (default ./.custos)')
  .option('--force', 'replace everything in non-empty storage').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/snapshot.js')).snapshotRestoreCommand));
operator.command('migrate').description('copy all data to other storage without decrypting, e.g. SQLite to PostgreSQL (stop the nodes first)')
  .requiredOption('--from <url>', 'source, e.g. sqlite:/var/lib/custos/custos.db (password: CUSTOS_FROM_STORAGE_PASSWORD or --from-password-file)')
  .requiredOption('--to <url>', 'target, e.g. postgres://custos@db:5432/custos (password: CUSTOS_STORAGE_PASSWORD or --to-password-file)')
  .option('--from-password-file <file>').option('--to-password-file <file>').option('--force', 'replace everything in a non-empty target').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/snapshot.js')).migrateCommand));

const secret = program.command('secret').description('read and write secrets');
secret.command('put').description('write a new version (creates the secret if needed)').argument('<name>')
  .option('--value <value>', 'the value (visible in shell history; prefer --file or -)').option('--file <file>', 'read the value from a file')
  .option('--binary', 'store the file as binary').option('--label <label>', 'staging label (repeatable; default CURRENT)', collect)
  .option('--description <text>').option('--owner <owner>').option('--tag <k=v>', 'tag (repeatable)', collect)
  .option('--idempotency-token <token>', 'retry-safe version id (32-64 chars)').option('--json', 'JSON output')
  .argument('[stdin]', '"-" reads the value from stdin')
  .action(run(async () => (await import('./commands/secret.js')).putCommand));
secret.command('get').description('print a value (alone, with a newline)').argument('<name>')
  .option('--label <label>', 'staging label (default CURRENT)').option('--version <id>', 'version id').option('--field <key>', 'one field of a JSON value').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/secret.js')).getCommand));
secret.command('list').description('list secrets').argument('[prefix]').option('--include-deleted').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/secret.js')).listCommand));
secret.command('describe').description('metadata, versions and labels').argument('<name>').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/secret.js')).describeCommand));
secret.command('label').description('move a staging label to a version').argument('<name>')
  .requiredOption('--label <label>').option('--move-to <id>', 'version to attach the label to').option('--remove-from <id>', 'version to take the label from').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/secret.js')).labelCommand));
secret.command('delete').description('schedule deletion (recovery window) or delete at once').argument('<name>')
  .option('--recovery-days <n>', '7-30, default 30').option('--force', 'delete now, without recovery').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/secret.js')).deleteCommand));
secret.command('restore').description('cancel a scheduled deletion').argument('<name>').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/secret.js')).restoreCommand));
secret.command('password').description('generate a random password').option('--length <n>', 'length (default 32)')
  .option('--exclude-characters <chars>').option('--exclude-numbers').option('--exclude-punctuation').option('--exclude-uppercase').option('--exclude-lowercase')
  .option('--include-space').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/secret.js')).passwordCommand));

const token = program.command('token').description('create, inspect and revoke tokens');
token.command('create').description('create a child token').requiredOption('--policy <name>', 'policy (repeatable)', collect)
  .option('--ttl <duration>', 'e.g. 1h, 30d').option('--max-ttl <duration>').option('--env <env>', 'bind to one environment').option('--display-name <name>').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/token.js')).createCommand));
token.command('lookup').description('show a token (default: your own)').argument('[accessor]').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/token.js')).lookupCommand));
token.command('renew').description('extend a token by its TTL').argument('[accessor]').option('--increment <duration>').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/token.js')).renewCommand));
token.command('revoke').description('revoke a token and its children (default: your own)').argument('[accessor]').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/token.js')).revokeCommand));

const policy = program.command('policy').description('manage policies');
policy.command('write').argument('<name>').argument('<file>', 'YAML or JSON file, or - for stdin').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/policy.js')).writeCommand));
policy.command('read').argument('<name>').option('--json', 'JSON output').action(run(async () => (await import('./commands/policy.js')).readCommand));
policy.command('list').option('--json', 'JSON output').action(run(async () => (await import('./commands/policy.js')).listCommand));
policy.command('delete').argument('<name>').option('--json', 'JSON output').action(run(async () => (await import('./commands/policy.js')).deleteCommand));

const audit = program.command('audit').description('read and verify the audit log');
audit.command('tail').description('the newest events').option('-n <count>', 'how many', '20').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/audit.js')).tailCommand));
audit.command('query').description('search events').option('--secret <name>').option('--principal <accessor>').option('--since <time>', 'ISO time or 15m / 24h / 7d')
  .addOption(new Option('--outcome <outcome>').choices(['success', 'denied', 'failure'])).option('--operation <op>').option('--limit <n>', 'max events', '100').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/audit.js')).queryCommand));
audit.command('verify').description('check the hash chain; reports the first altered or missing event').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/audit.js')).verifyCommand));

// Pipeline client: run, render, import/export, login/logout.
program.command('run').description('run a command with secrets in its environment (nothing written to disk, no value printed)')
  .option('--secret <name>', 'a secret to inject (repeatable; without --map every JSON field becomes an UPPER_CASE variable)', collect)
  .option('--map <key=ENV,...>', 'JSON fields to variables for the matching --secret (repeatable, pairs up in order)', collect)
  .option('--env <NAME=VALUE>', 'a variable whose value may contain secret:// references (repeatable)', collect)
  .option('--env-file <file>', 'KEY=VALUE lines whose values may contain secret:// references')
  .option('--mask', "replace secret values in the command's stdout/stderr with ****")
  .argument('[command...]', 'the command, after --')
  .action(run(async () => (await import('./commands/run.js')).runCommand));
program.command('render').description('resolve secret:// references in a file (YAML, JSON, .env, any text)').argument('<file>')
  .option('-o, --output <file>', 'write here (mode 0600) instead of stdout').option('--check', 'verify every reference resolves and is readable; print no value')
  .addOption(new Option('--format <format>', 'escaping rules (default: from the file name)').choices(['json', 'yaml', 'env', 'text']))
  .action(run(async () => (await import('./commands/render.js')).renderCommand));
program.command('import').description('create secrets from an inventory file [{path, owner, env, rotation_days, description}]').argument('<file>')
  .option('--values <file>', 'JSON map path -> value').option('--generate', 'generate a password for every path without a value')
  .option('--length <n>', 'generated password length').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/inventory.js')).importCommand));
program.command('export').description('write the inventory (metadata only, never values)').argument('[prefix]')
  .option('--inventory', 'inventory JSON [{path, owner, env, rotation_days, description}]').option('-o, --output <file>', 'write here instead of stdout')
  .action(run(async () => (await import('./commands/inventory.js')).exportCommand));
program.command('login').description('verify a token and save it in $HOME/.custos/token (0600); reads it from stdin unless --token-file')
  .option('--token-file <file>', 'read the token from this file')
  .action(run(async () => (await import('./commands/login.js')).loginCommand));
program.command('logout').description('remove the saved token').option('--revoke', 'revoke it at the server first')
  .action(run(async () => (await import('./commands/login.js')).logoutCommand));
const awsKey = program.command('aws-key').description('SigV4 access keys for the AWS Secrets Manager-compatible API');
awsKey.command('create').description('create an access key bound to policies (prints the secret key once)').requiredOption('--policy <name>', 'policy (repeatable)', collect)
  .option('--env <env>', 'bind to one environment').option('--display-name <name>').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/aws-key.js')).createCommand));
awsKey.command('list').description('list access keys').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/aws-key.js')).listCommand));
awsKey.command('revoke').description('revoke an access key').argument('<access-key-id>').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/aws-key.js')).revokeCommand));
const rotation = program.command('rotation').description('rotation settings, status and history');
rotation.command('set').description('configure rotation for a secret').argument('<name>')
  .addOption(new Option('--rotator <rotator>').choices(['postgres', 'postgres-alternating', 'command', 'webhook']).makeOptionMandatory())
  .option('--every <duration>', 'rotate every e.g. 30d').option('--cron <expr>', 'cron expression (UTC)').option('--window <HH:MM-HH:MM>', 'UTC window, e.g. 02:00-04:00')
  .option('--admin-secret <name>', 'secret with admin credentials for ALTER ROLE').option('--grace <duration>', 'how long PREVIOUS keeps working, e.g. 24h')
  .option('--users <a,b>', 'the two users of postgres-alternating').option('--test-query <sql>', 'query the test phase runs (default SELECT 1)')
  .option('--password-length <n>').option('--exclude-characters <chars>')
  .option('--command <path>', 'command rotator executable').option('--command-arg <arg>', 'argument (repeatable)', collect).option('--command-timeout <duration>')
  .option('--webhook-url <url>').option('--hmac-secret <name>', 'secret holding the webhook HMAC key').option('--ca-file <file>', 'CA bundle for the webhook')
  .option('--generate-field <field>', 'command/webhook: JSON field filled with a new password at create ("none": the rotator writes PENDING)')
  .option('--settings-file <file>', 'JSON settings document (flags override)').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/rotation.js')).setCommand));
rotation.command('clear').description('remove rotation settings').argument('<name>').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/rotation.js')).clearCommand));
rotation.command('status').description('settings, schedule and the latest run').argument('<name>').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/rotation.js')).statusCommand));
rotation.command('history').description('past rotation runs').argument('<name>').option('--limit <n>').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/rotation.js')).historyCommand));
rotation.command('list').description('secrets with rotation schedules').option('--overdue', 'only overdue ones').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/rotation.js')).listCommand));
program.command('rotate').description('rotate a secret now').argument('<name>').option('--wait', 'wait until the rotation ends').option('--timeout <duration>', 'with --wait, default 120s')
  .option('--json', 'JSON output').action(run(async () => (await import('./commands/rotation.js')).rotateCommand));

const report = program.command('report').description('reports for owners and auditors: inventory, access, rotation, unused, evidence');
report.command('evidence').description('one quarter of SOC 2 evidence as a signed tar (policies, prod readers, rotation, audit verify)')
  .requiredOption('--period <quarter>', 'e.g. 2026-Q3').requiredOption('--signing-key <file>', 'Ed25519 private key (custos report keygen)').option('-o, --output <file>')
  .action(run(async () => (await import('./commands/report.js')).evidenceCommand));
report.command('keygen').description('create an Ed25519 key pair for signing evidence').requiredOption('--out <file>', 'private key file (public key beside it as .pub.pem)')
  .action(run(async () => (await import('./commands/report.js')).keygenCommand));
report.command('verify-evidence').description('check an evidence archive against a trusted public key').argument('<file>').requiredOption('--public-key <file>')
  .action(run(async () => (await import('./commands/report.js')).verifyEvidenceCommand));
report.command('show', { isDefault: true }).description('inventory | access | rotation | unused').argument('<kind>', 'inventory | access | rotation | unused')
  .option('--format <format>', 'table (default), json, csv or html (one self-contained file with charts)').option('--since <period>', 'e.g. 90d or 2026-07-01 (default 90d)')
  .option('--days <n>', 'unused: not read for this many days (default 90)').option('-o, --output <file>', 'write here instead of stdout')
  .action(run(async () => (await import('./commands/report.js')).reportCommand));
const alerts = program.command('alerts').description('alerts raised over the audit log: list, show, acknowledge, silence');
alerts.command('list').description('alerts (firing by default)').option('--status <status>', 'firing or resolved').option('--all', 'firing and resolved')
  .option('--rule <rule>').option('--limit <n>').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/alerts.js')).listCommand));
alerts.command('show').description('one alert: facts, audit seqs, deliveries (dead ones are the dead-letter list)').argument('<id>').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/alerts.js')).showCommand));
alerts.command('ack').description('acknowledge an alert (it keeps firing until its condition clears)').argument('<id>').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/alerts.js')).ackCommand));
alerts.command('silence').description('no notifications for this alert and its recurrences for a while').argument('<id>')
  .requiredOption('--for <duration>', 'e.g. 4h, 7d (1 minute to 90 days)').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/alerts.js')).silenceCommand));

await program.parseAsync(process.argv);

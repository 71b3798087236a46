#!/usr/bin/env node
import { Command, Option } from 'commander';
import { fail } from './context.js';

/**
 * The `custos` CLI. Command implementations are imported lazily inside each action so that
 * short-lived commands (`secret get`, `run`) load only what they use and start fast.
 */
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

await program.parseAsync(process.argv);

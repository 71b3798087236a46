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

// Positional options: a subcommand's `--json` is its own, never taken by a parent that has one too (login and login jwt).
const program = new Command('custos').description('Custos: secrets for data pipelines').version('0.1.0').showHelpAfterError().enablePositionalOptions();

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
  .option('--workers <n>', 'server processes sharing the port: a number, or auto for one per CPU core (default 1)')
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
  .option('--break-glass <reason>', 'emergency write without approval, where a rule allows it (audited, alerts)')
  .argument('[stdin]', '"-" reads the value from stdin')
  .action(run(async () => (await import('./commands/secret.js')).putCommand));
secret.command('get').description('print a value (alone, with a newline; binary values as exact bytes, never to a terminal)').argument('<name>')
  .option('--label <label>', 'staging label (default CURRENT)').option('--version <id>', 'version id').option('--field <key>', 'one field of a JSON value').option('--json', 'JSON output')
  .option('--out <file>', 'write the exact value to FILE (mode 0600, no newline)')
  .action(run(async () => (await import('./commands/secret.js')).getCommand));
secret.command('list').description('list secrets').argument('[prefix]').option('--include-deleted').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/secret.js')).listCommand));
secret.command('describe').description('metadata, versions and labels').argument('<name>').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/secret.js')).describeCommand));
secret.command('versions').description('every version with its labels, newest first').argument('<name>').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/secret.js')).versionsCommand));
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
  .option('--ttl <duration>', 'e.g. 1h, 30d').option('--max-ttl <duration>').option('--env <env>', 'bind to one environment').option('--display-name <name>')
  .option('--allow-missing-policy', 'accept policy names not written yet (they grant nothing until they are)').option('--json', 'JSON output')
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
  .option('--until <time>', 'before this ISO time or 15m / 24h / 7d ago')
  .addOption(new Option('--outcome <outcome>').choices(['success', 'denied', 'failure'])).option('--operation <op>').option('--limit <n>', 'max events', '100').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/audit.js')).queryCommand));
audit.command('verify').description('check the hash chain; reports the first altered or missing event').option('--json', 'JSON output')
  .option('--checkpoints <file>', 'also check signed checkpoints (JSONL): every checkpointed event must still be there')
  .option('--public-key <file>', 'checkpoint public key (PEM) to trust instead of asking the server')
  .action(run(async () => (await import('./commands/audit.js')).verifyCommand));
audit.command('acknowledge-break').description('resume audited service after tampering was found (needs update on sys:audit); opens a new, linked segment')
  .requiredOption('--reason <text>', 'why the break is accepted (recorded in the audit log)').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/audit.js')).acknowledgeBreakCommand));
audit.command('public-key').description('print the ed25519 public key that signs audit checkpoints (PEM)').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/audit.js')).publicKeyCommand));
const checkpoints = audit.command('checkpoints').description('signed audit checkpoints: list this server node\'s (default), or verify a file offline');
checkpoints.command('list', { isDefault: true }).description('this server node\'s signed checkpoints, newest first: seq, time, head hash, signature and chain check')
  .option('--before-seq <seq>', 'only checkpoints below this sequence number (the next page)').option('--limit <n>', 'how many', '20').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/audit.js')).checkpointsListCommand));
checkpoints.command('verify').description('offline: check a checkpoint file\'s signatures with the public key (no server)').argument('<file>')
  .requiredOption('--public-key <file>', 'checkpoint public key (PEM), from `custos audit public-key`').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/audit.js')).checkpointsVerifyCommand));

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
  .option('--json', 'JSON summary {file, references, problems, output} instead of the rendered text on stdout (with -o or --check)')
  .action(run(async () => (await import('./commands/render.js')).renderCommand));
program.command('import').description('create secrets from an inventory file [{path, owner, env, rotation_days, description}]').argument('<file>')
  .option('--values <file>', 'JSON map path -> value').option('--generate', 'generate a password for every path without a value')
  .option('--length <n>', 'generated password length').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/inventory.js')).importCommand));
program.command('export').description('write the inventory (metadata only, never values)').argument('[prefix]')
  .option('--inventory', 'inventory JSON [{path, owner, env, rotation_days, description}]').option('-o, --output <file>', 'write here instead of stdout')
  .option('--json', 'JSON output (the inventory is JSON already; with -o, a summary)')
  .action(run(async () => (await import('./commands/inventory.js')).exportCommand));
const login = program.command('login').description('verify a token and save it for CUSTOS_ADDR in $HOME/.custos/tokens.json (0600; also ~/.custos/token unless that holds another server\'s); reads it from stdin unless --token-file')
  .option('--token-file <file>', 'read the token from this file').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/login.js')).loginCommand));
login.command('approle').description('log in with an AppRole role_id and secret_id (a wrapping token in the file is unwrapped first)')
  .requiredOption('--role-id <id>').requiredOption('--secret-id-file <file>', 'file (or - for stdin) holding the secret_id or a wrapping token for it')
  .option('--mount <path>', 'AppRole mount path', 'approle').option('--json', 'print the login response instead of saving the token')
  .action(run(async () => (await import('./commands/approle.js')).loginCommand));
login.command('jwt').description('log in with a JWT (GitHub Actions / Kubernetes / any OIDC issuer)')
  .requiredOption('--role <name>').requiredOption('--jwt-file <file>', 'file (or - for stdin) holding the JWT')
  .option('--mount <path>', 'JWT mount path', 'jwt').option('--json', 'print the login response instead of saving the token')
  .action(run(async () => (await import('./commands/jwt.js')).loginCommand));
login.command('userpass').description('log in with a username and password (typed without echo, or from a file)')
  .requiredOption('--username <name>').option('--password-file <file>', 'first line of this file (- or absent: prompt / stdin)')
  .option('--mount <path>', 'userpass mount path', 'userpass').option('--json', 'print the login response instead of saving the token')
  .action(run(async () => (await import('./commands/userpass.js')).loginCommand));
login.command('oidc').description('log in through your organisation\'s identity provider (OIDC authorization code with PKCE): opens a browser, or prints the URL')
  .requiredOption('--role <name>').option('--mount <path>', 'OIDC mount path', 'oidc').option('--port <port>', 'local port the provider redirects to (http://localhost:PORT/oidc/callback)', '8250')
  .option('--no-browser', 'only print the URL (headless shell: open it on any machine that can reach this one\'s port)')
  .option('--json', 'print the login response instead of saving the token')
  .action(run(async () => (await import('./commands/oidc.js')).loginCommand));
const userpass = program.command('userpass').description('people with a username and password');
userpass.command('create').description('create or update a user (password: prompt, stdin or --password-file)').argument('<username>')
  .addOption(new Option('--mount <path>', 'userpass mount path').default('userpass')).requiredOption('--policy <name>', 'policy (repeatable)', collect)
  .option('--env <env>').option('--token-ttl <duration>').option('--password-file <file>').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/userpass.js')).createCommand));
program.command('unwrap').description('open a response-wrapping token (single use) and print what it wraps')
  .option('--token-file <file>', 'read the wrapping token from this file (default: stdin)').option('--json', 'JSON output (always JSON)')
  .action(run(async () => (await import('./commands/auth.js')).unwrapCommand));

const authCmd = program.command('auth').description('auth methods mounted by name (approle, jwt)');
authCmd.command('enable').description('mount an auth method').argument('<type>', 'approle | jwt').option('--path <path>', 'mount path (default: the type)')
  .option('--description <text>').option('--config <key=value>', 'method setting (repeatable)', collect).option('--config-file <file>', 'JSON settings').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/auth.js')).enableCommand));
authCmd.command('configure').description("change some of a mount's settings (the others are kept)").argument('<path>')
  .option('--config <key=value>', 'method setting (repeatable)', collect).option('--config-file <file>', 'JSON settings').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/auth.js')).configureCommand));
authCmd.command('list').description('mounted auth methods').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/auth.js')).listCommand));
authCmd.command('disable').description('unmount: deletes its roles and revokes every token it issued').argument('<path>').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/auth.js')).disableCommand));
const authRole = authCmd.command('role').description('roles of any auth method');
authRole.command('write').argument('<mount>').argument('<name>').option('--set <key=value>', 'role field (repeatable)', collect).option('--file <file>', 'JSON role (- for stdin)').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/auth.js')).roleWriteCommand));
authRole.command('read').argument('<mount>').argument('<name>').option('--json', 'JSON output (always JSON)').action(run(async () => (await import('./commands/auth.js')).roleReadCommand));
authRole.command('list').argument('<mount>').option('--json', 'JSON output').action(run(async () => (await import('./commands/auth.js')).roleListCommand));
authRole.command('delete').argument('<mount>').argument('<name>').option('--json', 'JSON output').action(run(async () => (await import('./commands/auth.js')).roleDeleteCommand));

const group = program.command('group').description('groups: named policy sets for auth roles and tokens');
group.command('create').description('create or update a group').argument('<name>').requiredOption('--policy <name>', 'policy (repeatable)', collect)
  .option('--description <text>').option('--json', 'JSON output').action(run(async () => (await import('./commands/group.js')).createCommand));
group.command('read').argument('<name>').option('--json', 'JSON output').action(run(async () => (await import('./commands/group.js')).readCommand));
group.command('list').option('--json', 'JSON output').action(run(async () => (await import('./commands/group.js')).listCommand));
group.command('delete').argument('<name>').option('--json', 'JSON output').action(run(async () => (await import('./commands/group.js')).deleteCommand));
group.command('add-member').argument('<name>').option('--role <mount/role>', 'every token this auth role issues').option('--accessor <acc>', 'one token')
  .option('--aws-key <id>', 'an AWS access key (boto3 on a worker gets the group\'s policies)')
  .option('--json', 'JSON output').action(run(async () => (await import('./commands/group.js')).addMemberCommand));
group.command('remove-member').argument('<name>').option('--role <mount/role>').option('--accessor <acc>').option('--aws-key <id>')
  .option('--json', 'JSON output').action(run(async () => (await import('./commands/group.js')).removeMemberCommand));

const approle = program.command('approle').description('AppRole roles and secret ids (for Airflow/Spark workers)');
const mountOpt = () => new Option('--mount <path>', 'AppRole mount path').default('approle');
approle.command('create').description('create or update a role').argument('<name>').addOption(mountOpt()).requiredOption('--policy <name>', 'policy (repeatable)', collect)
  .option('--env <env>', 'bind its tokens to one environment').option('--token-ttl <duration>').option('--token-max-ttl <duration>')
  .option('--token-bound-cidr <cidr>', 'tokens only usable from here (repeatable)', collect).option('--secret-id-ttl <duration>').option('--secret-id-num-uses <n>')
  .option('--secret-id-bound-cidr <cidr>', 'logins only from here (repeatable)', collect).option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/approle.js')).createCommand));
approle.command('read').argument('<name>').addOption(mountOpt()).option('--json', 'JSON output').action(run(async () => (await import('./commands/approle.js')).readCommand));
approle.command('list').addOption(mountOpt()).option('--json', 'JSON output').action(run(async () => (await import('./commands/approle.js')).listCommand));
approle.command('delete').argument('<name>').addOption(mountOpt()).option('--json', 'JSON output').action(run(async () => (await import('./commands/approle.js')).deleteCommand));
const secretId = approle.command('secret-id').description('secret ids of a role (shown once, on creation)');
secretId.command('create').argument('<role>').addOption(mountOpt()).option('--ttl <duration>', 'shorter than the role allows').option('--num-uses <n>')
  .option('--cidr <cidr>', 'logins with it only from here (repeatable)', collect).option('--wrap-ttl <duration>', 'answer a single-use wrapping token instead, e.g. 5m').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/approle.js')).secretIdCreateCommand));
secretId.command('list').argument('<role>').addOption(mountOpt()).option('--json', 'JSON output').action(run(async () => (await import('./commands/approle.js')).secretIdListCommand));
secretId.command('revoke').argument('<role>').argument('<accessor>').addOption(mountOpt()).option('--json', 'JSON output').action(run(async () => (await import('./commands/approle.js')).secretIdRevokeCommand));
program.command('logout').description('remove the saved token').option('--revoke', 'revoke it at the server first').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/login.js')).logoutCommand));
const awsKey = program.command('aws-key').description('SigV4 access keys for the AWS Secrets Manager-compatible API');
awsKey.command('create').description('create an access key bound to policies (prints the secret key once)').requiredOption('--policy <name>', 'policy (repeatable)', collect)
  .option('--env <env>', 'bind to one environment').option('--display-name <name>')
  .option('--ttl <duration>', 'expire after this long (e.g. 30d); never later than the creating token')
  .option('--allow-missing-policy', 'accept policy names not written yet (they grant nothing until they are)').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/aws-key.js')).createCommand));
awsKey.command('list').description('list access keys').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/aws-key.js')).listCommand));
awsKey.command('revoke').description('revoke an access key').argument('<access-key-id>').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/aws-key.js')).revokeCommand));
const rotation = program.command('rotation').description('rotation settings, status and history');
const regionOpt = () => new Option('--region <region>', "a secret outside the server's default region (created through the AWS API)");
rotation.command('set').description('configure rotation for a secret').argument('<name>')
  .addOption(new Option('--rotator <rotator>').choices(['postgres', 'postgres-alternating', 'command', 'webhook']).makeOptionMandatory())
  .option('--every <duration>', 'rotate every e.g. 30d').option('--cron <expr>', 'cron expression (UTC)').option('--window <HH:MM-HH:MM>', 'UTC window, e.g. 02:00-04:00')
  .option('--admin-secret <name>', 'secret with admin credentials for ALTER ROLE').option('--grace <duration>', 'how long PREVIOUS keeps working, e.g. 24h')
  .option('--users <a,b>', 'the two users of postgres-alternating').option('--test-query <sql>', 'query the test phase runs (default SELECT 1)')
  .option('--password-length <n>').option('--exclude-characters <chars>')
  .option('--command <path>', 'command rotator executable').option('--command-arg <arg>', 'argument (repeatable)', collect).option('--command-timeout <duration>')
  .option('--webhook-url <url>').option('--hmac-secret <name>', 'secret holding the webhook HMAC key').option('--ca-file <file>', 'CA bundle for the webhook')
  .option('--generate-field <field>', 'command/webhook: JSON field filled with a new password at create ("none": the rotator writes PENDING)')
  .option('--settings-file <file>', 'JSON settings document (flags override)').addOption(regionOpt()).option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/rotation.js')).setCommand));
rotation.command('clear').description('remove rotation settings').argument('<name>').addOption(regionOpt()).option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/rotation.js')).clearCommand));
rotation.command('status').description('settings, schedule and the latest run').argument('<name>').addOption(regionOpt()).option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/rotation.js')).statusCommand));
rotation.command('history').description('past rotation runs').argument('<name>').option('--limit <n>').addOption(regionOpt()).option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/rotation.js')).historyCommand));
rotation.command('list').description('secrets with rotation settings: schedule, overdue, failing (latest run failed, rolling back, retrying or stuck)').option('--overdue', 'only overdue ones').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/rotation.js')).listCommand));
program.command('rotate').description('rotate a secret now').argument('<name>').option('--wait', 'wait until the rotation ends').option('--timeout <duration>', 'with --wait, default 120s')
  .addOption(regionOpt()).option('--json', 'JSON output').action(run(async () => (await import('./commands/rotation.js')).rotateCommand));

// Transit (encryption as a service): see docs/transit.md.
const transit = program.command('transit').description('encryption as a service: named keys, encrypt/decrypt, sign, hmac');
const tload = async () => import('./commands/transit.js');
const aeadOpts = (c: Command) => c.option('--context <text>', 'context of a derived key (per tenant, per column…)').option('--associated-data <text>', 'associated data bound to the ciphertext');
const inputOpts = (c: Command) => c.option('--file <file>', 'read the input from a file').option('--json', 'JSON output');
const batchOpt = (c: Command) => c.option('--batch <file>', 'JSON array of wire-format items (base64 fields) in one request; "-" for stdin');
transit.command('create').description('create a named key').argument('<name>')
  .addOption(new Option('--type <type>').choices(['aes256-gcm96', 'chacha20-poly1305', 'ed25519', 'ecdsa-p256', 'rsa-2048', 'hmac']).default('aes256-gcm96'))
  .option('--derived', 'derive a key per context (HKDF)').option('--exportable', 'allow (audited) export of the key material; cannot be changed later').option('--json', 'JSON output')
  .action(run(async () => (await tload()).createCommand));
transit.command('list').description('list key names').argument('[prefix]').option('--json', 'JSON output').action(run(async () => (await tload()).listCommand));
transit.command('read').description('key metadata, versions and public keys').argument('<name>').option('--json', 'JSON output').action(run(async () => (await tload()).readCommand));
transit.command('rotate').description('add a new key version (new data uses it; old data still decrypts)').argument('<name>').option('--json', 'JSON output')
  .action(run(async () => (await tload()).rotateCommand));
transit.command('config').description('min_decryption_version, min_encryption_version, deletion_allowed').argument('<name>')
  .option('--min-decryption-version <n>').option('--min-encryption-version <n>', '0 means the latest').option('--deletion-allowed <bool>', 'true or false').option('--json', 'JSON output')
  .action(run(async () => (await tload()).configCommand));
transit.command('trim').description('delete versions below a minimum for good').argument('<name>').requiredOption('--min-available-version <n>').option('--json', 'JSON output')
  .action(run(async () => (await tload()).trimCommand));
transit.command('delete').description('delete a key (needs deletion_allowed)').argument('<name>').option('--json', 'JSON output').action(run(async () => (await tload()).deleteCommand));
transit.command('export').description('print the material of an exportable key (audited)').argument('<name>').option('--version <n>')
  .option('--json', 'JSON output (always JSON)').action(run(async () => (await tload()).exportCommand));
batchOpt(aeadOpts(inputOpts(transit.command('encrypt').description('encrypt; prints custos:v<N>:…').argument('<name>').argument('[plaintext]', 'or - for stdin, or --file'))))
  .option('--key-version <n>').action(run(async () => (await tload()).encryptCommand));
batchOpt(aeadOpts(transit.command('decrypt').description('decrypt; prints the plaintext').argument('<name>').argument('[ciphertext]')))
  .option('--base64', 'print the plaintext as base64').option('--json', 'JSON output').action(run(async () => (await tload()).decryptCommand));
batchOpt(aeadOpts(transit.command('rewrap').description('re-encrypt under the latest version without revealing the plaintext').argument('<name>').argument('[ciphertext]')))
  .option('--json', 'JSON output').action(run(async () => (await tload()).rewrapCommand));
aeadOpts(transit.command('datakey').description('a new data key for envelope encryption (JSON)').argument('<name>').argument('<mode>', 'plaintext or wrapped'))
  .option('--bits <n>', '128, 256 or 512').option('--json', 'JSON output (always JSON)').action(run(async () => (await tload()).datakeyCommand));
batchOpt(inputOpts(transit.command('sign').description('sign; prints custos:v<N>:…').argument('<name>').argument('[input]', 'or - for stdin, or --file')))
  .option('--key-version <n>').action(run(async () => (await tload()).signCommand));
batchOpt(inputOpts(transit.command('verify').description('verify a signature; exit 1 if invalid').argument('<name>').argument('[signature]').argument('[input]', 'or - for stdin, or --file')))
  .action(run(async () => (await tload()).verifyCommand));
batchOpt(inputOpts(transit.command('hmac').description('HMAC; prints custos:v<N>:…').argument('<name>').argument('[input]', 'or - for stdin, or --file')))
  .addOption(new Option('--algorithm <alg>').choices(['sha2-256', 'sha2-512'])).option('--context <text>', 'context of a derived key').action(run(async () => (await tload()).hmacCommand));
batchOpt(inputOpts(transit.command('verify-hmac').description('check an HMAC; exit 1 if invalid').argument('<name>').argument('[hmac]').argument('[input]', 'or - for stdin, or --file')))
  .addOption(new Option('--algorithm <alg>').choices(['sha2-256', 'sha2-512'])).option('--context <text>', 'context of a derived key').action(run(async () => (await tload()).verifyHmacCommand));
const scanCmd = program.command('scan').description('find hard-coded secrets in files, archives, images, notebooks and git history; name the stored ones that leaked')
  .argument('[paths...]', 'files and directories (default .)')
  .option('--git', 'scan the lines every commit added (run in the repository)').option('--since <ref>', 'with --git: only commits after REF')
  .option('--staged', 'scan the staged changes (pre-commit)').option('--json', 'JSON report on stdout').option('--sarif <file>', 'write a SARIF 2.1.0 report')
  .option('--baseline <file>', 'ignore findings listed in a previous --json report').option('--config <file>', 'allowlist file (default .custos-scan.yml)')
  .option('--rotate', 'start rotation of every stored secret found leaked').option('--match', 'require known-value matching (an unreachable server is an error)')
  .option('--no-match', 'do not ask the server which stored secrets were found')
  .option('--max-candidates <n>', 'strings sent (blinded) for known-value matching, default 20000')
  .action(async (paths: string[], flags: Record<string, unknown>) => (await import('./commands/scan.js')).scanCommand(paths, flags));
scanCmd.command('install-hook').description('install a git pre-commit hook running `custos scan --staged`').option('--force', 'replace an existing pre-commit hook').option('--json', 'JSON output')
  .action(async (flags: { force?: boolean; json?: boolean }) => (await import('./commands/scan.js')).installHookCommand(flags));
const report = program.command('report').description('reports for owners and auditors: inventory, access, rotation, unused, evidence');
report.command('evidence').description('one quarter of SOC 2 evidence as a signed tar (policies, prod readers, rotation, audit verify)')
  .requiredOption('--period <quarter>', 'e.g. 2026-Q3').requiredOption('--signing-key <file>', 'Ed25519 private key (custos report keygen)').option('-o, --output <file>').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/report.js')).evidenceCommand));
report.command('keygen').description('create an Ed25519 key pair for signing evidence').requiredOption('--out <file>', 'private key file (public key beside it as .pub.pem)').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/report.js')).keygenCommand));
report.command('verify-evidence').description('check an evidence archive against a trusted public key').argument('<file>').requiredOption('--public-key <file>').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/report.js')).verifyEvidenceCommand));
report.command('show', { isDefault: true }).description('inventory | access | rotation | unused').argument('<kind>', 'inventory | access | rotation | unused')
  .option('--format <format>', 'table (default), json, csv or html (one self-contained file with charts)').option('--since <period>', 'e.g. 90d or 2026-07-01 (default 90d)')
  .option('--days <n>', 'unused: not read for this many days (default 90)').option('-o, --output <file>', 'write here instead of stdout')
  .option('--json', 'same as --format json')
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
const request = program.command('request').description('change requests: writes held for approval (separation of duties)');
request.command('list').description('requests you made or may approve (newest first)').option('--state <state>', 'pending, applied, denied, cancelled, expired, failed')
  .option('--limit <n>').option('--json', 'JSON output').action(run(async () => (await import('./commands/request.js')).listCommand));
request.command('show').description('one request: what it would do (never the value), who asked, who approved').argument('<id>').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/request.js')).showCommand));
request.command('approve').description('approve; the last approval needed carries the write out').argument('<id>').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/request.js')).approveCommand));
request.command('deny').description('deny (closes the request)').argument('<id>').option('--reason <text>').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/request.js')).denyCommand));
request.command('cancel').description('withdraw your own request').argument('<id>').option('--reason <text>').option('--json', 'JSON output')
  .action(run(async () => (await import('./commands/request.js')).cancelCommand));
// The caching agent of a worker node: see docs/agent.md.
program.command('agent').description('run the caching agent of this node (local reads, AWS-compatible, survives outages)')
  .option('-c, --config <file>', 'agent YAML config').option('--json', 'print where it listens as JSON')
  .action(run(async () => (await import('./commands/agent.js')).agentCommand));

// Dynamic database credentials and leases: see docs/database.md.
const database = program.command('database').description('dynamic database users with leases: connections, roles, creds, rotate-root');
const dload = async () => import('./commands/database.js');
database.command('config').description('create or replace a connection (verified unless --no-verify)').argument('<name>')
  .requiredOption('--plugin <plugin>', 'postgresql, mysql or command').requiredOption('--admin-secret <path>', 'the secret holding the admin credential (JSON)')
  .option('--allowed-roles <roles>', 'comma-separated role names, or *').option('--no-verify', 'store without connecting')
  .option('--command <path>', 'command plugin: the program run for create/revoke/renew (absolute path)').option('--json', 'JSON output')
  .action(run(async () => (await dload()).configCommand));
database.command('read-config').description('a connection').argument('<name>').option('--json', 'JSON output').action(run(async () => (await dload()).readConfigCommand));
database.command('role').description('create or replace a role').argument('<name>').requiredOption('--connection <name>')
  .option('--creation-statements <sql>', 'with {{name}} {{password}} {{expiration}}; split on ; (required except for the command plugin)').option('--revocation-statements <sql>').option('--renew-statements <sql>')
  .option('--rollback-statements <sql>').option('--username-template <template>').option('--password-length <n>').option('--default-ttl <duration>').option('--max-ttl <duration>')
  .option('--env <env>', 'only tokens bound to this environment (or unbound ones) get credentials').option('--json', 'JSON output')
  .action(run(async () => (await dload()).roleCommand));
database.command('read-role').description('a role').argument('<name>').option('--json', 'JSON output').action(run(async () => (await dload()).readRoleCommand));
database.command('creds').description('a new database user and its lease').argument('<role>').option('--ttl <duration>')
  .option('--env', 'print DB_USERNAME, DB_PASSWORD, CUSTOS_LEASE_ID for the shell').option('--json', 'JSON output')
  .action(run(async () => (await dload()).credsCommand));
database.command('orphans').description('users that look issued by a role but have no lease (--drop revokes them)').argument('<name>', 'connection')
  .option('--drop', 'drop them with their role\'s revocation statements').option('--json', 'JSON output')
  .action(run(async () => (await dload()).orphansCommand));
database.command('rotate-root').description("change the connection's admin password (and its secret)").argument('<name>').option('--json', 'JSON output')
  .action(run(async () => (await dload()).rotateRootCommand));
const lease = program.command('lease').description('leases of dynamic credentials: renew, revoke, revoke-prefix, list');
lease.command('renew').description('extend a lease (never past its max TTL)').argument('<lease-id>').option('--increment <duration>').option('--json', 'JSON output')
  .action(run(async () => (await dload()).leaseRenewCommand));
lease.command('revoke').description('revoke a lease now (its database user is dropped)').argument('<lease-id>').option('--json', 'JSON output')
  .action(run(async () => (await dload()).leaseRevokeCommand));
lease.command('revoke-prefix').description('revoke every lease under an id prefix (in batches, by the server)').argument('<prefix>').option('--json', 'JSON output')
  .action(run(async () => (await dload()).leaseRevokePrefixCommand));
lease.command('list').description('leases not yet revoked').option('--prefix <prefix>').option('--all', 'include revoked leases').option('--json', 'JSON output')
  .action(run(async () => (await dload()).leaseListCommand));

await program.parseAsync(process.argv);

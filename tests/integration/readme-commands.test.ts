import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { api, repoRoot, startServer, type RunningServer } from '../support/custos-server.js';
import { startPostgresCluster, type PostgresCluster } from '../support/postgres-cluster.js';
import { adminValue, createAlternatingUsers, credValue } from '../support/rotation-fixture.js';

/**
 * Every `custos` command in the shell blocks of README.md and docs/*.md runs as written against
 * a dev server, in document order. What a reader would have to supply (a placeholder such as
 * <new-version-id>, a file such as creds.json, a secret an example assumes) comes from the
 * explicit tables below; commands that cannot run against one dev server are listed with the
 * reason and the test that covers them instead. A command that exits non-zero fails the test.
 */

interface DocCommand { file: string; line: number; text: string }

/** `custos` command lines (continuations joined, trailing comments dropped) of a Markdown file's shell blocks. */
function commandsOf(file: string): DocCommand[] {
  const lines = readFileSync(path.join(repoRoot, file), 'utf8').split('\n');
  const out: DocCommand[] = [];
  let inShell = false;
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\w*)/.exec(lines[i]!);
    if (fence) {
      inShell = !inShell && ['sh', 'bash', 'shell', 'console'].includes(fence[1]!);
      continue;
    }
    if (!inShell) continue;
    const start = i;
    let text = lines[i]!;
    while (text.endsWith('\\') && i + 1 < lines.length) text = text.slice(0, -1) + ' ' + lines[++i]!.trim();
    text = stripComment(text).trim();
    if (/(^|[|(]\s*|\$\()custos\s/.test(text) && !text.startsWith('#')) out.push({ file, line: start + 1, text });
  }
  return out;
}

/** Drops a trailing ` # comment` outside quotes. */
function stripComment(text: string): string {
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) return text.slice(0, i);
  }
  return text;
}

/** Commands not run here, each with why and where it is covered. Keyed by a prefix of the command. */
const NOT_RUN: Record<string, string> = {
  'custos server': 'starts a server; the test talks to its own dev server (cli.test.ts, operator.test.ts start servers)',
  'custos operator init': 'the dev server initialized itself (operator.test.ts runs init on a fresh server)',
  'custos operator snapshot save /backups': 'needs PostgreSQL storage (snapshot-migrate.test.ts)',
  'custos operator snapshot restore backup.snap.gz --storage postgres': 'needs PostgreSQL storage (snapshot-migrate.test.ts)',
  'custos operator migrate': 'needs PostgreSQL storage (snapshot-migrate.test.ts)',
  'CUSTOS_ADDR=http://node-1:8420': 'a second node on PostgreSQL (multi-node.test.ts)',
  'custos login': 'interactive; logs in to https://custos.internal:8420 (inventory-login.test.ts)',
  'custos scan': 'exits 1 on findings, and this working directory holds the tour\'s secrets on purpose; scan-corpus.test.ts runs every form (--git, --since, --staged, --json, --sarif, --baseline, install-hook) in git repositories it builds',
  'custos alerts show': 'needs a firing alert id (alerts.test.ts runs show, ack and silence on real alerts)',
  'custos alerts ack': 'needs a firing alert id (alerts.test.ts)',
  'custos alerts silence': 'needs a firing alert id (alerts.test.ts)',
  'custos audit acknowledge-break': 'needs a tampered audit log (audit-tamper.test.ts)',
  'custos logout': 'would remove the dev token the remaining commands use (inventory-login.test.ts)',
  'custos request show': 'needs a request held for a non-root token (approvals.test.ts runs show, approve, deny, cancel on held requests)',
  'custos request approve': 'needs a held request and an approver other than its requester (approvals.test.ts)',
  'custos request deny': 'needs a held request and an approver (approvals.test.ts)',
  'custos request cancel': 'needs a request held for the caller (approvals.test.ts)',
  'custos database rotate-root': "would change the shared cluster's superuser password (database-postgres.test.ts rotates a dedicated admin user)",
  'custos agent': 'runs until stopped, with a config naming files on a worker node (agent.test.ts runs it with token-file and AppRole configs, agent-workloads.test.ts with JWT auto-auth and templates)',
};

/**
 * Commands not run in one file because an earlier file already ran the same step on this one
 * server (the README's tour mounts approle and github before docs/identity.md does). Keyed by
 * `file:` + a prefix of the command.
 */
const NOT_RUN_AGAIN: Record<string, string> = {
  'docs/identity.md:custos auth enable approle': 'README.md mounted it already',
  'docs/identity.md:custos auth enable jwt --path github': 'README.md mounted it already',
};

/** What the reader fills in: literal placeholder -> value (computed when first needed). */
type Resolver = (ctx: Ctx) => Promise<string> | string;
const PLACEHOLDERS: Record<string, Resolver> = {
  '<new-version-id>': async (ctx) => (await ctx.labels('prod/etl/db')).PENDING!,
  '<old-version-id>': async (ctx) => (await ctx.labels('prod/etl/db')).CURRENT!,
  '<accessor>': async (ctx) => (await api(ctx.server, 'POST', '/v1/tokens', { token: ctx.server.token, body: { policies: ['etl-read'], ttl: '1h' } })).body.accessor,
  '<key>': (ctx) => readFileSync(path.join(ctx.server.dataDir, 'unseal.key'), 'utf8').trim(),
  'AKCUJ3Q7ZK2M5XH4WR6T': async (ctx) => (await api(ctx.server, 'GET', '/v1/aws/keys', { token: ctx.server.token })).body.keys[0].access_key_id,
  // A ciphertext of docs/transit.md's example value under the key the page creates.
  'custos:v1:3kImzBQB…': async (ctx) => (await api(ctx.server, 'POST', '/v1/transit/encrypt/prod/crm/email', {
    token: ctx.server.token, body: { plaintext: Buffer.from('alice@example.com').toString('base64'), key_version: 1 },
  })).body.ciphertext,
  // Identity: the ids the reader copies from an earlier command's output.
  'rid_…': async (ctx) => (await api(ctx.server, 'GET', '/v1/auth/approle/role/airflow-worker/role-id', { token: ctx.server.token })).body.role_id,
  'sia_…': async (ctx) => (await api(ctx.server, 'POST', '/v1/auth/approle/role/airflow-worker/secret-id', { token: ctx.server.token, body: {} })).body.secret_id_accessor,
  'acc_…': async (ctx) => (await api(ctx.server, 'POST', '/v1/tokens', { token: ctx.server.token, body: { policies: ['etl-read'], ttl: '1h' } })).body.accessor,
  'AKCU…': async (ctx) => ((await api(ctx.server, 'GET', '/v1/aws/keys', { token: ctx.server.token })).body.keys as { access_key_id: string; display_name: string }[])
    .find((k) => k.display_name === 'airflow-worker-boto3')!.access_key_id,
  '/deploy/secret-id': () => 'secret-id',
  '[--length 40]': () => '--length 40',
  '[PREFIX]': () => 'prod/',
  '[-o inventory.json]': () => '-o inventory.json',
  '/run/secrets/custos-token': () => 'custos-token',
  '/etc/custos/internal-ca.pem': () => 'internal-ca.pem',
  '/opt/rotators/partner.sh': () => './partner.sh',
  '--data-dir /var/lib/custos': (ctx) => `--data-dir ${ctx.server.dataDir}`,
  '~/.dbt/profiles.yml': () => 'dbt-profiles/profiles.yml',
  // docs/database.md: the lease of credentials the page's role issues.
  'database/creds/etl-ro/…': async (ctx) => (await api(ctx.server, 'POST', '/v1/database/creds/etl-ro', { token: ctx.server.token, body: {} })).body.lease_id,
};


/** Files the examples read, in the working directory. */
const FILES: Record<string, string> = {
  'creds.json': JSON.stringify({ engine: 'postgres', host: 'db', port: 5432, dbname: 'analytics', username: 'etl', password: 'first' }),
  'creds-new.json': JSON.stringify({ engine: 'postgres', host: 'db', port: 5432, dbname: 'analytics', username: 'etl', password: 'second' }),
  'etl-read.yaml': 'rules:\n  - path: "dev/etl/**"\n    capabilities: [read, list]\n  - path: "dev/etl/admin-*"\n    deny: true\n',
  '.env.template': 'DB_PASSWORD=secret://prod/analytics-pipeline/warehouse-db#password\nMODE=batch\n',
  'ci.env': 'STRIPE_KEY=secret://prod/billing/stripe-api-key\n',
  'profiles.yml': 'analytics:\n  outputs:\n    prod:\n      password: "{{ secret://prod/analytics-pipeline/warehouse-db#password }}"\n',
  'pipeline-config.yaml': 'warehouse: "{{ secret://prod/data/warehouse?url=postgres }}"\n',
  'secrets.json': JSON.stringify([{ path: 'prod/imported/api-key', owner: 'data-eng', env: 'prod', rotation_days: 90, description: 'imported from the docs' }]),
  'values.json': JSON.stringify({ 'prod/imported/api-key': 'imported-value' }),
  'dbt-prod-role.json': JSON.stringify({
    policies: ['dbt-prod-read'], token_ttl: '15m', bound_audiences: ['https://github.com/acme'],
    bound_claims: { repository: 'acme/warehouse', ref: 'refs/heads/main', environment: 'production', event_name: ['push', 'workflow_dispatch'] },
  }),
  'eks-jwt.json': JSON.stringify({ oidc_discovery_url: 'https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE' }),
  'oidc.json': JSON.stringify({ oidc_discovery_url: 'https://idp.acme.example', oidc_client_id: 'custos', allowed_redirect_uris: ['http://localhost:8250/oidc/callback'], oidc_scopes: ['email', 'groups'] }),
  'people-role.json': JSON.stringify({ policies: ['dev-read'], user_claim: 'email', groups_claim: 'groups', group_policies: { platform: ['prod-admin'] }, bound_claims: { email_verified: 'true' }, token_ttl: '8h' }),
  'ana.password': 'correct horse battery staple\n',
  'data-eng.yaml': 'rules:\n  - path: "prod/**"\n    capabilities: [read, update, delete, stage]\n    approval: { approvers: ["group:platform"], min: 1 }\n',
  'new-creds.json': JSON.stringify({ engine: 'postgres', host: 'db', port: 5432, dbname: 'app', username: 'app', password: 'rotated' }),
  'internal-ca.pem': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
};

/** Stand-ins for the programs the examples launch: on PATH (dbt, airflow, python) and in the working directory (./deploy.sh, ./partner.sh). */
const PROGRAMS = ['dbt', 'airflow', 'python'];
const SCRIPTS = ['deploy.sh', 'partner.sh'];

/**
 * The PostgreSQL the rotation examples rotate: roles etl_a / etl_b (the README's and
 * docs/rotation.md's alternating users), the admin credential in admin.json, and $NEW (the
 * staging-label example's new value, which the tour then rotates) as etl_a's credential.
 */
async function rotationTarget(cluster: PostgresCluster): Promise<{ files: Record<string, string>; env: Record<string, string>; etl: string }> {
  const { a } = await createAlternatingUsers(cluster, 'etl');
  return { files: { 'admin.json': adminValue(cluster) }, env: { NEW: credValue(a) }, etl: credValue(a) };
}

/** Secrets and policies the examples assume exist (written through the API before the commands run). */
async function seed(server: RunningServer, target: { files: Record<string, string>; etl: string }): Promise<void> {
  const { token } = server;
  const put = async (name: string, value: string) => assert.equal((await api(server, 'POST', '/v1/secrets', { token, body: { name, value } })).status, 201, name);
  await put('prod/etl/db', JSON.stringify({ engine: 'postgres', host: '127.0.0.1', port: 5432, dbname: 'etl', username: 'etl_a', password: 'one' }));
  await put('prod/data/warehouse', JSON.stringify({ engine: 'postgres', host: 'db', port: 5432, dbname: 'wh', username: 'etl', password: 'p@ss word' }));
  await put('prod/billing/stripe-api-key', 'rk_live_docs');
  await put('prod/etl/warehouse', target.etl);
  await put('prod/warehouse-admin', target.files['admin.json']!);
  await put('prod/app/db', JSON.stringify({ engine: 'postgres', host: '127.0.0.1', port: 5432, dbname: 'app', username: 'app', password: 'x' }));
  await put('prod/partner/key', 'partner-key');
  await put('prod/vendor', 'vendor-key');
  await put('prod/warehouse/dbt', JSON.stringify({ username: 'dbt', password: 'dbt-pass' }));
  await put('prod/vendor-hook-key', 'hook-hmac-key');
  const policy = await api(server, 'PUT', '/v1/policies/pipeline-read', { token, body: { document: 'rules:\n  - path: "prod/**"\n    capabilities: [read, list]\n' } });
  assert.equal(policy.status, 200, JSON.stringify(policy.body));
}

interface Ctx { server: RunningServer; labels(name: string): Promise<Record<string, string>> }

function sh(command: string, options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<{ code: number | null; out: string }> {
  const child = spawn('bash', ['-c', command], { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out })));
}

test('every custos command in README.md and docs/*.md runs as written against a dev server', { timeout: 300_000 }, async (t) => {
  const cluster = await startPostgresCluster();
  const server = await startServer({ logLevel: 'warn' });
  t.after(async () => {
    await server.stop();
    server.cleanup();
    await cluster.stop();
  });
  const target = await rotationTarget(cluster);
  const work = path.join(server.home, 'work');
  const bin = path.join(work, 'bin');
  mkdirSync(bin, { recursive: true });
  mkdirSync(path.join(work, 'dbt-profiles'));
  for (const [name, text] of Object.entries({ ...FILES, ...target.files })) writeFileSync(path.join(work, name), text);
  for (const file of [...PROGRAMS.map((p) => path.join(bin, p)), ...SCRIPTS.map((p) => path.join(work, p))]) {
    writeFileSync(file, '#!/bin/sh\nexit 0\n');
    chmodSync(file, 0o755);
  }
  writeFileSync(path.join(work, 'custos-token'), server.token + '\n');
  await seed(server, target);

  const ctx: Ctx = {
    server,
    labels: async (name) => {
      const r = await api(server, 'GET', `/v1/versions/${name}`, { token: server.token });
      const out: Record<string, string> = {};
      for (const v of r.body.versions as { version_id: string; labels: string[] }[]) for (const l of v.labels) out[l] = v.version_id;
      return out;
    },
  };
  const env: NodeJS.ProcessEnv = {
    PATH: `${path.join(repoRoot, 'bin')}:${bin}:${process.env.PATH}`, HOME: server.home, CUSTOS_ADDR: server.address, CUSTOS_TOKEN: '', ...target.env,
  };

  const files = ['README.md', ...readdirSync(path.join(repoRoot, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
  const failures: string[] = [];
  let ran = 0;
  for (const command of files.flatMap(commandsOf)) {
    const skipped = Object.keys(NOT_RUN).find((prefix) => command.text.startsWith(prefix))
      ?? Object.keys(NOT_RUN_AGAIN).find((key) => key.startsWith(`${command.file}:`) && command.text.startsWith(key.slice(command.file.length + 1)));
    if (skipped) continue;
    let text = command.text;
    try {
      for (const [placeholder, resolve] of Object.entries(PLACEHOLDERS)) if (text.includes(placeholder)) text = text.split(placeholder).join(await resolve(ctx));
    } catch (error) {
      // A placeholder stands for what an earlier command made: if that failed, say so here too.
      failures.push(`${command.file}:${command.line}: ${command.text}\n    its placeholder could not be filled: ${(error as Error).message}`);
      continue;
    }
    const result = await sh(text, { cwd: work, env });
    ran++;
    if (result.code !== 0) failures.push(`${command.file}:${command.line}: ${command.text}\n    exit ${result.code}: ${result.out.trim().split('\n').slice(-3).join('\n    ')}`);
    // `operator seal` is the tour's last step; unseal again so the commands after it run.
    if (/custos operator seal\b/.test(text)) await api(server, 'POST', '/v1/sys/unseal', { body: { key: await PLACEHOLDERS['<key>']!(ctx) } });
  }
  t.diagnostic(`${ran} commands ran`);
  assert.ok(ran >= 40, `only ${ran} commands found: the extraction is broken`);
  assert.deepEqual(failures, []);
});

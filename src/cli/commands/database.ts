import { parseDurationSeconds } from '../../lib/duration.js';
import { createDatabaseClient, type DatabaseRoleResponse, type LeaseResponse } from '../../sdk/database-client.js';
import { apiClient, printJson, printTable } from '../context.js';

/**
 * `custos database …` and `custos lease …`: dynamic database credentials and their leases.
 * Statements given on the command line are split on `;` by the server.
 */
const client = () => createDatabaseClient(apiClient());
const csv = (value: string | undefined) => (value === undefined ? [] : value.split(',').map((s) => s.trim()).filter(Boolean));
const seconds = (value: string | undefined) => (value === undefined ? undefined : parseDurationSeconds(value));

export async function configCommand(name: string, o: { plugin: string; adminSecret: string; allowedRoles?: string; verify?: boolean; command?: string; json?: boolean }): Promise<void> {
  const c = await client().configure(name, { plugin: o.plugin, admin_secret: o.adminSecret, allowed_roles: csv(o.allowedRoles), verify: o.verify, command: o.command ? { path: o.command } : undefined });
  if (o.json) return printJson(c);
  process.stdout.write(`connection ${c.name} (${c.plugin}) configured; admin credential from secret ${c.admin_secret}; roles: ${c.allowed_roles.join(', ') || '(none)'}\n`);
}

export async function readConfigCommand(name: string, o: { json?: boolean }): Promise<void> {
  const c = await client().readConnection(name);
  if (o.json) return printJson(c);
  printTable(['FIELD', 'VALUE'], [['name', c.name], ['plugin', c.plugin], ['admin_secret', c.admin_secret], ['allowed_roles', c.allowed_roles.join(', ')], ['root_rotated_at', c.root_rotated_at]]);
}

function printRole(r: DatabaseRoleResponse): void {
  printTable(['FIELD', 'VALUE'], [
    ['name', r.name], ['connection', r.connection], ['env', r.env], ['default_ttl', r.default_ttl], ['max_ttl', r.max_ttl], ['username_template', r.username_template],
    ['creation_statements', r.creation_statements.join('; ')], ['revocation_statements', r.revocation_statements.join('; ') || '(default)'],
  ]);
}

export async function roleCommand(name: string, o: { connection: string; creationStatements?: string; revocationStatements?: string; renewStatements?: string; rollbackStatements?: string;
  usernameTemplate?: string; passwordLength?: string; defaultTtl?: string; maxTtl?: string; env?: string; json?: boolean }): Promise<void> {
  const r = await client().writeRole(name, {
    connection: o.connection, creation_statements: o.creationStatements ? [o.creationStatements] : [], revocation_statements: o.revocationStatements ? [o.revocationStatements] : undefined,
    renew_statements: o.renewStatements ? [o.renewStatements] : undefined, rollback_statements: o.rollbackStatements ? [o.rollbackStatements] : undefined,
    username_template: o.usernameTemplate, password_length: o.passwordLength ? Number(o.passwordLength) : undefined,
    default_ttl: seconds(o.defaultTtl), max_ttl: seconds(o.maxTtl), env: o.env,
  });
  if (o.json) return printJson(r);
  printRole(r);
}

export async function readRoleCommand(name: string, o: { json?: boolean }): Promise<void> {
  const r = await client().readRole(name);
  if (o.json) return printJson(r);
  printRole(r);
}

export async function credsCommand(role: string, o: { ttl?: string; json?: boolean; env?: boolean }): Promise<void> {
  const c = await client().creds(role, { ttl: seconds(o.ttl) });
  if (o.json) return printJson(c);
  if (o.env) {
    const q = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;
    process.stdout.write(`DB_USERNAME=${q(c.username)}\nDB_PASSWORD=${q(c.password)}\nCUSTOS_LEASE_ID=${q(c.lease_id)}\n`);
    return;
  }
  printTable(['FIELD', 'VALUE'], [['username', c.username], ['password', c.password], ['lease_id', c.lease_id], ['lease_duration', `${c.lease_duration}s`], ['expires_at', c.expires_at]]);
}

export async function orphansCommand(name: string, o: { drop?: boolean; json?: boolean }): Promise<void> {
  const { orphans } = await client().orphans(name, o.drop === true);
  if (o.json) return printJson(orphans);
  if (orphans.length === 0) return void process.stdout.write('no orphaned users\n');
  printTable(o.drop ? ['USER', 'ROLE', 'DROPPED', 'ERROR'] : ['USER', 'ROLE'], orphans.map((x) => (o.drop ? [x.username, x.role, String(x.dropped), x.error] : [x.username, x.role])));
  if (orphans.some((x) => x.dropped === false)) process.exitCode = 1;
}

export async function rotateRootCommand(name: string, o: { json?: boolean }): Promise<void> {
  const r = await client().rotateRoot(name);
  if (o.json) return printJson(r);
  process.stdout.write(`rotated the admin password of ${r.name}; the admin secret's CURRENT is version ${r.admin_secret_version}\n`);
}

function printLease(l: LeaseResponse): void {
  printTable(['FIELD', 'VALUE'], [['lease_id', l.lease_id], ['state', l.state], ['role', l.role], ['env', l.env], ['expires_at', l.expires_at], ['max_expires_at', l.max_expires_at], ['last_error', l.last_error]]);
}

export async function leaseRenewCommand(id: string, o: { increment?: string; json?: boolean }): Promise<void> {
  const l = await client().renewLease(id, seconds(o.increment));
  if (o.json) return printJson(l);
  printLease(l);
}

export async function leaseRevokeCommand(id: string, o: { json?: boolean }): Promise<void> {
  const l = await client().revokeLease(id);
  if (o.json) return printJson(l);
  process.stdout.write(`revoked ${l.lease_id}\n`);
}

export async function leaseRevokePrefixCommand(prefix: string, o: { json?: boolean }): Promise<void> {
  const r = await client().revokePrefix(prefix);
  if (o.json) return printJson(r);
  process.stdout.write(`${r.marked} lease(s) under ${r.prefix} marked for revocation (the server revokes them in batches)\n`);
}

export async function leaseListCommand(o: { prefix?: string; all?: boolean; json?: boolean }): Promise<void> {
  const leases: LeaseResponse[] = [];
  let after: string | undefined;
  do {
    const page = await client().listLeases({ prefix: o.prefix, after, limit: 1000, include_revoked: o.all });
    leases.push(...page.leases);
    after = page.next_after ?? undefined;
  } while (after !== undefined);
  if (o.json) return printJson(leases);
  printTable(['LEASE', 'STATE', 'EXPIRES', 'ATTEMPTS'], leases.map((l) => [l.lease_id, l.state, l.expires_at, l.revoke_attempts]));
}

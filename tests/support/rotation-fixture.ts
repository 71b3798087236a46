import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { PostgresCluster } from './postgres-cluster.js';
import { api, type RunningServer } from './custos-server.js';

/** Helpers shared by the rotation integration tests and the rotation benchmark. */

export interface PgCred {
  host: string;
  port: number;
  dbname: string;
  username: string;
  password: string;
}

/** True if the credential logs in (scram) and runs a query; false on an authentication failure. */
export async function canLogin(c: PgCred): Promise<boolean> {
  const client = new pg.Client({ host: c.host, port: c.port, database: c.dbname, user: c.username, password: c.password, connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === '28P01') return false;
    throw error;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Runs SQL as the cluster's superuser. */
export async function asSuperuser(cluster: PostgresCluster, sql: string, database = 'postgres'): Promise<void> {
  const client = new pg.Client({ host: cluster.host, port: cluster.port, database, user: cluster.superuser, password: cluster.superPassword });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Creates login roles `<prefix>_a` and `<prefix>_b` with known passwords and a database they may use. */
export async function createAlternatingUsers(cluster: PostgresCluster, prefix: string): Promise<{ dbname: string; a: PgCred; b: PgCred }> {
  const db = await cluster.createDatabase(`${prefix}_db`);
  const a = { host: cluster.host, port: cluster.port, dbname: db.database, username: `${prefix}_a`, password: `a-${Math.random().toString(36).slice(2)}` };
  const b = { ...a, username: `${prefix}_b`, password: `b-${Math.random().toString(36).slice(2)}` };
  for (const u of [a, b]) await asSuperuser(cluster, `CREATE ROLE ${u.username} LOGIN PASSWORD '${u.password}'`);
  return { dbname: db.database, a, b };
}

export const adminValue = (cluster: PostgresCluster) =>
  JSON.stringify({ engine: 'postgres', host: cluster.host, port: cluster.port, dbname: 'postgres', username: cluster.superuser, password: cluster.superPassword });

export const credValue = (c: PgCred) => JSON.stringify({ engine: 'postgres', ...c });

/** The root token of a dev server, also after a restart (then it is only in HOME). */
export function rootToken(server: Pick<RunningServer, 'token' | 'home'>): string {
  return server.token || readFileSync(path.join(server.home, '.custos', 'token'), 'utf8').trim();
}

export async function readCred(server: RunningServer, token: string, name: string, selector = ''): Promise<{ status: number; versionId?: string; cred?: PgCred; labels?: string[] }> {
  const r = await api(server, 'GET', `/v1/values/${name}${selector}`, { token });
  if (r.status !== 200) return { status: r.status };
  return { status: 200, versionId: r.body.version_id, labels: r.body.labels, cred: JSON.parse(r.body.value) as PgCred };
}

/** Version ids per label. */
export async function labelsOf(server: RunningServer, token: string, name: string): Promise<Record<string, string>> {
  const r = await api(server, 'GET', `/v1/versions/${name}`, { token });
  const out: Record<string, string> = {};
  for (const v of r.body.versions as { version_id: string; labels: string[] }[]) for (const l of v.labels) out[l] = v.version_id;
  return out;
}

/** Polls the rotation status until the latest run is no longer in flight. */
export async function waitRotationDone(server: RunningServer, token: string, name: string, timeoutMs = 30_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await api(server, 'GET', `/v1/rotation-status/${name}`, { token });
    const latest = r.body?.latest;
    if (latest && latest.status !== 'running' && latest.status !== 'rolling_back') return r.body;
    if (Date.now() > deadline) throw new Error(`rotation of ${name} did not finish: ${JSON.stringify(r.body)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

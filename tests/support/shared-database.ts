import type { TestContext } from 'node:test';
import pg from 'pg';
import { startPostgresCluster } from './postgres-cluster.js';
import type { RunningServer } from './custos-server.js';

/**
 * One throwaway PostgreSQL database for several Custos nodes, with a direct connection for
 * inspecting it and a teardown (registered on `t`) that kills every node the test started
 * (push them to `servers`) and removes the cluster.
 */
export async function sharedDatabaseForNodes(t: TestContext) {
  const cluster = await startPostgresCluster();
  const database = await cluster.createDatabase();
  const servers: RunningServer[] = [];
  const inspector = new pg.Client({ host: cluster.host, port: cluster.port, user: database.user, database: database.database, password: database.password });
  t.after(async () => {
    await inspector.end().catch(() => undefined);
    for (const s of servers) {
      await s.kill();
      s.cleanup();
    }
    await cluster.stop();
  });
  return { cluster, database, servers, inspector };
}

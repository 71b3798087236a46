import { startPostgresCluster } from '../../tests/support/postgres-cluster.js';
import { adminValue, asSuperuser, credValue } from '../../tests/support/rotation-fixture.js';
import { startDevServer, type BenchRow, type BenchSuite } from '../lib.js';

/**
 * Wall time of one complete postgres-alternating rotation (rotate-now with wait,
 * end to end through the API) and rotations per minute sustained across 100 secrets, against
 * a real PostgreSQL with SCRAM authentication.
 */
export const rotationSuite: BenchSuite = {
  name: 'rotation',
  async run(): Promise<BenchRow[]> {
    const cluster = await startPostgresCluster();
    const server = await startDevServer();
    try {
      const call = async (method: string, path: string, body?: unknown) => {
        const headers: Record<string, string> = { authorization: `Bearer ${server.token}` };
        if (body !== undefined) headers['content-type'] = 'application/json';
        const r = await fetch(server.address + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
        const data = (await r.json()) as any;
        if (r.status >= 400) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(data)}`);
        return data;
      };
      await call('POST', '/v1/secrets', { name: 'bench/pg-admin', value: adminValue(cluster) });
      const db = await cluster.createDatabase('bench_rot');
      const SECRETS = 100;
      const names: string[] = [];
      const roles: string[] = [];
      for (let i = 0; i < SECRETS; i++) {
        const a = { host: cluster.host, port: cluster.port, dbname: db.database, username: `r${i}_a`, password: `pw-a-${i}-${Date.now()}` };
        roles.push(`CREATE ROLE r${i}_a LOGIN PASSWORD '${a.password}'; CREATE ROLE r${i}_b LOGIN;`);
        names.push(`bench/db/s${i}`);
        await call('POST', '/v1/secrets', { name: names[i], value: credValue(a) });
        await call('PUT', `/v1/rotation/${names[i]}`, { settings: { rotator: 'postgres-alternating', users: [`r${i}_a`, `r${i}_b`], admin_secret: 'bench/pg-admin', settle_seconds: 0 } });
      }
      await asSuperuser(cluster, roles.join('\n'));

      // One rotation end to end (warm-up first), sequentially.
      await call('POST', `/v1/rotate/${names[0]}?wait=60`);
      const times: number[] = [];
      for (let i = 0; i < 10; i++) {
        const started = performance.now();
        const run = await call('POST', `/v1/rotate/${names[0]}?wait=60`);
        times.push(performance.now() - started);
        if (!['grace', 'succeeded'].includes(run.status)) throw new Error(`rotation failed: ${JSON.stringify(run)}`);
      }
      times.sort((x, y) => x - y);
      const rows: BenchRow[] = [{
        suite: 'rotation', case: 'one postgres-alternating rotation (API, wait)',
        metrics: { runs: times.length, 'p50 ms': Math.round(times[5]!), 'max ms': Math.round(times.at(-1)!), 'mean ms': Math.round(times.reduce((s, t) => s + t, 0) / times.length) },
      }];

      // Throughput: rotate all 100 secrets at once, twice; the engine drives up to 8 at a time.
      for (let round = 1; round <= 3; round++) {
        const started = performance.now();
        await Promise.all(names.map((n) => call('POST', `/v1/rotate/${n}?wait=300`)));
        const elapsed = performance.now() - started;
        const failed = [];
        for (const n of names) {
          const s = await call('GET', `/v1/rotation-status/${n}`);
          if (!['grace', 'succeeded'].includes(s.latest.status)) failed.push(n);
        }
        if (failed.length) throw new Error(`${failed.length} rotations failed`);
        rows.push({ suite: 'rotation', case: `100 secrets, all due at once (round ${round})`, metrics: { rotations: SECRETS, 'wall s': (elapsed / 1000).toFixed(2), 'rotations/min': Math.round((SECRETS / elapsed) * 60_000) } });
      }
      return rows;
    } finally {
      await server.stop();
      await cluster.stop();
    }
  },
};

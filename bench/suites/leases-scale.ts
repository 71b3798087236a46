import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLocalChangeBus } from '../../src/lib/change-bus.js';
import { createAuthorizer } from '../../src/services/authorizer.js';
import { openStorage } from '../../src/storage/database.js';
import { createLeaseStore } from '../../src/storage/lease-store.js';
import { createPolicyStore } from '../../src/storage/policy-store.js';
import { createLeaseManager } from '../../src/leases/lease-manager.js';
import type { BenchRow, BenchSuite } from '../lib.js';

/**
 * The lease manager at scale, in process, on a SQLite file, against a fast fake revocation
 * target (a Set standing in for a database; inside this benchmark only): issue N leases, the
 * RSS they cost, a "restart" (open the store, run the first sweep page: nothing loads them all),
 * and the time for the sweeper to revoke all of them after they expire (batches of 100, 4 at a time).
 */
const N = Number(process.env.BENCH_LEASES_SCALE ?? 100_000);
const PER_TX = 1000;

export const leasesScaleSuite: BenchSuite = {
  name: 'leases-scale',
  async run(): Promise<BenchRow[]> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'custos-bench-leases-'));
    let clock = Date.now();
    const users = new Set<string>();
    const open = async () => {
      const storage = await openStorage({ url: `sqlite:${path.join(dir, 'custos.db')}`, sqliteSynchronous: 'NORMAL' });
      const authorizer = createAuthorizer({ db: storage.db, policyStore: createPolicyStore(), changes: createLocalChangeBus() });
      const leases = createLeaseManager({ db: storage.db, store: createLeaseStore(), authorizer, now: () => clock, audit: async () => undefined, nodeId: 'bench', logger: { warn: () => undefined, error: () => undefined } });
      leases.register('fake', { async revoke(lease) { users.delete(lease.data.username!); }, resourceOf: (l) => `database:creds/${l.role}` });
      return { storage, leases };
    };
    try {
      let { storage, leases } = await open();
      global.gc?.();
      const rssBefore = process.memoryUsage().rss;
      const issueStart = performance.now();
      for (let i = 0; i < N; i += PER_TX) {
        await storage.db.transaction().execute(async (tx) => {
          for (let j = i; j < Math.min(N, i + PER_TX); j++) {
            users.add(`u${j}`);
            await leases.issue(tx, { prefix: 'database/creds/job', engine: 'fake', role: 'job', env: null, accessor: null, data: { connection: 'fake', username: `u${j}` }, ttlSeconds: 3600, maxTtlSeconds: 7200, renewable: true });
          }
        });
      }
      const issueMs = performance.now() - issueStart;
      global.gc?.();
      const rssGrowth = (process.memoryUsage().rss - rssBefore) / 1024 / 1024;
      await storage.close();

      clock += 3_601_000; // every lease is now expired
      const restartStart = performance.now();
      ({ storage, leases } = await open());
      const firstPage = await leases.sweepBatch();
      const restartMs = performance.now() - restartStart;
      const sweepStart = performance.now();
      let revoked = firstPage;
      for (let n = firstPage; n > 0; revoked += n) n = await leases.sweepBatch();
      const sweepMs = performance.now() - sweepStart;
      const left = users.size;
      const count = await createLeaseStore().countActive(storage.db, '');
      await storage.close();
      if (left !== 0 || count !== 0) throw new Error(`${left} users and ${count} leases left after the sweep`);
      return [
        { suite: 'leases-scale', case: `issue ${N} leases (fake target, ${PER_TX} per transaction)`, metrics: { leases: N, 'wall s': (issueMs / 1000).toFixed(1), 'leases/s': Math.round((N / issueMs) * 1000), 'RSS growth MB': rssGrowth.toFixed(1) } },
        { suite: 'leases-scale', case: `restart with ${N} outstanding: open + first sweep page`, metrics: { 'ms': restartMs.toFixed(0) } },
        { suite: 'leases-scale', case: `sweep ${N} expired leases`, metrics: { revoked, 'wall s': (sweepMs / 1000).toFixed(1), 'revocations/s': Math.round((revoked / sweepMs) * 1000) } },
      ];
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

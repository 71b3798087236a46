import { openStorage } from '../../src/storage/database.js';
import { startPostgresCluster, type PostgresCluster } from '../support/postgres-cluster.js';
import { storageContract } from './storage-contract.js';

let cluster: PostgresCluster | undefined;

storageContract({
  name: 'PostgreSQL',
  async open() {
    cluster = await startPostgresCluster();
    // A login role with a scram password; the URL carries no password.
    const { url, password } = await cluster.createDatabase();
    return { storage: await openStorage({ url, password }), openAnother: () => openStorage({ url, password }) };
  },
  async teardown() {
    await cluster?.stop();
  },
});

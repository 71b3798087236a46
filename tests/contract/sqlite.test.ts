import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStorage } from '../../src/storage/database.js';
import { storageContract } from './storage-contract.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'custos-contract-'));

storageContract({
  name: 'SQLite',
  async open() {
    const url = `sqlite:${path.join(dir, 'contract.db')}`;
    const storage = await openStorage({ url });
    // SQLite serves one process (one node): its "other connections" are the same handle. A second
    // better-sqlite3 handle in this process would busy-wait synchronously on the first one's lock.
    return { storage, openAnother: async () => ({ ...storage, close: async () => undefined }) };
  },
  async teardown() {
    rmSync(dir, { recursive: true, force: true });
  },
});

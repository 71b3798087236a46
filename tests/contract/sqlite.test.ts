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
    return { storage: await openStorage({ url }), openAnother: () => openStorage({ url }) };
  },
  async teardown() {
    rmSync(dir, { recursive: true, force: true });
  },
});

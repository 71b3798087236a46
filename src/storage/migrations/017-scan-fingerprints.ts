import type { Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * The scan fingerprint index: one row per (secret, labelled version, field) holding an OPRF
 * output under the keyring's fingerprint key. Never a value: a row can only be matched by a
 * string someone already has, and computing one needs the server.
 */
export function scanFingerprints(_dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.createTable('scan_fingerprints')
        .addColumn('secret_id', 'text', (c) => c.notNull())
        .addColumn('version_id', 'text', (c) => c.notNull())
        .addColumn('label', 'text', (c) => c.notNull())
        .addColumn('field', 'text', (c) => c.notNull())
        .addColumn('fingerprint', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('scan_fingerprints_pk', ['secret_id', 'label', 'field', 'fingerprint'])
        .execute();
      await db.schema.createIndex('scan_fingerprints_by_fingerprint').on('scan_fingerprints').column('fingerprint').execute();
    },
  };
}

import type { Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * A rotation run names the region of the secret it rotates, so a standalone secret outside the
 * server's default region rotates like any other. Runs recorded before this column have NULL,
 * which means the default region (the only one rotations could run in then).
 */
export function rotationRegion(_dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('rotations').addColumn('secret_region', 'text').execute();
    },
  };
}

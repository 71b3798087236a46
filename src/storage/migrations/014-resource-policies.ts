import type { Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * AWS resource policies (PutResourcePolicy): at most one JSON document per secret, removed with
 * the secret. Replicas have none of their own: they answer with their primary's.
 */
export function resourcePolicies(_dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.createTable('secret_resource_policies')
        .addColumn('secret_id', 'text', (c) => c.primaryKey().references('secrets.id').onDelete('cascade'))
        .addColumn('document', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  };
}

import type { Insertable, Selectable, Updateable } from 'kysely';
import type { Database, Dialect, Queryable } from './schema.js';

/**
 * Queries for the transit engine's keys and key versions. Material arrives and leaves as
 * barrier ciphertext only; this module never sees a key in the clear.
 */
export type TransitKeyRow = Selectable<Database['transit_keys']>;
export type TransitVersionRow = Selectable<Database['transit_key_versions']>;

export function createTransitStore(dialect: Dialect) {
  return {
    async findKey(q: Queryable, name: string): Promise<TransitKeyRow | undefined> {
      return q.selectFrom('transit_keys').selectAll().where('name', '=', name).executeTakeFirst();
    },
    /**
     * The key's row, locked for the rest of the transaction on PostgreSQL so that concurrent
     * rotations, configs and trims on several nodes apply one after another. (SQLite write
     * transactions begin IMMEDIATE and are serialized already; it has no FOR UPDATE.)
     */
    async findKeyForUpdate(q: Queryable, name: string): Promise<TransitKeyRow | undefined> {
      const query = q.selectFrom('transit_keys').selectAll().where('name', '=', name);
      return (dialect === 'postgres' ? query.forUpdate() : query).executeTakeFirst();
    },
    /** Key names in name order, starting after `after` (a name), at most `limit`. */
    async listKeys(q: Queryable, prefix: string, after: string | undefined, limit: number): Promise<TransitKeyRow[]> {
      let query = q.selectFrom('transit_keys').selectAll().orderBy('name').limit(limit);
      // Range instead of LIKE: names may contain `_`, and a range uses the primary key index.
      if (prefix !== '') query = query.where('name', '>=', prefix).where('name', '<', prefix + '\u{10FFFF}');
      if (after !== undefined) query = query.where('name', '>', after);
      return query.execute();
    },
    async insertKey(q: Queryable, row: Insertable<Database['transit_keys']>): Promise<void> {
      await q.insertInto('transit_keys').values(row).execute();
    },
    async updateKey(q: Queryable, name: string, patch: Updateable<Database['transit_keys']>): Promise<void> {
      await q.updateTable('transit_keys').set(patch).where('name', '=', name).execute();
    },
    async deleteKey(q: Queryable, name: string): Promise<void> {
      await q.deleteFrom('transit_key_versions').where('key_name', '=', name).execute();
      await q.deleteFrom('transit_keys').where('name', '=', name).execute();
    },
    async versions(q: Queryable, name: string): Promise<TransitVersionRow[]> {
      return q.selectFrom('transit_key_versions').selectAll().where('key_name', '=', name).orderBy('version').execute();
    },
    async insertVersion(q: Queryable, row: Insertable<Database['transit_key_versions']>): Promise<void> {
      await q.insertInto('transit_key_versions').values(row).execute();
    },
    async deleteVersionsBelow(q: Queryable, name: string, version: number): Promise<number> {
      const result = await q.deleteFrom('transit_key_versions').where('key_name', '=', name).where('version', '<', version).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
    async reserved(q: Queryable, name: string, version: number): Promise<number | undefined> {
      const row = await q.selectFrom('transit_key_versions').select('encryptions_reserved').where('key_name', '=', name).where('version', '=', version).executeTakeFirst();
      return row === undefined ? undefined : Number(row.encryptions_reserved);
    },
    /** Compare-and-set of a version's reservation counter; false when another writer moved it first. */
    async reserve(q: Queryable, name: string, version: number, from: number, to: number): Promise<boolean> {
      const result = await q.updateTable('transit_key_versions').set({ encryptions_reserved: to })
        .where('key_name', '=', name).where('version', '=', version).where('encryptions_reserved', '=', from).executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },
  };
}

export type TransitStore = ReturnType<typeof createTransitStore>;

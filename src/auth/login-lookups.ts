import type { Kysely } from 'kysely';
import type { ChangeBus } from '../lib/change-bus.js';
import type { AuthMountRow, AuthRoleRow, AuthStore } from '../storage/auth-store.js';
import type { Database } from '../storage/schema.js';

/** How long a mount or role row read for a login is reused: as long as the token cache's rows. */
export const LOGIN_LOOKUP_TTL_MS = 1000;
const MAX_ENTRIES = 10_000;

export type LoginLookups = ReturnType<typeof createLoginLookups>;

/**
 * The mount and role rows a stateless login (JWT) reads, kept for at most a second and dropped
 * on any `auth` change (a mount configured or disabled, a role written or deleted, here or on
 * another node), like the token cache: a change reaches this node's logins at once, and another
 * node's within a second. Only rows that exist are kept, so unknown names cannot fill it; a
 * read that started before a change is not kept. Roles whose rows a login updates (userpass's
 * lockout) are never read through it.
 */
export function createLoginLookups(deps: { db: Kysely<Database>; authStore: AuthStore; changes: ChangeBus; now: () => number }) {
  const { db, authStore, now } = deps;
  const mounts = new Map<string, { row: AuthMountRow; at: number }>();
  const roles = new Map<string, { row: AuthRoleRow; at: number }>();
  let generation = 0;
  deps.changes.subscribe((topic) => {
    if (topic !== 'auth') return;
    generation += 1;
    mounts.clear();
    roles.clear();
  });

  async function cached<R>(map: Map<string, { row: R; at: number }>, key: string, read: () => Promise<R | undefined>): Promise<R | undefined> {
    const at = now();
    const hit = map.get(key);
    if (hit && at - hit.at >= 0 && at - hit.at < LOGIN_LOOKUP_TTL_MS) return hit.row;
    const readIn = generation;
    const row = await read();
    if (row && readIn === generation) {
      if (map.size >= MAX_ENTRIES) map.clear();
      map.set(key, { row, at });
    }
    return row;
  }

  return {
    findMount: (path: string) => cached(mounts, path, () => authStore.findMount(db, path)),
    findRole: (mount: string, name: string) => cached(roles, `${mount}\u0000${name}`, () => authStore.findRole(db, mount, name)),
  };
}

/**
 * The orphan scan: database users that look like ones this engine creates (their name starts
 * with the literal prefix of a role's username template) but that no unrevoked lease stands
 * for — left by a restore of an older Custos database, a manual CREATE, or a lost write. Listing
 * is read-only; `drop` runs each user's role's revocation statements (or the plugin's default).
 * The connection's admin user is never listed.
 */
import type { DatabaseRoleRow } from '../../storage/database-store.js';

const MAX_USERS = 10_000;
const ROLE_PLACEHOLDER = /^\{\{\s*role(?:\|(\d+))?\s*\}\}/;

/**
 * What every name of a role's template starts with: its literal text and `{{role}}` expanded,
 * up to the first other placeholder ('' when it starts with one: nothing can be told apart).
 */
export function namePrefix(template: string, role: string): string {
  let out = '';
  for (let i = 0; i < template.length;) {
    if (template.startsWith('{{', i)) {
      const m = ROLE_PLACEHOLDER.exec(template.slice(i));
      if (!m) break;
      out += m[1] === undefined ? role : [...role].slice(0, Number(m[1])).join('');
      i += m[0].length;
    } else {
      out += template[i++];
    }
  }
  return out;
}

export interface OrphanScanDeps {
  roles: DatabaseRoleRow[];
  defaultTemplate: string;
  adminUser: string;
  usersWithPrefix(prefix: string, limit: number): Promise<string[]>;
  liveHandles(handles: readonly string[]): Promise<Set<string>>;
}

/** Orphans of one connection, each with the role whose template it matches (longest prefix wins). */
export async function findOrphans(deps: OrphanScanDeps): Promise<{ username: string; role: string }[]> {
  const prefixes = new Map<string, string>();
  for (const role of deps.roles) {
    const prefix = namePrefix(role.username_template ?? deps.defaultTemplate, role.name);
    if (prefix !== '' && (!prefixes.has(prefix) || role.name < prefixes.get(prefix)!)) prefixes.set(prefix, role.name);
  }
  const candidates = new Map<string, string>();
  for (const [prefix, role] of [...prefixes].sort((a, b) => a[0].length - b[0].length)) {
    for (const user of await deps.usersWithPrefix(prefix, MAX_USERS)) if (user !== deps.adminUser) candidates.set(user, role);
  }
  const live = await deps.liveHandles([...candidates.keys()]);
  return [...candidates].filter(([user]) => !live.has(user)).map(([username, role]) => ({ username, role })).sort((a, b) => a.username.localeCompare(b.username));
}

// Secrets grouped by environment (colour-coded), as a folder tree; search by name, tag or owner;
// a form to create a secret (its value goes in the POST body only).
import { useEffect, useMemo, useState } from 'react';
import { api, ApiError, query, type SecretMeta } from '../api';
import { envClass, envOf, ENVS } from '../env';
import { Link, navigate } from '../router';

interface Folder { folders: Map<string, Folder>; secrets: SecretMeta[] }

function treeOf(secrets: SecretMeta[]): Folder {
  const root: Folder = { folders: new Map(), secrets: [] };
  for (const s of secrets) {
    const parts = s.name.split('/');
    let node = root;
    for (const part of parts.slice(0, -1)) {
      let next = node.folders.get(part);
      if (!next) node.folders.set(part, (next = { folders: new Map(), secrets: [] }));
      node = next;
    }
    node.secrets.push(s);
  }
  return root;
}

// A folder's contents are rendered only while it is open, so 10,000 secrets in closed folders
// cost a few dozen DOM nodes, not tens of thousands.
function FolderNode(props: { name: string; folder: Folder; open: boolean }) {
  const [open, setOpen] = useState(props.open);
  useEffect(() => setOpen(props.open), [props.open]);
  return (
    <details open={open} onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>{props.name}/</summary>
      {open && <FolderView folder={props.folder} open={props.open} />}
    </details>
  );
}

function FolderView(props: { folder: Folder; open: boolean }) {
  return (
    <ul className="tree">
      {[...props.folder.folders].sort(([a], [b]) => a.localeCompare(b)).map(([name, sub]) => (
        <li key={name}><FolderNode name={name} folder={sub} open={props.open} /></li>
      ))}
      {props.folder.secrets.map((s) => (
        <li key={s.name} className="leaf">
          <Link to={`/ui/secret/${encodeURIComponent(s.name)}`}>{s.name.split('/').pop()}</Link>
          {s.owner && <span className="muted"> · {s.owner}</span>}
          {s.deleted_at && <span className="badge warn">deleted</span>}
        </li>
      ))}
    </ul>
  );
}

export function matches(s: SecretMeta, search: string): boolean {
  const q = search.trim().toLowerCase();
  if (!q) return true;
  if (s.name.toLowerCase().includes(q) || (s.owner ?? '').toLowerCase().includes(q) || (s.description ?? '').toLowerCase().includes(q)) return true;
  return Object.entries(s.tags).some(([k, v]) => `${k}=${v}`.toLowerCase().includes(q));
}

export function SecretsPage() {
  const [secrets, setSecrets] = useState<SecretMeta[] | null>(null);
  const [error, setError] = useState('');
  const [search, setSearch] = useState('');
  const [showDeleted, setShowDeleted] = useState(false);
  const [creating, setCreating] = useState(false);

  useEffect(() => {
    let cancelled = false;
    (async () => {
      const all: SecretMeta[] = [];
      let cursor: string | undefined;
      do {
        const page = await api<{ secrets: SecretMeta[]; next_cursor: string | null }>('GET', `/v1/secrets${query({ limit: 1000, cursor, include_deleted: showDeleted || undefined })}`);
        all.push(...page.secrets);
        cursor = page.next_cursor ?? undefined;
      } while (cursor && all.length < 50_000);
      if (!cancelled) setSecrets(all);
    })().catch((e) => !cancelled && setError(e instanceof ApiError ? `${e.code}: ${e.message}` : 'could not list secrets'));
    return () => { cancelled = true; };
  }, [showDeleted]);

  const groups = useMemo(() => {
    const byEnv = new Map<string, SecretMeta[]>();
    for (const s of secrets ?? []) {
      if (!matches(s, search)) continue;
      const env = envOf(s);
      const list = byEnv.get(env);
      if (list) list.push(s);
      else byEnv.set(env, [s]);
    }
    const order = [...ENVS, ...[...byEnv.keys()].filter((e) => !(ENVS as readonly string[]).includes(e)).sort()];
    return order.filter((e) => byEnv.has(e)).map((env) => ({ env, tree: treeOf(byEnv.get(env)!), count: byEnv.get(env)!.length }));
  }, [secrets, search]);

  return (
    <section aria-labelledby="secrets-title">
      <div className="bar">
        <h1 id="secrets-title">Secrets</h1>
        <input type="search" aria-label="Search secrets by name, tag or owner" placeholder="Search name, tag (k=v) or owner" value={search} onChange={(e) => setSearch(e.target.value)} />
        <label className="inline"><input type="checkbox" checked={showDeleted} onChange={(e) => setShowDeleted(e.target.checked)} /> deleted</label>
        <button type="button" onClick={() => setCreating(!creating)}>{creating ? 'Cancel' : 'New secret'}</button>
      </div>
      {creating && <CreateSecret />}
      {error && <p role="alert" className="error">{error}</p>}
      {secrets === null && !error && <p>Loading…</p>}
      {secrets !== null && groups.length === 0 && <p className="muted">No secrets{search ? ' match' : ''}.</p>}
      <div className="envs">
        {groups.map((g) => (
          <section key={g.env} className={envClass(g.env)} aria-label={`${g.env} secrets`}>
            <h2><span className="env-dot" />{g.env} <span className="muted">({g.count})</span></h2>
            <FolderView folder={g.tree} open={g.count <= (search ? 500 : 200)} />
          </section>
        ))}
      </div>
    </section>
  );
}

function CreateSecret() {
  const [error, setError] = useState('');
  const submit = async (event: React.FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const f = new FormData(event.currentTarget);
    const name = String(f.get('name'));
    const body: Record<string, unknown> = { name, value: String(f.get('value')) };
    for (const key of ['description', 'owner'] as const) if (f.get(key)) body[key] = String(f.get(key));
    try {
      await api('POST', '/v1/secrets', body);
      navigate(`/ui/secret/${encodeURIComponent(name)}`);
    } catch (e) {
      setError(e instanceof ApiError ? `${e.code}: ${e.message}` : 'could not create the secret');
    }
  };
  return (
    <form className="card" onSubmit={submit} aria-label="New secret">
      <label>Name<input name="name" placeholder="prod/team/service" required /></label>
      <label>Value<input name="value" type="password" autoComplete="off" required /></label>
      <label>Description<input name="description" /></label>
      <label>Owner<input name="owner" /></label>
      <button type="submit">Create</button>
      {error && <p role="alert" className="error">{error}</p>}
    </form>
  );
}

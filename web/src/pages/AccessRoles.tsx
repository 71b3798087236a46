// Auth methods and their roles on the Access page: list per mount, and create, edit or delete a
// role (AppRole roles, JWT/OIDC roles, userpass users) as JSON the server validates. A role can
// only hand out policies this session holds; the server says so when it cannot.
import { useCallback, useEffect, useState } from 'react';
import { api, errorText } from '../api';

interface Mount { path: string; type: string; description: string | null }
interface Role { name: string; policies?: string[]; env?: string | null; [field: string]: unknown }

const TEMPLATES: Record<string, object> = {
  approle: { policies: ['dev-read'], token_ttl: 3600, secret_id_ttl: 86400 },
  jwt: { policies: ['dev-read'], bound_audiences: ['custos'], user_claim: 'sub' },
  oidc: { policies: ['dev-read'], user_claim: 'email' },
  userpass: { policies: ['dev-read'], token_ttl: 3600 },
};
// What the server adds to a role it returns, and a userpass password (never sent back).
const NOT_EDITABLE = new Set(['mount', 'name', 'type', 'role_id', 'updated_at', 'password']);

function editableJson(role: Role): string {
  const fields = Object.fromEntries(Object.entries(role).filter(([k, v]) => !NOT_EDITABLE.has(k) && v !== null && v !== undefined));
  return JSON.stringify(fields, null, 2);
}

function MountRoles(props: { mount: Mount; version: number; onEdit: (role: Role) => void }) {
  const [roles, setRoles] = useState<Role[] | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    api<{ roles: Role[] }>('GET', `/v1/auth/${encodeURIComponent(props.mount.path)}/role`).then((r) => setRoles(r.roles), (e) => setError(errorText(e, 'could not list roles')));
  }, [props.mount.path, props.version]);
  if (error) return <span className="muted">{error}</span>;
  if (roles?.length === 0) return <span className="muted">none</span>;
  return (
    <>
      {(roles ?? []).map((r) => (
        <button key={r.name} type="button" className="linklike tag" title={(r.policies ?? []).join(', ')} aria-label={`Edit ${props.mount.path} role ${r.name}`} onClick={() => props.onEdit(r)}>
          {r.name}{r.env ? ` (${r.env})` : ''}
        </button>
      ))}
    </>
  );
}

export function AccessRoles() {
  const [mounts, setMounts] = useState<Mount[] | null>(null);
  const [mountsError, setMountsError] = useState('');
  const [mount, setMount] = useState('');
  const [name, setName] = useState('');
  const [text, setText] = useState('');
  const [password, setPassword] = useState('');
  const [existing, setExisting] = useState(false);
  const [version, setVersion] = useState(0);
  const [error, setError] = useState('');
  const [note, setNote] = useState('');

  useEffect(() => {
    api<{ mounts: Mount[] }>('GET', '/v1/sys/auth').then((r) => setMounts(r.mounts), (e) => setMountsError(errorText(e, 'could not list auth methods')));
  }, []);
  const typeOf = useCallback((path: string) => mounts?.find((m) => m.path === path)?.type ?? '', [mounts]);

  const edit = (m: Mount, role: Role) => {
    setError('');
    setNote('');
    setMount(m.path);
    setName(role.name);
    setText(editableJson(role));
    setPassword('');
    setExisting(true);
  };
  const startNew = (path: string) => {
    setMount(path);
    setName('');
    setText(JSON.stringify(TEMPLATES[typeOf(path)] ?? { policies: [] }, null, 2));
    setPassword('');
    setExisting(false);
  };

  const save = async (event: React.FormEvent) => {
    event.preventDefault();
    setError('');
    setNote('');
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch (e) {
      setError(`the role is not valid JSON: ${(e as Error).message}`);
      return;
    }
    if (typeOf(mount) === 'userpass') body = { ...body, password };
    try {
      await api('PUT', `/v1/auth/${encodeURIComponent(mount)}/role/${encodeURIComponent(name)}`, body);
      setNote(`saved role ${name} on ${mount}`);
      setPassword('');
      setExisting(true);
      setVersion((v) => v + 1);
    } catch (e) {
      setError(errorText(e, 'could not save the role'));
    }
  };

  const remove = async () => {
    setError('');
    setNote('');
    if (!window.confirm(`Delete role ${name} on ${mount}? Logins with it stop working.`)) return;
    try {
      await api('DELETE', `/v1/auth/${encodeURIComponent(mount)}/role/${encodeURIComponent(name)}`);
      setNote(`deleted role ${name} on ${mount}`);
      setExisting(false);
      setName('');
      setText('');
      setVersion((v) => v + 1);
    } catch (e) {
      setError(errorText(e, 'could not delete the role'));
    }
  };

  return (
    <section className="card" aria-labelledby="roles-title">
      <h2 id="roles-title">Auth methods and roles</h2>
      {mountsError ? <p className="muted">{mountsError}</p> : (
        <table aria-label="Auth methods">
          <thead><tr><th scope="col">Mount</th><th scope="col">Type</th><th scope="col">Roles / users</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {(mounts ?? []).map((m) => (
              <tr key={m.path}>
                <td>{m.path}</td><td>{m.type}</td><td><MountRoles mount={m} version={version} onEdit={(r) => edit(m, r)} /></td>
                <td><button type="button" aria-label={`New role on ${m.path}`} onClick={() => startNew(m.path)}>New role</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {error && <p role="alert" className="error">{error}</p>}
      {note && <p role="status" className="ok">{note}</p>}
      {mount && (
        <form onSubmit={save} aria-label="Role editor">
          <div className="row">
            <label>Mount<input value={mount} readOnly /></label>
            <label>Role name<input value={name} onChange={(e) => setName(e.target.value)} readOnly={existing} required pattern="[A-Za-z0-9_.@\-]+" /></label>
          </div>
          <label>Role (JSON; {typeOf(mount)} fields)<textarea rows={8} spellCheck={false} value={text} onChange={(e) => setText(e.target.value)} /></label>
          {typeOf(mount) === 'userpass' && (
            <label>Password (needed on every save; at least 12 characters)<input type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} required minLength={12} /></label>
          )}
          <div className="row">
            <button type="submit" disabled={!name}>Save role</button>
            {existing && <button type="button" className="bad" onClick={remove}>Delete role</button>}
          </div>
        </form>
      )}
    </section>
  );
}

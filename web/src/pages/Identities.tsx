// Identities on the Access page: this session's token, auth mounts and their roles, AWS access
// keys. Read-only: each list shows what the session's policies allow, and says so when refused.
import { useEffect, useState } from 'react';
import { api, ApiError, type Session } from '../api';
import { when } from '../env';

interface Mount { path: string; type: string; description: string | null }
interface Role { name: string; policies?: string[]; env?: string | null }
interface AwsKey { access_key_id: string; display_name: string; policies: string[]; env: string | null; created_at: string; expires_at: string | null; revoked: boolean }

function useLoad<T>(path: string): [T | null, string] {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    api<T>('GET', path).then(setData, (e) => setError(e instanceof ApiError ? `${e.code}: ${e.message}` : 'could not load'));
  }, [path]);
  return [data, error];
}

function Roles(props: { mount: string }) {
  const [data, error] = useLoad<{ roles: Role[] }>(`/v1/auth/${encodeURIComponent(props.mount)}/role`);
  if (error) return <span className="muted">{error}</span>;
  return <>{(data?.roles ?? []).map((r) => <span key={r.name} className="tag" title={(r.policies ?? []).join(', ')}>{r.name}{r.env ? ` (${r.env})` : ''}</span>)}</>;
}

export function Identities() {
  const [session] = useLoad<Session>('/v1/ui/session');
  const [mounts, mountsError] = useLoad<{ mounts: Mount[] }>('/v1/sys/auth');
  const [keys, keysError] = useLoad<{ keys: AwsKey[] }>('/v1/aws/keys');
  return (
    <div className="grid2">
      <div className="card">
        <h2>This session</h2>
        {session && (
          <dl className="meta">
            <dt>Token</dt><dd><code>{session.accessor}</code> ({session.display_name})</dd>
            <dt>Policies</dt><dd>{session.policies.join(', ')}</dd>
            <dt>Environment</dt><dd>{session.env ?? 'any'}</dd>
            <dt>Expires</dt><dd>{when(session.expires_at)}</dd>
          </dl>
        )}
      </div>
      <div className="card">
        <h2>Auth methods and roles</h2>
        {mountsError ? <p className="muted">{mountsError}</p> : (
          <table>
            <thead><tr><th scope="col">Mount</th><th scope="col">Type</th><th scope="col">Roles / users</th></tr></thead>
            <tbody>{(mounts?.mounts ?? []).map((m) => <tr key={m.path}><td>{m.path}</td><td>{m.type}</td><td><Roles mount={m.path} /></td></tr>)}</tbody>
          </table>
        )}
      </div>
      <div className="card">
        <h2>AWS access keys</h2>
        {keysError ? <p className="muted">{keysError}</p> : (
          <table>
            <thead><tr><th scope="col">Key id</th><th scope="col">Name</th><th scope="col">Policies</th><th scope="col">Expires</th></tr></thead>
            <tbody>{(keys?.keys ?? []).filter((k) => !k.revoked).map((k) => <tr key={k.access_key_id}><td><code>{k.access_key_id}</code></td><td>{k.display_name}</td><td>{k.policies.join(', ')}{k.env ? ` (${k.env})` : ''}</td><td>{when(k.expires_at)}</td></tr>)}</tbody>
          </table>
        )}
        {keys?.keys.length === 0 && <p className="muted">No keys.</p>}
      </div>
    </div>
  );
}

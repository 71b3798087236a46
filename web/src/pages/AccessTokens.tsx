// Tokens on the Access page: create one (policies, TTL; its secret shown once), revoke one by
// accessor. The server refuses a policy this session does not hold; the page shows why.
import { useState } from 'react';
import { api, errorText, listOf } from '../api';
import { when } from '../env';
import { OneTimeSecret } from './OneTimeSecret';

interface Made { accessor: string; display_name: string; policies: string[]; expires_at: string | null; revoked: boolean }

export function AccessTokens(props: { knownPolicies: string[] }) {
  const [policies, setPolicies] = useState('');
  const [ttl, setTtl] = useState('1h');
  const [displayName, setDisplayName] = useState('');
  const [accessor, setAccessor] = useState('');
  const [once, setOnce] = useState<{ value: string; accessor: string } | null>(null);
  const [made, setMade] = useState<Made[]>([]);
  const [error, setError] = useState('');
  const [note, setNote] = useState('');

  const create = async (event: React.FormEvent) => {
    event.preventDefault();
    setError('');
    setNote('');
    try {
      const r = await api<Made & { token: string }>('POST', '/v1/tokens', { policies: listOf(policies), ttl: ttl.trim() || undefined, display_name: displayName.trim() || undefined });
      setOnce({ value: r.token, accessor: r.accessor });
      // The list keeps what describes the token, never the token itself.
      setMade((list) => [{ accessor: r.accessor, display_name: r.display_name, policies: r.policies, expires_at: r.expires_at, revoked: false }, ...list]);
    } catch (e) {
      setError(errorText(e, 'could not create the token'));
    }
  };

  const revoke = async (target: string) => {
    setError('');
    setNote('');
    if (!window.confirm(`Revoke token ${target} and every token it created?`)) return;
    try {
      const r = await api<{ revoked: string[] }>('POST', '/v1/tokens/revoke', { accessor: target });
      setNote(`revoked ${r.revoked.length} token(s)`);
      setMade((list) => list.map((t) => (r.revoked.includes(t.accessor) ? { ...t, revoked: true } : t)));
      setAccessor('');
    } catch (e) {
      setError(errorText(e, 'could not revoke the token'));
    }
  };

  return (
    <section className="card" aria-labelledby="tokens-title">
      <h2 id="tokens-title">Tokens</h2>
      <p className="muted">A token made here is a child of this browser session: it carries only policies the session holds, and it ends when you log out or the session expires.</p>
      {error && <p role="alert" className="error">{error}</p>}
      {note && <p role="status" className="ok">{note}</p>}
      <form className="row" aria-label="Create a token" onSubmit={create}>
        <label>Policies (comma-separated)<input value={policies} onChange={(e) => setPolicies(e.target.value)} list="known-policies" required /></label>
        <label>TTL<input value={ttl} onChange={(e) => setTtl(e.target.value)} placeholder="1h" size={6} /></label>
        <label>Display name<input value={displayName} onChange={(e) => setDisplayName(e.target.value)} /></label>
        <button type="submit">Create token</button>
        <datalist id="known-policies">{props.knownPolicies.map((p) => <option key={p} value={p} />)}</datalist>
      </form>
      {once && (
        <OneTimeSecret title="New token" value={once.value} onClose={() => setOnce(null)}>
          <p>Accessor (names it for lookup and revocation; not a secret): <code>{once.accessor}</code></p>
        </OneTimeSecret>
      )}
      {made.length > 0 && (
        <table aria-label="Tokens made here">
          <thead><tr><th scope="col">Accessor</th><th scope="col">Name</th><th scope="col">Policies</th><th scope="col">Expires</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {made.map((t) => (
              <tr key={t.accessor}>
                <td><code>{t.accessor}</code></td><td>{t.display_name}</td><td>{t.policies.join(', ')}</td><td>{when(t.expires_at)}</td>
                <td>{t.revoked ? 'revoked' : <button type="button" className="bad" aria-label={`Revoke ${t.accessor}`} onClick={() => revoke(t.accessor)}>Revoke</button>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form className="row" aria-label="Revoke a token" onSubmit={(e) => { e.preventDefault(); void revoke(accessor.trim()); }}>
        <label>Accessor<input value={accessor} onChange={(e) => setAccessor(e.target.value)} placeholder="acc_…" required pattern="acc_[A-Za-z0-9_\-]+" /></label>
        <button type="submit" className="bad">Revoke token</button>
      </form>
    </section>
  );
}

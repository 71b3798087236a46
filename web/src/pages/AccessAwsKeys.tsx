// AWS access keys (SigV4, for the AWS-compatible API) on the Access page: list, create (the
// secret key shown once) and revoke. A key carries only policies the session holds.
import { useCallback, useEffect, useState } from 'react';
import { api, errorText, listOf } from '../api';
import { when } from '../env';
import { OneTimeSecret } from './OneTimeSecret';

interface AwsKey { access_key_id: string; display_name: string; policies: string[]; env: string | null; created_at: string; expires_at: string | null; revoked: boolean }

export function AccessAwsKeys(props: { knownPolicies: string[] }) {
  const [keys, setKeys] = useState<AwsKey[] | null>(null);
  const [policies, setPolicies] = useState('');
  const [ttl, setTtl] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [once, setOnce] = useState<{ value: string; id: string } | null>(null);
  const [error, setError] = useState('');
  const [note, setNote] = useState('');

  const load = useCallback(() => {
    api<{ keys: AwsKey[] }>('GET', '/v1/aws/keys').then((r) => setKeys(r.keys), (e) => setError(errorText(e, 'could not list keys')));
  }, []);
  useEffect(load, [load]);

  const create = async (event: React.FormEvent) => {
    event.preventDefault();
    setError('');
    setNote('');
    try {
      const r = await api<AwsKey & { secret_access_key: string }>('POST', '/v1/aws/keys', { policies: listOf(policies), ttl: ttl.trim() || undefined, display_name: displayName.trim() || undefined });
      setOnce({ value: r.secret_access_key, id: r.access_key_id });
      load();
    } catch (e) {
      setError(errorText(e, 'could not create the key'));
    }
  };

  const revoke = async (id: string) => {
    setError('');
    setNote('');
    if (!window.confirm(`Revoke AWS access key ${id}? Clients using it stop working.`)) return;
    try {
      await api('POST', '/v1/aws/keys/revoke', { access_key_id: id });
      setNote(`revoked ${id}`);
      load();
    } catch (e) {
      setError(errorText(e, 'could not revoke the key'));
    }
  };

  const live = (keys ?? []).filter((k) => !k.revoked);
  return (
    <section className="card" aria-labelledby="aws-keys-title">
      <h2 id="aws-keys-title">AWS access keys</h2>
      {error && <p role="alert" className="error">{error}</p>}
      {note && <p role="status" className="ok">{note}</p>}
      <form className="row" aria-label="Create an AWS access key" onSubmit={create}>
        <label>Policies (comma-separated)<input value={policies} onChange={(e) => setPolicies(e.target.value)} list="known-policies-aws" required /></label>
        <label>TTL<input value={ttl} onChange={(e) => setTtl(e.target.value)} placeholder="30d" size={6} /></label>
        <label>Display name<input value={displayName} onChange={(e) => setDisplayName(e.target.value)} /></label>
        <button type="submit">Create key</button>
        <datalist id="known-policies-aws">{props.knownPolicies.map((p) => <option key={p} value={p} />)}</datalist>
      </form>
      {once && (
        <OneTimeSecret title="New AWS secret access key" value={once.value} onClose={() => setOnce(null)}>
          <p>Access key id: <code>{once.id}</code></p>
        </OneTimeSecret>
      )}
      {keys !== null && (
        <table aria-label="AWS access keys">
          <thead><tr><th scope="col">Key id</th><th scope="col">Name</th><th scope="col">Policies</th><th scope="col">Expires</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {live.map((k) => (
              <tr key={k.access_key_id}>
                <td><code>{k.access_key_id}</code></td><td>{k.display_name}</td><td>{k.policies.join(', ')}{k.env ? ` (${k.env})` : ''}</td><td>{when(k.expires_at)}</td>
                <td><button type="button" className="bad" aria-label={`Revoke ${k.access_key_id}`} onClick={() => revoke(k.access_key_id)}>Revoke</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {keys !== null && live.length === 0 && <p className="muted">No keys.</p>}
    </section>
  );
}

// One secret: metadata, tags, versions and labels, reveal, new version, label moves (confirmed),
// delete and restore, and the reference and `custos run` snippet to copy.
import { useCallback, useEffect, useState } from 'react';
import { api, ApiError, enc, type SecretMeta, type Version } from '../api';
import { envClass, envOf, when } from '../env';
import { Link } from '../router';
import { CopyText, Reveal } from './Reveal';

type Described = SecretMeta & { versions: Version[] };

export function SecretPage(props: { name: string }) {
  const [secret, setSecret] = useState<Described | null>(null);
  const [error, setError] = useState('');
  const [message, setMessage] = useState('');

  const load = useCallback(() => {
    api<Described>('GET', `/v1/secrets/${enc(props.name)}`).then(setSecret, (e) => setError(e instanceof ApiError ? `${e.code}: ${e.message}` : 'could not load'));
  }, [props.name]);
  useEffect(load, [load]);

  const act = async (what: string, run: () => Promise<unknown>) => {
    setError('');
    setMessage('');
    try {
      await run();
      setMessage(what);
      load();
    } catch (e) {
      setError(e instanceof ApiError ? `${e.code}: ${e.message}` : `${what} failed`);
    }
  };

  if (!secret) return <section>{error ? <p role="alert" className="error">{error}</p> : <p>Loading…</p>}</section>;
  const env = envOf(secret);
  const envVar = (secret.name.split('/').pop() ?? 'VALUE').toUpperCase().replace(/[^A-Z0-9]/g, '_');

  return (
    <section aria-labelledby="secret-title">
      <p><Link to="/ui/secrets">← Secrets</Link></p>
      <h1 id="secret-title"><span className={envClass(env)}><span className="env-dot" />{env}</span> {secret.name}</h1>
      {error && <p role="alert" className="error">{error}</p>}
      {message && <p role="status" className="ok">{message}</p>}
      <div className="grid2">
        <dl className="card meta">
          <dt>Description</dt><dd>{secret.description ?? '—'}</dd>
          <dt>Owner</dt><dd>{secret.owner ?? '—'}</dd>
          <dt>Created</dt><dd>{when(secret.created_at)}</dd>
          <dt>Updated</dt><dd>{when(secret.updated_at)}</dd>
          <dt>Last read</dt><dd>{when(secret.last_accessed_at)}</dd>
          <dt>Last rotated</dt><dd>{when(secret.last_rotated_at)}</dd>
          <dt>Tags</dt><dd>{Object.entries(secret.tags).map(([k, v]) => <span key={k} className="tag">{k}={v}</span>)}{Object.keys(secret.tags).length === 0 && '—'}</dd>
          {secret.deleted_at && <><dt>Deleted</dt><dd>{when(secret.deleted_at)} (purged {when(secret.deletion_date)})</dd></>}
        </dl>
        <div className="card">
          <h2>Use it</h2>
          <p>Current value: <Reveal name={secret.name} /></p>
          <p>Reference: <CopyText label="reference" text={`secret://${secret.name}`} /></p>
          <p>Run: <CopyText label="run snippet" text={`custos run --env ${envVar}='secret://${secret.name}' -- your-command`} /></p>
        </div>
      </div>

      <h2>Versions</h2>
      <table>
        <thead><tr><th scope="col">Version</th><th scope="col">Labels</th><th scope="col">Created</th><th scope="col">Value</th></tr></thead>
        <tbody>
          {secret.versions.map((v) => (
            <tr key={v.version_id}>
              <td><code>{v.version_id}</code></td>
              <td>{v.labels.map((l) => <span key={l} className="tag">{l}</span>)}</td>
              <td>{when(v.created_at)}</td>
              <td><Reveal name={secret.name} versionId={v.version_id} /></td>
            </tr>
          ))}
        </tbody>
      </table>

      <div className="grid2">
        <NewVersion onSave={(value) => act('new version saved', () => api('POST', `/v1/values/${enc(secret.name)}`, { value }))} />
        <MoveLabel versions={secret.versions} onMove={(label, to, from) => act(`label ${label} moved`, () => api('POST', `/v1/labels/${enc(secret.name)}`, { label, move_to_version_id: to, ...(from ? { remove_from_version_id: from } : {}) }))} />
      </div>
      <div className="danger">
        {secret.deleted_at
          ? <button type="button" onClick={() => act('restored', () => api('POST', `/v1/restore/${enc(secret.name)}`))}>Restore</button>
          : <button type="button" className="bad" onClick={() => window.confirm(`Delete ${secret.name}? It can be restored during its recovery window.`) && act('scheduled for deletion', () => api('DELETE', `/v1/secrets/${enc(secret.name)}`))}>Delete…</button>}
      </div>
    </section>
  );
}

function NewVersion(props: { onSave: (value: string) => void }) {
  return (
    <form className="card" aria-label="New version" onSubmit={(e) => {
      e.preventDefault();
      const input = e.currentTarget.elements.namedItem('value') as HTMLInputElement;
      props.onSave(input.value);
      input.value = '';
    }}>
      <h2>New version</h2>
      <label>Value<input name="value" type="password" autoComplete="off" required /></label>
      <button type="submit">Save version</button>
    </form>
  );
}

function MoveLabel(props: { versions: Version[]; onMove: (label: string, to: string, from: string | undefined) => void }) {
  return (
    <form className="card" aria-label="Move label" onSubmit={(e) => {
      e.preventDefault();
      const f = new FormData(e.currentTarget);
      const label = String(f.get('label')).trim();
      const to = String(f.get('to'));
      const from = props.versions.find((v) => v.labels.includes(label) && v.version_id !== to)?.version_id;
      if (window.confirm(`Move ${label} to ${to}${from ? ` (from ${from})` : ''}?`)) props.onMove(label, to, from);
    }}>
      <h2>Move a label</h2>
      <label>Label<input name="label" defaultValue="CURRENT" required /></label>
      <label>To version<select name="to">{props.versions.map((v) => <option key={v.version_id} value={v.version_id}>{v.version_id}</option>)}</select></label>
      <button type="submit">Move…</button>
    </form>
  );
}

// Access: policies with an editor (YAML or JSON, validated by the server on save) and a check
// of which loaded policies grant what on a path; plus tokens, AWS keys and auth roles (Identities).
import { useCallback, useEffect, useState } from 'react';
import { api, ApiError } from '../api';
import { Identities } from './Identities';

interface Rule { path: string; capabilities?: string[]; deny?: boolean }
interface Policy { name: string; document: string; rules: Rule[] }
const message = (e: unknown, fallback: string) => (e instanceof ApiError ? `${e.code}: ${e.message}` : fallback);

/** The server's glob: `*` within a segment, `**` across segments. */
export function globMatches(pattern: string, path: string): boolean {
  const re = pattern.split('**').map((part) => part.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')).join('.*');
  return new RegExp(`^${re}$`).test(path);
}

export function AccessPage() {
  const [names, setNames] = useState<string[]>([]);
  const [policy, setPolicy] = useState<Policy | null>(null);
  const [text, setText] = useState('');
  const [newName, setNewName] = useState('');
  const [error, setError] = useState('');
  const [note, setNote] = useState('');
  const [probe, setProbe] = useState('');
  const [all, setAll] = useState<Policy[]>([]);

  const list = useCallback(async () => {
    try {
      const r = await api<{ policies: string[] }>('GET', '/v1/policies');
      setNames(r.policies);
    } catch (e) {
      setError(message(e, 'could not list policies'));
    }
  }, []);
  useEffect(() => { void list(); }, [list]);

  const open = async (name: string) => {
    setError('');
    setNote('');
    try {
      const p = await api<Policy>('GET', `/v1/policies/${encodeURIComponent(name)}`);
      setPolicy(p);
      setNewName(p.name);
      setText(p.document);
    } catch (e) {
      setError(message(e, 'could not read the policy'));
    }
  };

  const save = async (event: React.FormEvent) => {
    event.preventDefault();
    setError('');
    setNote('');
    try {
      const saved = await api<{ name: string; rules: Rule[] }>('PUT', `/v1/policies/${encodeURIComponent(newName)}`, { document: text });
      setNote(`saved ${saved.name}: ${saved.rules.length} rule(s)`);
      setPolicy({ name: saved.name, document: text, rules: saved.rules });
      await list();
    } catch (e) {
      setError(message(e, 'could not save'));
    }
  };

  const simulate = async (event: React.FormEvent) => {
    event.preventDefault();
    try {
      setAll(await Promise.all(names.filter((n) => n !== 'root').map((n) => api<Policy>('GET', `/v1/policies/${encodeURIComponent(n)}`))));
    } catch (e) {
      setError(message(e, 'could not read policies'));
    }
  };
  const verdicts = all.map((p) => {
    const hits = p.rules.filter((r) => globMatches(r.path, probe));
    return { name: p.name, deny: hits.some((r) => r.deny), caps: [...new Set(hits.flatMap((r) => r.capabilities ?? []))] };
  }).filter((v) => v.deny || v.caps.length > 0);

  return (
    <section aria-labelledby="access-title">
      <h1 id="access-title">Access</h1>
      {error && <p role="alert" className="error">{error}</p>}
      {note && <p role="status" className="ok">{note}</p>}
      <div className="grid2">
        <div className="card">
          <h2>Policies</h2>
          <ul className="plain">{names.map((n) => <li key={n}><button type="button" className="linklike" onClick={() => open(n)}>{n}</button></li>)}</ul>
          <button type="button" onClick={() => { setPolicy(null); setNewName(''); setText('rules:\n  - path: "dev/**"\n    capabilities: [read, list]\n'); }}>New policy</button>
        </div>
        <form className="card" onSubmit={save} aria-label="Policy editor">
          <label>Name<input value={newName} onChange={(e) => setNewName(e.target.value)} required pattern="[A-Za-z0-9_.\-]+" /></label>
          <label>Document (YAML or JSON)<textarea rows={14} spellCheck={false} value={text} onChange={(e) => setText(e.target.value)} /></label>
          <button type="submit" disabled={!newName}>Save policy</button>
          {policy && <p className="muted">{policy.rules.length} rule(s) in force.</p>}
        </form>
      </div>
      <form className="card" onSubmit={simulate} aria-label="Who can access a path">
        <h2>Which policies grant what on a path?</h2>
        <label>Path<input value={probe} onChange={(e) => setProbe(e.target.value)} placeholder="prod/data/warehouse" required /></label>
        <button type="submit">Check</button>
        {all.length > 0 && (
          <ul className="plain">
            {verdicts.length === 0 && <li>No policy grants anything on this path (default deny).</li>}
            {verdicts.map((v) => <li key={v.name}><strong>{v.name}</strong>: {v.deny ? 'deny (wins)' : v.caps.join(', ')}</li>)}
          </ul>
        )}
      </form>
      <Identities knownPolicies={names} />
    </section>
  );
}

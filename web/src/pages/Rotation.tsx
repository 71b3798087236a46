// Rotation: an overview of configured secrets (failing, overdue, due), and for one secret its settings
// (JSON, validated by the server), history of runs, and "rotate now" with progress by polling.
import { useCallback, useEffect, useRef, useState } from 'react';
import { api, ApiError, enc } from '../api';
import { when } from '../env';

interface Overview {
  secret: string; rotator: string; last_rotated_at: string | null; next_due_at: string | null; overdue: boolean;
  failing: 'failed' | 'rolling_back' | 'retrying' | 'stuck' | null; error: string | null; failing_since: string | null;
}
type Filter = 'all' | 'failing' | 'overdue' | 'due';
const FAILING_TEXT = { failed: 'failed', rolling_back: 'rolling back', retrying: 'retrying', stuck: 'stuck' } as const;
/** Failing first: it needs a person; then overdue, then due (its time has come, the scheduler will start it). */
function stateOf(r: Overview, now: number): Exclude<Filter, 'all'> | 'scheduled' | 'manual' {
  if (r.failing) return 'failing';
  if (r.overdue) return 'overdue';
  if (r.next_due_at && Date.parse(r.next_due_at) <= now) return 'due';
  return r.next_due_at ? 'scheduled' : 'manual';
}
interface Run { id: string; step: string; status: string; attempts: number; error: string | null; trigger: string; started_at: string | null; updated_at: string | null; finished_at: string | null }
interface Status { secret: string; settings: Record<string, unknown> | null; last_rotated_at: string | null; next_due_at: string | null; overdue: boolean; latest: Run | null }

const TEMPLATE = JSON.stringify({ rotator: 'command', command: { path: '/opt/rotators/rotate.sh' }, every_seconds: 2592000 }, null, 2);
const ACTIVE = new Set(['running', 'rolling_back']);
const STEPS = ['create', 'set', 'test', 'finish'];
const duration = (r: Run) => (r.started_at && (r.finished_at ?? r.updated_at) ? `${((Date.parse(r.finished_at ?? r.updated_at!) - Date.parse(r.started_at)) / 1000).toFixed(1)} s` : '—');
const message = (e: unknown, fallback: string) => (e instanceof ApiError ? `${e.code}: ${e.message}` : fallback);

export function RotationPage() {
  const [rows, setRows] = useState<Overview[] | null>(null);
  const [selected, setSelected] = useState('');
  const [error, setError] = useState('');
  const [filter, setFilter] = useState<Filter>('all');
  const reload = useCallback(() => {
    api<{ secrets: Overview[] }>('GET', '/v1/rotations?limit=5000').then((r) => setRows(r.secrets), (e) => setError(message(e, 'could not list rotations')));
  }, []);
  useEffect(reload, [reload]);
  const now = Date.now();

  return (
    <section aria-labelledby="rotation-title">
      <div className="bar">
        <h1 id="rotation-title">Rotation</h1>
        <form className="inline" aria-label="Open a secret's rotation" onSubmit={(e) => { e.preventDefault(); setSelected(String(new FormData(e.currentTarget).get('name')).trim()); }}>
          <input name="name" aria-label="Secret name" placeholder="secret name" />
          <button type="submit">Open</button>
        </form>
      </div>
      {error && <p role="alert" className="error">{error}</p>}
      <div className="tabs" role="group" aria-label="Show rotations">
        {(['all', 'failing', 'overdue', 'due'] as const).map((f) => (
          <button key={f} type="button" aria-pressed={filter === f} onClick={() => setFilter(f)}>
            {f}{f === 'all' ? '' : ` (${(rows ?? []).filter((r) => stateOf(r, now) === f).length})`}
          </button>
        ))}
      </div>
      <table aria-label="Rotation overview">
        <thead><tr><th scope="col">Secret</th><th scope="col">Rotator</th><th scope="col">Last rotated</th><th scope="col">Next due</th><th scope="col">State</th><th scope="col">Error</th></tr></thead>
        <tbody>
          {(rows ?? []).filter((r) => filter === 'all' || stateOf(r, now) === filter).map((r) => {
            const state = stateOf(r, now);
            return (
              <tr key={r.secret} className={state === 'failing' ? 'outcome-failure' : ''}>
                <td><button type="button" className="linklike" onClick={() => setSelected(r.secret)}>{r.secret}</button></td>
                <td>{r.rotator}</td><td>{when(r.last_rotated_at)}</td><td>{when(r.next_due_at)}</td>
                <td data-testid="rotation-state">
                  {state === 'failing' && <span className="badge bad">failing: {FAILING_TEXT[r.failing!]}</span>}
                  {state === 'overdue' && <span className="badge bad">overdue</span>}
                  {state === 'due' && <span className="badge warn">due</span>}
                  {state === 'scheduled' && <span className="badge good">scheduled</span>}
                  {state === 'manual' && <span className="badge">by hand</span>}
                  {r.failing && r.overdue && <span className="badge bad">overdue</span>}
                </td>
                <td>{r.error ?? ''}{r.failing_since && <span className="muted"> (since {when(r.failing_since)})</span>}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {rows?.length === 0 && <p className="muted">No secret has rotation configured.</p>}
      {selected && <SecretRotation key={selected} name={selected} onChange={reload} />}
    </section>
  );
}

function SecretRotation(props: { name: string; onChange: () => void }) {
  const [status, setStatus] = useState<Status | null>(null);
  const [history, setHistory] = useState<Run[]>([]);
  const [text, setText] = useState('');
  const [error, setError] = useState('');
  const [note, setNote] = useState('');
  const timer = useRef<number | undefined>(undefined);

  const load = useCallback(async () => {
    const [s, h] = await Promise.all([
      api<Status>('GET', `/v1/rotation-status/${enc(props.name)}`),
      api<{ rotations: Run[] }>('GET', `/v1/rotation-history/${enc(props.name)}?limit=20`),
    ]);
    setStatus(s);
    setHistory(h.rotations);
    return s;
  }, [props.name]);

  useEffect(() => {
    // What the user typed before the settings arrived is kept, not replaced by them.
    load().then((s) => setText((typed) => typed || (s.settings ? JSON.stringify(s.settings, null, 2) : TEMPLATE)), (e) => setError(message(e, 'could not load')));
    return () => window.clearTimeout(timer.current);
  }, [load]);

  const poll = useCallback(() => {
    timer.current = window.setTimeout(async () => {
      try {
        const s = await load();
        if (s.latest && ACTIVE.has(s.latest.status)) poll();
        else props.onChange();
      } catch (e) {
        setError(message(e, 'lost track of the rotation'));
      }
    }, 1000);
  }, [load, props]);

  const save = async (event: React.FormEvent) => {
    event.preventDefault();
    setError('');
    setNote('');
    let settings: unknown;
    try {
      settings = text.trim() === '' ? null : JSON.parse(text);
    } catch (e) {
      setError(`settings are not valid JSON: ${(e as Error).message}`);
      return;
    }
    try {
      await api('PUT', `/v1/rotation/${enc(props.name)}`, { settings });
      setNote('settings saved');
      await load();
      props.onChange();
    } catch (e) {
      setError(message(e, 'could not save'));
    }
  };

  const rotate = async () => {
    setError('');
    setNote('');
    try {
      await api('POST', `/v1/rotate/${enc(props.name)}`);
      await load();
      poll();
    } catch (e) {
      setError(message(e, 'could not start the rotation'));
    }
  };

  const latest = status?.latest;
  return (
    <section className="card" aria-label={`Rotation of ${props.name}`}>
      <h2>{props.name}</h2>
      {error && <p role="alert" className="error">{error}</p>}
      {note && <p role="status" className="ok">{note}</p>}
      <div className="grid2">
        <form onSubmit={save} aria-label="Rotation settings">
          <label>Settings (JSON; empty clears)<textarea name="settings" rows={10} spellCheck={false} value={text} onChange={(e) => setText(e.target.value)} /></label>
          <button type="submit">Save settings</button>
        </form>
        <div>
          <p>Last rotated: {when(status?.last_rotated_at)} · next due: {when(status?.next_due_at)} {status?.overdue && <span className="badge bad">overdue</span>}</p>
          <button type="button" onClick={rotate} disabled={!status?.settings || (latest ? ACTIVE.has(latest.status) : false)}>Rotate now</button>
          {latest && (
            <div className="progress" data-testid="rotation-progress" aria-live="polite">
              <ol className="steps">
                {STEPS.map((step) => {
                  const at = STEPS.indexOf(latest.step);
                  const i = STEPS.indexOf(step);
                  const state = latest.status === 'succeeded' || latest.status === 'grace' || i < at ? 'done' : i === at ? (ACTIVE.has(latest.status) ? 'now' : latest.status === 'failed' ? 'failed' : 'done') : 'todo';
                  return <li key={step} className={`step-${state}`}>{step}</li>;
                })}
              </ol>
              <p>Latest run: <strong data-testid="rotation-status">{latest.status}</strong> at {latest.step} ({duration(latest)}){latest.error && <span className="error"> — {latest.error}</span>}</p>
            </div>
          )}
        </div>
      </div>
      <h3>History</h3>
      <table>
        <thead><tr><th scope="col">Started</th><th scope="col">Trigger</th><th scope="col">Step</th><th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">Duration</th><th scope="col">Error</th></tr></thead>
        <tbody>
          {history.map((r) => (
            <tr key={r.id}><td>{when(r.started_at)}</td><td>{r.trigger}</td><td>{r.step}</td><td>{r.status}</td><td>{r.attempts}</td><td>{duration(r)}</td><td>{r.error ?? ''}</td></tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

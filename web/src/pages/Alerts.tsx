// Alerts inbox: firing and resolved alerts, acknowledge, silence for a while.
import { useCallback, useEffect, useState } from 'react';
import { api, ApiError, query } from '../api';
import { when } from '../env';

interface Alert { id: string; rule: string; status: string; severity: string; principal: string | null; secret: string | null; summary: string; occurrences: number; fired_at: string; last_seen_at: string; acked_at: string | null; acked_by: string | null }
const message = (e: unknown, fallback: string) => (e instanceof ApiError ? `${e.code}: ${e.message}` : fallback);

export function AlertsPage() {
  const [status, setStatus] = useState<'' | 'firing' | 'resolved'>('firing');
  const [alerts, setAlerts] = useState<Alert[] | null>(null);
  const [error, setError] = useState('');
  const load = useCallback(() => {
    api<{ alerts: Alert[] }>('GET', `/v1/alerts${query({ status: status || undefined, limit: 200 })}`).then((r) => setAlerts(r.alerts), (e) => setError(message(e, 'could not list alerts')));
  }, [status]);
  useEffect(load, [load]);

  const act = async (run: () => Promise<unknown>) => {
    setError('');
    try {
      await run();
      load();
    } catch (e) {
      setError(message(e, 'failed'));
    }
  };

  return (
    <section aria-labelledby="alerts-title">
      <div className="bar">
        <h1 id="alerts-title">Alerts</h1>
        <label>Status<select value={status} onChange={(e) => setStatus(e.target.value as typeof status)}><option value="firing">firing</option><option value="resolved">resolved</option><option value="">all</option></select></label>
      </div>
      {error && <p role="alert" className="error">{error}</p>}
      <table>
        <thead><tr><th scope="col">Severity</th><th scope="col">Rule</th><th scope="col">Summary</th><th scope="col">Secret</th><th scope="col">Fired</th><th scope="col">Seen</th><th scope="col">Acknowledged</th><th scope="col">Actions</th></tr></thead>
        <tbody>
          {(alerts ?? []).map((a) => (
            <tr key={a.id}>
              <td><span className={`badge sev-${a.severity}`}>{a.severity}</span></td><td>{a.rule}</td><td>{a.summary}</td><td>{a.secret ?? ''}</td>
              <td>{when(a.fired_at)}</td><td>{a.occurrences}× · {when(a.last_seen_at)}</td><td>{a.acked_at ? `${when(a.acked_at)} by ${a.acked_by ?? '?'}` : '—'}</td>
              <td>
                {!a.acked_at && <button type="button" onClick={() => act(() => api('POST', `/v1/alerts/${a.id}/ack`))}>Ack</button>}
                <select aria-label={`Silence ${a.id}`} defaultValue="" onChange={(e) => { const d = e.target.value; e.target.value = ''; if (d) void act(() => api('POST', `/v1/alerts/${a.id}/silence`, { duration: d })); }}>
                  <option value="">Silence…</option><option value="1h">1 hour</option><option value="4h">4 hours</option><option value="1d">1 day</option><option value="7d">7 days</option>
                </select>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {alerts?.length === 0 && <p className="muted">No {status} alerts.</p>}
    </section>
  );
}

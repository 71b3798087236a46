// The audit log: filters (since, principal, secret, operation, outcome), pages of events by
// sequence number, the chain's verify status with the signed checkpoints, and a CSV of the page shown.
import { useCallback, useEffect, useState } from 'react';
import { api, ApiError, query } from '../api';
import { when } from '../env';
import { AuditCheckpoints } from './AuditCheckpoints';

interface AuditEvent {
  seq: number; time: string; request_id: string; accessor: string | null; source: string; operation: string; secret: string | null;
  version_id: string | null; outcome: string; error_code: string | null; status: number; detail: Record<string, unknown> | null;
}
interface Filters { since: string; principal: string; secret: string; operation: string; outcome: string; order: 'asc' | 'desc' }
interface Verify { ok: boolean; checked: number; first_seq: number | null; last_seq: number | null; problem: unknown; tampered: boolean }

const PAGE = 50;
const EMPTY: Filters = { since: '', principal: '', secret: '', operation: '', outcome: '', order: 'desc' };

const csvCell = (v: unknown) => {
  const s = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

export function AuditPage() {
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [afterSeq, setAfterSeq] = useState<number[]>([]);
  const [events, setEvents] = useState<AuditEvent[] | null>(null);
  const [error, setError] = useState('');
  const [verify, setVerify] = useState<Verify | null>(null);
  const [checkpointKey, setCheckpointKey] = useState<{ fingerprint: string; algorithm: string } | null>(null);
  const [verifications, setVerifications] = useState(0);

  const load = useCallback(async () => {
    setError('');
    try {
      const after = afterSeq[afterSeq.length - 1];
      const r = await api<{ events: AuditEvent[] }>('GET', `/v1/audit/events${query({
        since: filters.since, principal: filters.principal, secret: filters.secret, operation: filters.operation, outcome: filters.outcome,
        order: after === undefined ? filters.order : 'asc', after_seq: after, limit: PAGE,
      })}`);
      setEvents(r.events);
    } catch (e) {
      setError(e instanceof ApiError ? `${e.code}: ${e.message}` : 'could not load events');
    }
  }, [filters, afterSeq]);
  useEffect(() => { void load(); }, [load]);

  const apply = (event: React.FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const f = new FormData(event.currentTarget);
    setAfterSeq([]);
    setFilters({
      since: String(f.get('since') ?? ''), principal: String(f.get('principal') ?? '').trim(), secret: String(f.get('secret') ?? '').trim(),
      operation: String(f.get('operation') ?? '').trim(), outcome: String(f.get('outcome') ?? ''), order: f.get('order') === 'asc' ? 'asc' : 'desc',
    });
  };

  const runVerify = async () => {
    try {
      setVerify(await api<Verify>('POST', '/v1/audit/verify'));
      setCheckpointKey(await api<{ fingerprint: string; algorithm: string }>('GET', '/v1/audit/checkpoint-key').catch(() => null));
      setVerifications((n) => n + 1);
    } catch (e) {
      setError(e instanceof ApiError ? `${e.code}: ${e.message}` : 'verify failed');
    }
  };

  const exportCsv = () => {
    const cols = ['seq', 'time', 'request_id', 'accessor', 'source', 'operation', 'secret', 'version_id', 'outcome', 'error_code', 'status', 'detail'] as const;
    const lines = [cols.join(','), ...(events ?? []).map((e) => cols.map((c) => csvCell(e[c])).join(','))];
    const url = URL.createObjectURL(new Blob([lines.join('\n')], { type: 'text/csv' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = 'custos-audit.csv';
    a.click();
    URL.revokeObjectURL(url);
  };

  const ascending = afterSeq.length > 0 || filters.order === 'asc';
  const last = events?.[events.length - 1];
  return (
    <section aria-labelledby="audit-title">
      <div className="bar">
        <h1 id="audit-title">Audit log</h1>
        <button type="button" onClick={runVerify}>Verify chain</button>
        {verify && (
          <span role="status" className={verify.ok ? 'badge good' : 'badge bad'} data-testid="verify-status">
            {verify.ok ? `chain verified: ${verify.checked} events (seq ${verify.first_seq ?? '–'}…${verify.last_seq ?? '–'})` : `chain broken: ${JSON.stringify(verify.problem)}`}
          </span>
        )}
        {checkpointKey && <span className="muted" title="Signed checkpoints, written outside the database, catch a rollback of the whole database; check them with `custos audit verify --checkpoints FILE`.">checkpoints: {checkpointKey.algorithm} key {checkpointKey.fingerprint}</span>}
      </div>
      <AuditCheckpoints refresh={verifications} />
      <form className="filters" aria-label="Filter audit events" onSubmit={apply}>
        <label>Since<select name="since" defaultValue=""><option value="">all time</option><option value="1h">1 hour</option><option value="24h">24 hours</option><option value="7d">7 days</option><option value="30d">30 days</option><option value="365d">1 year</option></select></label>
        <label>Principal<input name="principal" placeholder="acc_…" /></label>
        <label>Secret<input name="secret" placeholder="prod/…" /></label>
        <label>Operation<input name="operation" placeholder="secret.read" /></label>
        <label>Outcome<select name="outcome" defaultValue=""><option value="">any</option><option>success</option><option>denied</option><option>failure</option></select></label>
        <label>Order<select name="order" defaultValue="desc"><option value="desc">newest first</option><option value="asc">oldest first</option></select></label>
        <button type="submit">Filter</button>
        <button type="button" onClick={exportCsv} disabled={!events?.length}>Export CSV</button>
      </form>
      {error && <p role="alert" className="error">{error}</p>}
      <table className="audit">
        <thead><tr><th scope="col">Seq</th><th scope="col">Time</th><th scope="col">Operation</th><th scope="col">Secret</th><th scope="col">Outcome</th><th scope="col">Principal</th><th scope="col">Source</th></tr></thead>
        <tbody>
          {(events ?? []).map((e) => (
            <tr key={e.seq} className={`outcome-${e.outcome}`}>
              <td>{e.seq}</td><td>{when(e.time)}</td><td>{e.operation}{e.detail?.['ui'] === true ? <span className="badge" title="made from the web UI">UI</span> : null}</td><td>{e.secret ?? ''}{e.version_id ? <span className="muted"> @{e.version_id.slice(0, 8)}</span> : null}</td>
              <td>{e.outcome}{e.error_code ? <span className="muted"> ({e.error_code})</span> : null}</td><td><code>{e.accessor ?? ''}</code></td><td>{e.source}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {events?.length === 0 && <p className="muted">No events match.</p>}
      <div className="pager">
        <button type="button" disabled={afterSeq.length === 0} onClick={() => setAfterSeq(afterSeq.slice(0, -1))}>Previous page</button>
        <button type="button" disabled={!ascending || !last || (events?.length ?? 0) < PAGE} onClick={() => last && setAfterSeq([...afterSeq, last.seq])}>Next page</button>
        {!ascending && <span className="muted"> Newest {PAGE} shown; choose "oldest first" to page through all events.</span>}
      </div>
    </section>
  );
}

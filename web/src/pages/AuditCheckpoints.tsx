// Signed audit checkpoints beside the chain's verify status: this server node's checkpoints,
// newest first, each with its signature check and whether the chain still holds that event.
import { useEffect, useState } from 'react';
import { api, errorText, query } from '../api';
import { when } from '../env';

interface Checkpoint { seq: number; hash: string; time: string; node: string; key: string; signature_valid: boolean; chain: 'matches' | 'differs' | 'missing' | 'pruned' }
interface Page { checkpoints: Checkpoint[]; next_before_seq: number | null }

const PAGE = 5;
const CHAIN_TEXT: Record<Checkpoint['chain'], string> = { matches: 'in chain', differs: 'hash differs', missing: 'event missing', pruned: 'pruned' };

/** `refresh` changes after a verify, so the list shows checkpoints written since. */
export function AuditCheckpoints(props: { refresh: number }) {
  // Cursors of the pages above the one shown (before_seq values); empty on the newest page.
  const [cursors, setCursors] = useState<number[]>([]);
  const [page, setPage] = useState<Page | null>(null);
  const [error, setError] = useState('');

  useEffect(() => {
    setError('');
    api<Page>('GET', `/v1/audit/checkpoints${query({ limit: PAGE, before_seq: cursors[cursors.length - 1] })}`).then(setPage, (e) => setError(errorText(e, 'could not list checkpoints')));
  }, [cursors, props.refresh]);

  return (
    <section className="card" aria-labelledby="checkpoints-title">
      <h2 id="checkpoints-title">Signed checkpoints</h2>
      <p className="muted">Written by this server node outside the database: they catch a rollback of the whole database, which the chain alone cannot.</p>
      {error && <p role="alert" className="error">{error}</p>}
      {page && page.checkpoints.length === 0 && <p className="muted">No checkpoints yet.</p>}
      {page && page.checkpoints.length > 0 && (
        <table aria-label="Signed checkpoints" data-testid="checkpoints">
          <thead><tr><th scope="col">Seq</th><th scope="col">Time</th><th scope="col">Head hash</th><th scope="col">Node</th><th scope="col">Signature</th><th scope="col">Chain</th></tr></thead>
          <tbody>
            {page.checkpoints.map((c, i) => (
              <tr key={`${c.seq}-${i}`} className={c.signature_valid && c.chain !== 'differs' && c.chain !== 'missing' ? '' : 'outcome-failure'}>
                <td>{c.seq}</td><td>{when(c.time)}</td><td><code title={c.hash}>{c.hash.slice(0, 16)}…</code></td><td>{c.node}</td>
                <td>{c.signature_valid ? <span className="badge good">verified</span> : <span className="badge bad">NOT verified</span>}</td>
                <td>{CHAIN_TEXT[c.chain]}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div className="pager">
        <button type="button" disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>Newer checkpoints</button>
        <button type="button" disabled={page?.next_before_seq == null} onClick={() => page?.next_before_seq != null && setCursors([...cursors, page.next_before_seq])}>Older checkpoints</button>
      </div>
    </section>
  );
}

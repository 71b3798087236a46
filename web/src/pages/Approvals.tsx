// Change requests waiting for a second person: who asked, what operation on which secret, and the
// metadata it would change (labels and versions before → after, never the value, which stays
// sealed on the server). Approve, deny and cancel are CSRF-protected writes like every other.
import { useCallback, useEffect, useState } from 'react';
import { api, ApiError, enc, query, type SecretMeta, type Version } from '../api';
import { when } from '../env';
import { Link } from '../router';

export interface ChangeRequest {
  id: string; state: string; operation: string; resource: string; summary: string; requester: { accessor: string; name: string };
  approvers: string[]; min_approvals: number; approvals: { accessor: string; name: string; approved_at: string }[];
  created_at: string; expires_at: string; closed_by: string | null; close_reason: string | null; error_code: string | null;
  /** The server's diff for creates, metadata, tags and rotation (`from` absent when the requester could not see it). */
  changes?: { field: string; from?: string | null; to: string | null }[];
}
type Described = SecretMeta & { versions: Version[] };
interface Diff { before: string[]; after: string[] }

const REFUSALS: Record<string, string> = {
  self_approval_denied: 'You cannot approve or deny your own request: another member of the approver groups must.',
  not_an_approver: 'You are not in this request\'s approver groups.',
  change_request_closed: 'This request is already closed.',
  change_request_expired: 'This request expired.',
};
const message = (e: unknown, fallback: string) => {
  if (!(e instanceof ApiError)) return fallback;
  return `${REFUSALS[e.code] ? `${REFUSALS[e.code]} ` : ''}${e.code}: ${e.message}`;
};

/** Labels and versions as they are now (when the page may read the metadata) and as the request would leave them. */
export function diffOf(r: ChangeRequest, secret: Described | null | undefined): Diff {
  const holder = (label: string) => secret?.versions.find((v) => v.labels.includes(label))?.version_id ?? 'none';
  const now = (lines: string[]) => (secret ? lines : ['(current metadata not readable)']);
  if (r.operation === 'secret.write') {
    const labels = (/\(labels ([^ ,)]+(?:,[^ ,)]+)*)/.exec(r.summary)?.[1] ?? 'CURRENT').split(',');
    return {
      before: now([`versions: ${secret?.versions.length ?? 0}`, ...labels.map((l) => `${l} → ${holder(l)}`)]),
      after: [`versions: ${secret ? secret.versions.length + 1 : '+1'}`, ...labels.map((l) => `${l} → new version`)],
    };
  }
  if (r.operation === 'secret.label') {
    const label = /move label (\S+) of /.exec(r.summary)?.[1] ?? '?';
    const to = / to version (\S+)/.exec(r.summary)?.[1];
    return { before: now([`${label} → ${holder(label)}`]), after: [`${label} → ${to ?? 'none'}`] };
  }
  if (r.operation === 'secret.delete') {
    return { before: now([`deleted: ${secret?.deleted_at ? when(secret.deleted_at) : 'no'}`]), after: [`deleted: ${/now, without recovery/.test(r.summary) ? 'now, without recovery' : 'scheduled'}`] };
  }
  if (r.changes?.length) {
    const shown = (v: string | null | undefined) => (v === null || v === undefined ? '(none)' : v);
    return {
      before: r.changes.filter((c) => c.from !== undefined).map((c) => `${c.field}: ${shown(c.from)}`),
      after: r.changes.map((c) => `${c.field}: ${shown(c.to)}`),
    };
  }
  return { before: [], after: [r.summary] };
}

function DiffView(props: { diff: Diff }) {
  return (
    <pre className="diff" aria-label="Metadata change">
      {props.diff.before.map((l) => <span key={`-${l}`} className="del">{`- ${l}\n`}</span>)}
      {props.diff.after.map((l) => <span key={`+${l}`} className="add">{`+ ${l}\n`}</span>)}
    </pre>
  );
}

export function ApprovalsPage() {
  const [state, setState] = useState<'pending' | ''>('pending');
  const [requests, setRequests] = useState<ChangeRequest[] | null>(null);
  const [secrets, setSecrets] = useState<Record<string, Described | null>>({});
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');

  const load = useCallback(() => {
    api<{ requests: ChangeRequest[] }>('GET', `/v1/requests${query({ state: state || undefined, limit: 200 })}`).then(async (r) => {
      setRequests(r.requests);
      const names = [...new Set(r.requests.map((x) => x.resource))];
      // Metadata only (GET /v1/secrets/NAME); a secret the page may not read shows "not readable".
      const described = await Promise.all(names.map((n) => api<Described>('GET', `/v1/secrets/${enc(n)}`).catch(() => null)));
      setSecrets(Object.fromEntries(names.map((n, i) => [n, described[i]!])));
    }, (e) => setError(message(e, 'could not list requests')));
  }, [state]);
  useEffect(load, [load]);

  const act = async (what: string, run: () => Promise<{ change_request: ChangeRequest }>) => {
    setError('');
    setNotice('');
    try {
      const { change_request: r } = await run();
      setNotice(`${what} ${r.id}: now ${r.state}${r.error_code ? ` (${r.error_code})` : ''}`);
      load();
    } catch (e) {
      setError(message(e, `${what} failed`));
    }
  };
  const closeWithReason = (verb: 'deny' | 'cancel', id: string) => {
    const reason = window.prompt(`Reason to ${verb} ${id} (optional)`, '');
    if (reason === null) return;
    void act(verb === 'deny' ? 'Denied' : 'Cancelled', () => api('POST', `/v1/requests/${id}/${verb}`, reason ? { reason } : {}));
  };

  return (
    <section aria-labelledby="approvals-title">
      <div className="bar">
        <h1 id="approvals-title">Approvals</h1>
        <label>State<select value={state} onChange={(e) => setState(e.target.value as typeof state)}><option value="pending">pending</option><option value="">all</option></select></label>
      </div>
      {error && <p role="alert" className="error">{error}</p>}
      {notice && <p role="status">{notice}</p>}
      <table>
        <thead><tr><th scope="col">Requested by</th><th scope="col">Operation</th><th scope="col">Secret</th><th scope="col">Change</th><th scope="col">Approvals</th><th scope="col">State</th><th scope="col">Actions</th></tr></thead>
        <tbody>
          {(requests ?? []).map((r) => (
            <tr key={r.id} aria-label={`Request ${r.id}`}>
              <td>{r.requester.name}<br /><span className="muted">{when(r.created_at)}</span></td>
              <td>{r.operation}<br /><span className="muted">{r.summary}</span></td>
              <td><Link to={`/ui/secret/${enc(r.resource)}`}>{r.resource}</Link></td>
              <td><DiffView diff={diffOf(r, secrets[r.resource])} /></td>
              <td>{r.approvals.length} of {r.min_approvals}{r.approvals.length > 0 && ` (${r.approvals.map((a) => a.name).join(', ')})`}<br /><span className="muted">{r.approvers.join(', ')}</span></td>
              <td>{r.state}{r.state === 'pending' && <><br /><span className="muted">expires {when(r.expires_at)}</span></>}{r.close_reason && <><br /><span className="muted">{r.close_reason}</span></>}</td>
              <td>
                {r.state === 'pending' && (
                  <>
                    <button type="button" aria-label={`Approve ${r.id}`} onClick={() => void act('Approved', () => api('POST', `/v1/requests/${r.id}/approve`))}>Approve</button>
                    <button type="button" aria-label={`Deny ${r.id}`} onClick={() => closeWithReason('deny', r.id)}>Deny</button>
                    <button type="button" aria-label={`Cancel ${r.id}`} onClick={() => closeWithReason('cancel', r.id)}>Cancel</button>
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {requests?.length === 0 && <p className="muted">No {state} requests.</p>}
    </section>
  );
}

// Identities on the Access page: this session's token, then tokens, AWS access keys and auth
// roles, each manageable as far as the session's policies allow (the server decides; a refusal
// is shown as its `code: message`).
import { useEffect, useState } from 'react';
import { api, type Session } from '../api';
import { when } from '../env';
import { AccessTokens } from './AccessTokens';
import { AccessAwsKeys } from './AccessAwsKeys';
import { AccessRoles } from './AccessRoles';

export function Identities(props: { knownPolicies: string[] }) {
  const [session, setSession] = useState<Session | null>(null);
  useEffect(() => {
    api<Session>('GET', '/v1/ui/session').then(setSession, () => setSession(null));
  }, []);
  // Offer the policies this session holds first: only those can be granted.
  const offered = [...new Set([...(session?.policies ?? []), ...props.knownPolicies])].filter((p) => p !== 'root' || session?.policies.includes('root'));
  return (
    <>
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
        <AccessTokens knownPolicies={offered} />
      </div>
      <AccessAwsKeys knownPolicies={offered} />
      <AccessRoles />
    </>
  );
}

// The shell: session check, login, navigation, and the page for the current path.
import { useCallback, useEffect, useState } from 'react';
import { api, type Session } from './api';
import { Link, navigate, usePath } from './router';
import { Login } from './pages/Login';
import { SecretsPage } from './pages/Secrets';
import { SecretPage } from './pages/Secret';
import { AuditPage } from './pages/Audit';
import { RotationPage } from './pages/Rotation';
import { AccessPage } from './pages/Access';
import { AlertsPage } from './pages/Alerts';
import { ReportsPage } from './pages/Reports';

const NAV = [
  ['/ui/secrets', 'Secrets'], ['/ui/audit', 'Audit'], ['/ui/rotation', 'Rotation'], ['/ui/access', 'Access'], ['/ui/alerts', 'Alerts'], ['/ui/reports', 'Reports'],
] as const;

export function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const path = usePath();

  const refresh = useCallback(() => {
    // No CSRF cookie means no session: show the login form without a request that would only be refused.
    if (!/(?:^|;\s*)custos_csrf=[^;]/.test(document.cookie)) return setSession(null);
    api<Session>('GET', '/v1/ui/session').then(setSession, () => setSession(null));
  }, []);
  useEffect(refresh, [refresh]);
  useEffect(() => {
    const out = () => setSession(null);
    window.addEventListener('custos:unauthenticated', out);
    return () => window.removeEventListener('custos:unauthenticated', out);
  }, []);

  if (session === undefined) return <main className="loading">Loading…</main>;
  if (session === null) return <Login onLogin={(s) => { setSession(s); if (!path.startsWith('/ui/')) navigate('/ui/secrets'); }} />;

  const logout = async () => {
    try {
      await api('POST', '/v1/ui/logout');
    } finally {
      setSession(null);
      navigate('/');
    }
  };

  let page: React.ReactNode;
  if (path.startsWith('/ui/secret/')) page = <SecretPage name={decodeURIComponent(path.slice('/ui/secret/'.length))} />;
  else if (path.startsWith('/ui/audit')) page = <AuditPage />;
  else if (path.startsWith('/ui/rotation')) page = <RotationPage />;
  else if (path.startsWith('/ui/access')) page = <AccessPage />;
  else if (path.startsWith('/ui/alerts')) page = <AlertsPage />;
  else if (path.startsWith('/ui/reports')) page = <ReportsPage />;
  else page = <SecretsPage />;

  return (
    <div className="shell">
      <header className="top">
        <span className="brand">Custos</span>
        <nav aria-label="Main">
          {NAV.map(([to, label]) => (
            <Link key={to} to={to} className={path.startsWith(to) || (to === '/ui/secrets' && path.startsWith('/ui/secret/')) ? 'active' : ''}>{label}</Link>
          ))}
        </nav>
        <span className="who" title={session.accessor}>{session.display_name}{session.env ? ` · ${session.env}` : ''}</span>
        <button type="button" onClick={logout}>Log out</button>
      </header>
      <main>{page}</main>
    </div>
  );
}

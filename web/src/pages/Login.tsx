// Login with a token, a username and password, or an identity provider (OIDC). Every way the
// server answers with a session cookie holding a short-lived child token; the token typed here is
// never stored by the page. For OIDC the mount and role come from the URL query
// (`?oidc_mount=…&oidc_role=…`, so a bookmark remembers them) or the defaults.
import { useState } from 'react';
import { api, ApiError, type Session } from '../api';
import { OIDC_CALLBACK_PATH, OIDC_MOUNT_KEY } from './OidcCallback';

const params = () => new URLSearchParams(window.location.search);

async function startOidc(mount: string, role: string): Promise<void> {
  const q = params();
  q.set('oidc_mount', mount);
  q.set('oidc_role', role);
  // Remembered for the next visit (back from the provider, or a bookmark).
  window.history.replaceState(null, '', `${window.location.pathname}?${q.toString()}`);
  const { auth_url: authUrl } = await api<{ auth_url: string }>('POST', '/v1/ui/oidc/start', { mount, role, redirect_uri: `${window.location.origin}${OIDC_CALLBACK_PATH}` });
  // The callback page needs the mount; it is not secret, and the state binding lives in an HttpOnly cookie.
  sessionStorage.setItem(OIDC_MOUNT_KEY, mount);
  window.location.assign(authUrl);
}

export function Login(props: { onLogin: (session: Session) => void }) {
  const [method, setMethod] = useState<'token' | 'userpass' | 'oidc'>(params().has('oidc_mount') ? 'oidc' : 'userpass');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const submit = async (event: React.FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    if (method === 'oidc') {
      setBusy(true);
      setError('');
      try {
        await startOidc(String(form.get('oidc_mount') ?? 'oidc'), String(form.get('oidc_role') ?? ''));
      } catch (e) {
        setError(e instanceof ApiError ? `${e.code}: ${e.message}` : 'could not start the login');
        setBusy(false);
      }
      return;
    }
    const body = method === 'token'
      ? { token: String(form.get('token') ?? '') }
      : { mount: String(form.get('mount') ?? 'userpass'), username: String(form.get('username') ?? ''), password: String(form.get('password') ?? '') };
    setBusy(true);
    setError('');
    try {
      const session = await api<Session>('POST', '/v1/ui/session', body);
      event.currentTarget?.reset();
      props.onLogin(session);
    } catch (e) {
      setError(e instanceof ApiError ? `${e.code}: ${e.message}` : 'login failed');
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="login">
      <h1>Custos</h1>
      <div role="tablist" aria-label="Login method" className="tabs">
        <button type="button" role="tab" aria-selected={method === 'userpass'} onClick={() => setMethod('userpass')}>Username</button>
        <button type="button" role="tab" aria-selected={method === 'token'} onClick={() => setMethod('token')}>Token</button>
        <button type="button" role="tab" aria-selected={method === 'oidc'} onClick={() => setMethod('oidc')}>Identity provider</button>
      </div>
      <form onSubmit={submit} aria-label="Log in">
        {method === 'token' ? (
          <label>Token<input name="token" type="password" autoComplete="off" required /></label>
        ) : method === 'oidc' ? (
          <>
            <label>Mount<input name="oidc_mount" defaultValue={params().get('oidc_mount') ?? 'oidc'} required /></label>
            <label>Role<input name="oidc_role" defaultValue={params().get('oidc_role') ?? 'default'} required /></label>
          </>
        ) : (
          <>
            <label>Mount<input name="mount" defaultValue="userpass" required /></label>
            <label>Username<input name="username" autoComplete="username" required /></label>
            <label>Password<input name="password" type="password" autoComplete="current-password" required /></label>
          </>
        )}
        <button type="submit" disabled={busy}>{method === 'oidc' ? 'Sign in with your identity provider' : 'Log in'}</button>
        {error && <p role="alert" className="error">{error}</p>}
      </form>
    </main>
  );
}

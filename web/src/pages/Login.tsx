// Login with a token or a username and password. Either way the server answers with a session
// cookie holding a short-lived child token; the token typed here is never stored by the page.
import { useState } from 'react';
import { api, ApiError, type Session } from '../api';

export function Login(props: { onLogin: (session: Session) => void }) {
  const [method, setMethod] = useState<'token' | 'userpass'>('userpass');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const submit = async (event: React.FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
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
      </div>
      <form onSubmit={submit} aria-label="Log in">
        {method === 'token' ? (
          <label>Token<input name="token" type="password" autoComplete="off" required /></label>
        ) : (
          <>
            <label>Mount<input name="mount" defaultValue="userpass" required /></label>
            <label>Username<input name="username" autoComplete="username" required /></label>
            <label>Password<input name="password" type="password" autoComplete="current-password" required /></label>
          </>
        )}
        <button type="submit" disabled={busy}>Log in</button>
        {error && <p role="alert" className="error">{error}</p>}
      </form>
    </main>
  );
}

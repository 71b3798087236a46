// Where the identity provider sends the browser back: the page hands `state` and `code` to
// `POST /v1/ui/session`, which checks the state against the HttpOnly cookie set when this
// browser started the login, logs in and sets the session cookie. The token never reaches script.
import { useEffect, useRef, useState } from 'react';
import { api, ApiError, type Session } from '../api';

export const OIDC_CALLBACK_PATH = '/ui/oidc/callback';
export const OIDC_MOUNT_KEY = 'custos_oidc_mount';

export function OidcCallback(props: { onLogin: (session: Session) => void }) {
  const [error, setError] = useState('');
  const sent = useRef(false);
  useEffect(() => {
    // A code works once: never post it twice (React's development double effects included).
    if (sent.current) return;
    sent.current = true;
    const q = new URLSearchParams(window.location.search);
    const state = q.get('state') ?? '';
    const code = q.get('code') ?? '';
    const mount = sessionStorage.getItem(OIDC_MOUNT_KEY) ?? 'oidc';
    sessionStorage.removeItem(OIDC_MOUNT_KEY);
    // The code leaves the address bar and the history entry at once.
    window.history.replaceState(null, '', OIDC_CALLBACK_PATH);
    if (q.get('error')) return setError(`the identity provider refused: ${q.get('error')}${q.get('error_description') ? ` (${q.get('error_description')})` : ''}`);
    if (!state || !code) return setError('the identity provider sent no code');
    api<Session>('POST', '/v1/ui/session', { mount, state, code }).then(props.onLogin, (e) => setError(e instanceof ApiError ? `${e.code}: ${e.message}` : 'login failed'));
  }, [props.onLogin]);

  return (
    <main className="login">
      <h1>Custos</h1>
      {error ? (
        <>
          <p role="alert" className="error">{error}</p>
          <p><a href="/">Back to the login page</a></p>
        </>
      ) : <p>Signing in…</p>}
    </main>
  );
}

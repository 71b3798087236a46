import { spawn } from 'node:child_process';
import http from 'node:http';
import { authApi, loginWith } from './auth.js';
import { CliError } from '../context.js';

/**
 * `custos login oidc`: the authorization-code flow from a terminal. A one-shot listener on
 * 127.0.0.1 receives the provider's redirect; the browser is opened when there is one, and the
 * URL is printed either way (stderr, so `--json` output stays clean). Only the callback whose
 * `state` is this login's own is accepted.
 */
export async function loginCommand(o: { mount: string; role: string; port: string; browser: boolean; json?: boolean }): Promise<void> {
  const port = Number(o.port);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new CliError('invalid_input', '--port must be a TCP port');
  const redirectUri = `http://localhost:${port}/oidc/callback`;
  let expectedState = '';
  let settle: (result: { state: string; code: string } | Error) => void = () => undefined;
  const callback = new Promise<{ state: string; code: string } | Error>((resolve) => (settle = resolve));
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', redirectUri);
    if (url.pathname !== '/oidc/callback') return void res.writeHead(404).end();
    const state = url.searchParams.get('state') ?? '';
    if (!expectedState || state !== expectedState) return void res.writeHead(400).end('This is not the login this terminal started.\n');
    const error = url.searchParams.get('error');
    const code = url.searchParams.get('code');
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(error || !code ? 'Login failed; see the terminal.\n' : 'Logged in to Custos. You can close this window.\n');
    settle(error || !code ? new CliError('oidc_exchange_failed', `the identity provider answered ${(error ?? 'no code').slice(0, 64)}`) : { state, code });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new CliError('port_in_use', `cannot listen on 127.0.0.1:${port} (${(e as Error).message}); pick another with --port`)));
    server.listen(port, '127.0.0.1', resolve);
  });
  try {
    const { auth_url: authUrl } = await authApi(true).oidcAuthUrl(o.mount, { role: o.role, redirect_uri: redirectUri });
    expectedState = new URL(authUrl).searchParams.get('state') ?? '';
    process.stderr.write(`Open this URL to log in (waiting for the redirect to ${redirectUri}):\n  ${authUrl}\n`);
    if (o.browser) openBrowser(authUrl);
    const timer = setTimeout(() => settle(new CliError('timeout', 'no login arrived within 5 minutes')), 5 * 60_000);
    const result = await callback;
    clearTimeout(timer);
    if (result instanceof Error) throw result;
    await loginWith(o.mount, { state: result.state, code: result.code }, o.json);
  } finally {
    server.close();
  }
}

function openBrowser(url: string): void {
  const opener = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  try {
    spawn(opener, [url], { stdio: 'ignore', detached: true }).on('error', () => undefined).unref();
  } catch {
    // no browser here: the printed URL is the way
  }
}

/**
 * Browser sessions for the web UI: login (token, userpass or OIDC) sets an HttpOnly, SameSite=Strict
 * cookie holding a short-lived child token the browser never sees; cookie-authenticated writes
 * must echo a CSRF token in a header; logout revokes the child, and the login token a userpass
 * or OIDC login issued for the session (which also never outlives the session).
 *
 * The CSRF token is derived from the session token (SHA-256 under a fixed label), so every node
 * can check it without shared state, and knowing it reveals nothing about the session token.
 * It travels in a second, script-readable cookie and in the login answer (double submit): a
 * cross-site page can make the browser send cookies (not with SameSite=Strict, but defence in
 * depth), never read them or set a custom header.
 *
 * OIDC login is bound to the browser that started it: the start sets an HttpOnly cookie holding
 * a hash of the provider's `state`, and a callback is accepted only with that cookie's state.
 * A state from someone else's login (login CSRF: the attacker's account in the victim's browser)
 * is refused before the server spends it, and no session is made.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuthService } from '../auth/auth-service.js';
import type { IdentityService, TokenInfo } from '../auth/tokens/identity-service.js';
import { AppError } from '../errors/app-error.js';
import { loginAuditor } from './routes/auth.js';
import { identityOf } from './request-context.js';

export const SESSION_COOKIE = 'custos_session';
export const CSRF_COOKIE = 'custos_csrf';
export const CSRF_HEADER = 'x-custos-csrf';
export const OIDC_STATE_COOKIE = 'custos_oidc_state';
/** Matches the server's default `state_ttl_seconds`: a started login not finished by then is dead anyway. */
const OIDC_STATE_TTL_SECONDS = 300;
/** A session lives one hour (never longer than the token it was made from); then the user logs in again. */
export const SESSION_TTL_SECONDS = 3600;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const oidcBinding = (state: string) => createHash('sha256').update(`custos-ui-oidc:${state}`).digest('base64url');

export const csrfTokenFor = (sessionToken: string) => createHash('sha256').update(`custos-ui-csrf:${sessionToken}`).digest('base64url');

/** Cookie header → name/value pairs (RFC 6265 shape; our values are base64url, never quoted). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  if (!header) return cookies;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (name !== '' && !cookies.has(name)) cookies.set(name, part.slice(eq + 1).trim());
  }
  return cookies;
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const LoginBody = Type.Union([
  Type.Object({ token: Type.String({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false }),
  Type.Object({
    mount: Type.String({ minLength: 1, maxLength: 64 }), username: Type.String({ minLength: 1, maxLength: 128 }), password: Type.String({ minLength: 1, maxLength: 1024 }),
  }, { additionalProperties: false }),
  Type.Object({
    mount: Type.String({ minLength: 1, maxLength: 64 }), state: Type.String({ minLength: 1, maxLength: 256 }), code: Type.String({ minLength: 1, maxLength: 2048 }),
  }, { additionalProperties: false }),
]);
type LoginInput = { token: string } | { mount: string; username: string; password: string } | { mount: string; state: string; code: string };
const OidcStartBody = Type.Object({
  mount: Type.String({ minLength: 1, maxLength: 64 }), role: Type.String({ minLength: 1, maxLength: 128 }), redirect_uri: Type.String({ minLength: 1, maxLength: 2048 }),
}, { additionalProperties: false });

export interface UiSessionDeps {
  identity: IdentityService;
  auth: AuthService;
}

export function createUiSession(deps: UiSessionDeps) {
  // Requests authenticated by the session cookie (not a header): only these may log out.
  const cookieAuthenticated = new WeakSet<FastifyRequest>();

  /** For the server's authentication hook: the session cookie's token, after the CSRF check on writes. */
  function tokenOf(request: FastifyRequest): string | undefined {
    const token = parseCookies(request.headers.cookie).get(SESSION_COOKIE);
    if (!token) return undefined;
    if (!SAFE_METHODS.has(request.method)) {
      const sent = request.headers[CSRF_HEADER];
      if (typeof sent !== 'string' || !sameText(sent, csrfTokenFor(token))) {
        throw new AppError('csrf_failed', `a write made with a session cookie needs its CSRF token in the ${CSRF_HEADER} header`);
      }
    }
    cookieAuthenticated.add(request);
    // Audit events say the request came from the web UI (a reveal there is a `secret.read` with `ui: true`).
    request.audit.detail = { ...request.audit.detail, ui: true };
    return token;
  }

  function setCookies(request: FastifyRequest, reply: FastifyReply, token: string, maxAge: number): void {
    const secure = request.protocol === 'https' ? '; Secure' : '';
    reply.header('set-cookie', [
      `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${secure}`,
      `${CSRF_COOKIE}=${token ? csrfTokenFor(token) : ''}; Path=/; SameSite=Strict; Max-Age=${maxAge}${secure}`,
    ]);
  }

  // Lax, not Strict: the callback page is reached by the provider's cross-site redirect; the
  // cookie is read only by the page's own same-origin POST, and it is useless without the code.
  const oidcStateCookie = (request: FastifyRequest, value: string, maxAge: number) =>
    `${OIDC_STATE_COOKIE}=${value}; Path=/v1/ui/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${request.protocol === 'https' ? '; Secure' : ''}`;

  const sessionJson = (info: TokenInfo, csrf: string) => ({
    accessor: info.accessor, display_name: info.displayName, policies: info.policies, env: info.env,
    expires_at: info.expiresAt === null ? null : new Date(info.expiresAt).toISOString(), csrf_token: csrf,
  });

  function routes(app: FastifyInstance): void {
    // Anonymous: the credential in the body is the authentication. A JSON body means a
    // cross-site form cannot post it without a CORS preflight, which this server never grants.
    app.post('/v1/ui/session', { schema: { body: LoginBody, hide: true }, config: { operation: 'ui.login', anonymous: true } }, async (request, reply) => {
      const body = request.body as LoginInput;
      let parentToken: string;
      // userpass and OIDC issue a login token for this session alone: it ends with the session.
      let ownsParent = true;
      if ('token' in body) {
        ownsParent = false;
        parentToken = body.token;
        request.audit.detail = { method: 'token' };
      } else if ('state' in body) {
        request.audit.detail = { method: 'oidc', mount: body.mount };
        const bound = parseCookies(request.headers.cookie).get(OIDC_STATE_COOKIE);
        // Cleared either way (Fastify appends Set-Cookie headers): a started login finishes once, in the browser that started it.
        reply.header('set-cookie', oidcStateCookie(request, '', 0));
        if (!bound || !sameText(bound, oidcBinding(body.state))) {
          throw new AppError('oidc_state_invalid', 'this login was not started in this browser; start again from the login page');
        }
        parentToken = (await deps.auth.login(body.mount, { state: body.state, code: body.code }, request.ip, loginAuditor(request))).token;
      } else {
        request.audit.detail = { method: 'userpass', mount: body.mount };
        parentToken = (await deps.auth.login(body.mount, { username: body.username, password: body.password }, request.ip, loginAuditor(request))).token;
      }
      const parent = await deps.identity.authenticate(parentToken, (accessor) => {
        request.audit.accessor = accessor;
      }, request.ip);
      const child = await deps.identity.createSessionChild(request.withTransactionAudit(parent), SESSION_TTL_SECONDS, { ownsParent });
      const maxAge = child.info.expiresAt === null ? SESSION_TTL_SECONDS : Math.max(1, Math.floor((child.info.expiresAt - Date.now()) / 1000));
      setCookies(request, reply, child.token, Math.min(maxAge, SESSION_TTL_SECONDS));
      return sessionJson(child.info, csrfTokenFor(child.token));
    });

    // OIDC's first step for the UI: the provider's URL, and a cookie binding its state to this browser.
    app.post('/v1/ui/oidc/start', { schema: { body: OidcStartBody, hide: true }, config: { operation: 'auth.oidc.auth_url', anonymous: true } }, async (request, reply) => {
      const { mount, role, redirect_uri: redirectUri } = request.body as { mount: string; role: string; redirect_uri: string };
      const started = await deps.auth.startLogin(mount, { role, redirect_uri: redirectUri }, request.ip, loginAuditor(request)) as { auth_url: string; expires_at: string };
      const state = new URL(started.auth_url).searchParams.get('state');
      if (!state) throw new AppError('internal_error', 'the provider URL carries no state');
      reply.header('set-cookie', oidcStateCookie(request, oidcBinding(state), OIDC_STATE_TTL_SECONDS));
      return { auth_url: started.auth_url, expires_at: started.expires_at };
    });

    app.get('/v1/ui/session', { schema: { hide: true }, config: { operation: 'ui.session' } }, async (request) => {
      const info = await deps.identity.lookupSelf(identityOf(request));
      const token = parseCookies(request.headers.cookie).get(SESSION_COOKIE);
      return sessionJson(info, token && cookieAuthenticated.has(request) ? csrfTokenFor(token) : '');
    });

    app.post('/v1/ui/logout', { schema: { hide: true }, config: { operation: 'ui.logout' } }, async (request, reply) => {
      if (!cookieAuthenticated.has(request)) throw new AppError('invalid_request', 'logout ends a browser session; revoke a token with POST /v1/tokens/revoke');
      const revoked = await deps.identity.endSession(identityOf(request));
      setCookies(request, reply, '', 0);
      return { revoked };
    });
  }

  return { tokenOf, routes };
}

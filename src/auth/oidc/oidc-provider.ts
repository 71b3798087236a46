import { AppError } from '../../errors/app-error.js';
import { checkKeyUrl, fetchIssuerJson } from '../jwt/jwt-keys.js';

/** The endpoints of an OIDC provider, from its discovery document. */
export interface ProviderEndpoints {
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
}

const trim = (url: string) => url.replace(/\/+$/, '');

/** Discovery: the document must name the issuer we expect; its endpoints must be https (or loopback). */
export async function discoverProvider(issuer: string): Promise<ProviderEndpoints> {
  const doc = (await fetchIssuerJson(`${trim(issuer)}/.well-known/openid-configuration`, 'OIDC discovery document')) as Record<string, unknown>;
  if (typeof doc.issuer !== 'string' || trim(doc.issuer) !== trim(issuer)) throw new AppError('jwks_unavailable', 'the discovery document names another issuer');
  const endpoint = (field: string): string => {
    const value = doc[field];
    if (typeof value !== 'string') throw new AppError('jwks_unavailable', `the discovery document has no ${field}`);
    checkKeyUrl(value, field);
    return value;
  };
  return { issuer: doc.issuer, authorizationEndpoint: endpoint('authorization_endpoint'), tokenEndpoint: endpoint('token_endpoint') };
}

/**
 * Trades an authorization code for the ID token at the provider's token endpoint (public
 * client: the PKCE verifier proves this exchange belongs to the login that started it).
 * The provider's own error code is reported; the authorization code never is.
 */
export async function exchangeCode(tokenEndpoint: string, input: { code: string; redirectUri: string; clientId: string; codeVerifier: string }): Promise<string> {
  checkKeyUrl(tokenEndpoint, 'token_endpoint');
  const body = new URLSearchParams({ grant_type: 'authorization_code', code: input.code, redirect_uri: input.redirectUri, client_id: input.clientId, code_verifier: input.codeVerifier });
  let response: Response;
  try {
    response = await fetch(tokenEndpoint, {
      method: 'POST', body, redirect: 'error', signal: AbortSignal.timeout(10_000),
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    });
  } catch (cause) {
    throw new AppError('oidc_exchange_failed', `cannot reach the provider's token endpoint (${new URL(tokenEndpoint).host})`, { cause });
  }
  const text = await response.text();
  let answer: Record<string, unknown> = {};
  try {
    answer = text.length <= 256 * 1024 ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    // reported below as a failed exchange
  }
  if (!response.ok || typeof answer.id_token !== 'string') {
    const reason = typeof answer.error === 'string' ? answer.error.slice(0, 64).replace(/[^\w.-]/g, '') : `HTTP ${response.status}`;
    throw new AppError('oidc_exchange_failed', `the provider refused the authorization code (${reason})`);
  }
  return answer.id_token;
}

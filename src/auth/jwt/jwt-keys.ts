import { createLocalJWKSet, exportJWK, type JSONWebKeySet, type JWK } from 'jose';
import { createPublicKey } from 'node:crypto';
import { AppError } from '../../errors/app-error.js';

/** Where a JWT mount's verification keys come from, with the refresh policy for remote ones. */
export interface KeySourceConfig {
  oidc_discovery_url?: string;
  jwks_url?: string;
  jwt_validation_pubkeys?: string[];
  /** Seconds between JWKS refreshes triggered by an unknown `kid` (the rate limit). */
  jwks_refresh_cooldown: number;
  /** Seconds after which a JWKS is fetched again before use. */
  jwks_max_age: number;
}

export type KeyResolver = ReturnType<typeof createLocalJWKSet>;

export interface KeySource {
  /** Resolves the key for a token, refreshing a remote JWKS once per cooldown when the `kid` is unknown. */
  resolver: KeyResolver;
  /** Remote fetches made so far (for operators and tests). */
  fetches(): number;
}

const MAX_DOCUMENT_BYTES = 256 * 1024;

/** Remote key material only over HTTPS, or plain HTTP to this machine (a local issuer, tests). */
export function checkKeyUrl(text: string, field: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new AppError('validation_failed', `${field} is not a URL`);
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) throw new AppError('validation_failed', `${field} must use https (plain http only to a loopback address)`);
  if (url.username || url.password) throw new AppError('validation_failed', `${field} must not contain credentials`);
  return url;
}

/** Parses PEM public keys into a local JWKS (private or symmetric keys are refused). */
export async function pemKeySet(pems: readonly string[]): Promise<JSONWebKeySet> {
  const keys: JWK[] = [];
  for (const [i, pem] of pems.entries()) {
    let key;
    try {
      key = createPublicKey(pem);
    } catch {
      throw new AppError('validation_failed', `jwt_validation_pubkeys[${i}] is not a PEM public key`);
    }
    if (key.asymmetricKeyType === undefined) throw new AppError('validation_failed', `jwt_validation_pubkeys[${i}] is not an asymmetric public key`);
    keys.push(await exportJWK(key));
  }
  return { keys };
}

/** Fetches a JSON document from an issuer (https or loopback http only, no redirects, bounded). */
export async function fetchIssuerJson(url: string, field: string): Promise<unknown> {
  checkKeyUrl(url, field);
  let response: Response;
  try {
    response = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(5000), headers: { accept: 'application/json' } });
  } catch (cause) {
    throw new AppError('jwks_unavailable', `cannot fetch the ${field} (${new URL(url).host})`, { cause });
  }
  const text = await response.text();
  if (!response.ok || text.length > MAX_DOCUMENT_BYTES) throw new AppError('jwks_unavailable', `the ${field} answered ${response.status}`);
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new AppError('jwks_unavailable', `the ${field} is not JSON`, { cause });
  }
}

/** Discovery: the issuer's document must name the issuer we expect, and its jwks_uri is used. */
export async function discoverJwksUri(issuer: string): Promise<string> {
  const doc = (await fetchIssuerJson(`${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`, 'OIDC discovery document')) as { issuer?: unknown; jwks_uri?: unknown };
  if (typeof doc.issuer !== 'string' || doc.issuer.replace(/\/+$/, '') !== issuer.replace(/\/+$/, '')) throw new AppError('jwks_unavailable', 'the discovery document names another issuer');
  if (typeof doc.jwks_uri !== 'string') throw new AppError('jwks_unavailable', 'the discovery document has no jwks_uri');
  checkKeyUrl(doc.jwks_uri, 'jwks_uri');
  return doc.jwks_uri;
}

/**
 * A mount's keys. Static PEM keys never change. A remote JWKS is fetched on first use, again
 * after `jwks_max_age`, and when a token names a `kid` it does not hold — but at most once per
 * `jwks_refresh_cooldown`, so a stream of tokens with made-up kids cannot make us hammer the
 * issuer (or be used to make us do so). Concurrent refreshes share one fetch.
 */
export function createKeySource(config: KeySourceConfig, now: () => number, staticKeys?: JSONWebKeySet): KeySource {
  if (staticKeys) {
    // PEM keys carry no kid: every configured key of the token's algorithm is tried.
    const local = createLocalJWKSet(staticKeys);
    const resolver = ((header) => local({ ...header, kid: undefined })) as KeyResolver;
    return { resolver, fetches: () => 0 };
  }
  let local: KeyResolver | null = null;
  let fetchedAt = -Infinity;
  let attemptedAt = -Infinity;
  let count = 0;
  let inflight: Promise<void> | null = null;

  const refresh = () => {
    inflight ??= (async () => {
      attemptedAt = now();
      count += 1;
      const uri = config.jwks_url ?? (await discoverJwksUri(config.oidc_discovery_url!));
      const jwks = (await fetchIssuerJson(uri, 'JWKS')) as JSONWebKeySet;
      try {
        local = createLocalJWKSet(jwks);
      } catch (cause) {
        throw new AppError('jwks_unavailable', 'the JWKS is malformed', { cause });
      }
      fetchedAt = now();
    })().finally(() => (inflight = null));
    return inflight;
  };

  const resolver = (async (header, token) => {
    if (local === null) await refresh();
    else if (now() - fetchedAt > config.jwks_max_age * 1000 && now() - attemptedAt >= config.jwks_refresh_cooldown * 1000) {
      await refresh().catch(() => undefined); // keep serving the keys we have if the issuer is down
    }
    try {
      return await local!(header, token);
    } catch (error) {
      if ((error as { code?: string }).code !== 'ERR_JWKS_NO_MATCHING_KEY' || now() - attemptedAt < config.jwks_refresh_cooldown * 1000) throw error;
      await refresh();
      return local!(header, token);
    }
  }) as KeyResolver;
  return { resolver, fetches: () => count };
}

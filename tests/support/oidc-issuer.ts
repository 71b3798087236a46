import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

/**
 * A local OIDC issuer for tests: its own key pairs (jose), discovery and JWKS served over HTTP
 * on loopback, and signing of GitHub-Actions- and Kubernetes-shaped tokens. It is also an
 * authorization server for people: `/authorize` logs in `user` at once and redirects with a
 * code; `/token` trades a code (single use, PKCE S256 checked) for an ID token.
 */
export interface LocalIssuer {
  url: string;
  jwksUrl: string;
  /** The current signing key's id. */
  kid: string;
  /** Requests the JWKS endpoint answered so far. */
  jwksFetches(): number;
  sign(claims: Record<string, unknown>, options?: { kid?: string; expiresIn?: number; notBefore?: number; issuedAt?: number; key?: CryptoKey; issuer?: string }): Promise<string>;
  /** A new key pair becomes current; the old one leaves the JWKS unless `keepOld`. Returns the retired key. */
  rotate(keepOld?: boolean): Promise<{ kid: string; privateKey: CryptoKey }>;
  publicPem(): Promise<string>;
  /** The person `/authorize` logs in (claims of the ID token). */
  user: Record<string, unknown>;
  /** Deviations of the ID token the next exchanges answer (a wrong nonce or audience). */
  idTokenOverrides: Record<string, unknown>;
  /** Codes `/token` refused so far (wrong verifier, replay, wrong redirect). */
  refusedExchanges(): number;
  close(): Promise<void>;
}

let counter = 0;

export async function startIssuer(): Promise<LocalIssuer> {
  const keys: { kid: string; privateKey: CryptoKey; publicJwk: JWK; publicKey: CryptoKey }[] = [];
  const addKey = async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    const kid = `k${++counter}`;
    keys.unshift({ kid, privateKey, publicKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } });
  };
  await addKey();
  let fetches = 0;
  let refused = 0;
  let url = '';
  const state = { user: { sub: 'user-1' } as Record<string, unknown>, idTokenOverrides: {} as Record<string, unknown> };
  const codes = new Map<string, { clientId: string; redirectUri: string; nonce: string; challenge: string; claims: Record<string, unknown> }>();
  const signIdToken = async (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: keys[0]!.kid, typ: 'JWT' })
    .setIssuer(url).setIssuedAt().setExpirationTime('5m').sign(keys[0]!.privateKey);
  const readForm = (req: http.IncomingMessage) => new Promise<URLSearchParams>((resolve) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => resolve(new URLSearchParams(body)));
  });
  const server = http.createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.url === '/.well-known/openid-configuration') {
      res.setHeader('content-type', 'application/json');
      return res.end(JSON.stringify({
        issuer: url, jwks_uri: `${url}/jwks`, id_token_signing_alg_values_supported: ['RS256'],
        authorization_endpoint: `${url}/authorize`, token_endpoint: `${url}/token`, code_challenge_methods_supported: ['S256'],
      }));
    }
    if (path === '/authorize') {
      const q = new URL(req.url!, url).searchParams;
      if (q.get('response_type') !== 'code' || q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge') || !q.get('redirect_uri')) {
        res.statusCode = 400;
        return res.end('bad authorization request');
      }
      const code = randomBytes(16).toString('base64url');
      codes.set(code, { clientId: q.get('client_id')!, redirectUri: q.get('redirect_uri')!, nonce: q.get('nonce') ?? '', challenge: q.get('code_challenge')!, claims: { ...state.user } });
      const back = new URL(q.get('redirect_uri')!);
      back.searchParams.set('code', code);
      back.searchParams.set('state', q.get('state') ?? '');
      res.writeHead(302, { location: back.toString() });
      return res.end();
    }
    if (path === '/token' && req.method === 'POST') {
      const form = await readForm(req);
      const grant = codes.get(form.get('code') ?? '');
      codes.delete(form.get('code') ?? ''); // a code is good for one exchange, right or wrong
      const verifier = form.get('code_verifier') ?? '';
      res.setHeader('content-type', 'application/json');
      if (!grant || grant.redirectUri !== form.get('redirect_uri') || grant.clientId !== form.get('client_id')
        || createHash('sha256').update(verifier).digest('base64url') !== grant.challenge) {
        refused += 1;
        res.statusCode = 400;
        return res.end(JSON.stringify({ error: 'invalid_grant' }));
      }
      const idToken = await signIdToken({ ...grant.claims, aud: grant.clientId, nonce: grant.nonce, ...state.idTokenOverrides });
      return res.end(JSON.stringify({ access_token: randomBytes(8).toString('hex'), token_type: 'Bearer', id_token: idToken }));
    }
    if (req.url === '/jwks') {
      fetches += 1;
      res.setHeader('content-type', 'application/json');
      return res.end(JSON.stringify({ keys: keys.map((k) => k.publicJwk) }));
    }
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const nowSeconds = () => Math.floor(Date.now() / 1000);
  return {
    url,
    jwksUrl: `${url}/jwks`,
    get kid() {
      return keys[0]!.kid;
    },
    jwksFetches: () => fetches,
    async sign(claims, options = {}) {
      const t = nowSeconds();
      const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: options.kid ?? keys[0]!.kid, typ: 'JWT' })
        .setIssuer(options.issuer ?? url).setIssuedAt(options.issuedAt ?? t).setExpirationTime(t + (options.expiresIn ?? 300));
      if (options.notBefore !== undefined) jwt.setNotBefore(options.notBefore);
      return jwt.sign(options.key ?? keys[0]!.privateKey);
    },
    async rotate(keepOld = false) {
      const old = keys[0]!;
      await addKey();
      if (!keepOld) keys.splice(1, 1);
      return { kid: old.kid, privateKey: old.privateKey };
    },
    async publicPem() {
      return exportSPKI(keys[0]!.publicKey);
    },
    get user() {
      return state.user;
    },
    set user(claims) {
      state.user = claims;
    },
    get idTokenOverrides() {
      return state.idTokenOverrides;
    },
    set idTokenOverrides(claims) {
      state.idTokenOverrides = claims;
    },
    refusedExchanges: () => refused,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Claims as GitHub Actions puts them in its OIDC token. */
export function githubClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const repository = (overrides.repository as string) ?? 'acme/warehouse';
  return {
    aud: 'https://github.com/acme', sub: `repo:${repository}:environment:production`, repository, repository_owner: 'acme', ref: 'refs/heads/main',
    environment: 'production', event_name: 'push', job_workflow_ref: `${repository}/.github/workflows/deploy.yml@refs/heads/main`,
    ref_type: 'branch', actor: 'octocat', run_id: '1234', ...overrides,
  };
}

/** Claims of a Kubernetes projected service-account token. */
export function kubernetesClaims(namespace: string, serviceAccount: string, audience = 'custos'): Record<string, unknown> {
  return {
    aud: [audience], sub: `system:serviceaccount:${namespace}:${serviceAccount}`,
    'kubernetes.io': { namespace, serviceaccount: { name: serviceAccount, uid: 'b7e1' }, pod: { name: `${serviceAccount}-0`, uid: 'a1' } },
  };
}

import http from 'node:http';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

/**
 * A local OIDC issuer for tests: its own key pairs (jose), discovery and JWKS served over HTTP
 * on loopback, and signing of GitHub-Actions- and Kubernetes-shaped tokens.
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
  let url = '';
  const server = http.createServer((req, res) => {
    if (req.url === '/.well-known/openid-configuration') {
      res.setHeader('content-type', 'application/json');
      return res.end(JSON.stringify({ issuer: url, jwks_uri: `${url}/jwks`, id_token_signing_alg_values_supported: ['RS256'] }));
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

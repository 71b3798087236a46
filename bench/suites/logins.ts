import { githubClaims, startIssuer } from '../../tests/support/oidc-issuer.js';
import { runLoad, startDevServer, type BenchRow, type BenchSuite } from '../lib.js';

/**
 * Logins per second at 16 connections: AppRole (secret id with no use limit) and JWT with the
 * issuer's JWKS cached after the first login. A login is one credential check (HMAC lookup, or
 * one RS256 signature verification) plus one token insert and its audit event. Median of
 * REPEATS runs, every run shown.
 */
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const CONNECTIONS = 16;

export const loginsSuite: BenchSuite = {
  name: 'logins',
  async run(): Promise<BenchRow[]> {
    const rows: BenchRow[] = [];
    // FULL (the default) fsyncs every login's commit; NORMAL shows the CPU-bound ceiling.
    for (const synchronous of (process.env.BENCH_LOGIN_SYNC ?? 'FULL,NORMAL').split(',')) rows.push(...(await runWith(synchronous)));
    return rows;
  },
};

async function runWith(synchronous: string): Promise<BenchRow[]> {
    const issuer = await startIssuer();
    const server = await startDevServer([], { CUSTOS_SQLITE_SYNCHRONOUS: synchronous });
    try {
      const headers = { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' };
      const call = async (method: string, path: string, body?: unknown) => {
        const r = await fetch(server.address + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
        const data = (await r.json()) as Record<string, any>;
        if (!r.ok) throw new Error(`setup ${method} ${path}: ${r.status} ${JSON.stringify(data)}`);
        return data;
      };
      await call('PUT', '/v1/policies/bench', { document: JSON.stringify({ rules: [{ path: 'prod/**', capabilities: ['read'] }] }) });
      await call('POST', '/v1/sys/auth/approle', { type: 'approle' });
      await call('PUT', '/v1/auth/approle/role/worker', { policies: ['bench'], token_ttl: '10m' });
      const { role_id: roleId } = await call('GET', '/v1/auth/approle/role/worker/role-id');
      const { secret_id: secretId } = await call('POST', '/v1/auth/approle/role/worker/secret-id', {});
      await call('POST', '/v1/sys/auth/github', { type: 'jwt', config: { oidc_discovery_url: issuer.url } });
      await call('PUT', '/v1/auth/github/role/deploy', { policies: ['bench'], token_ttl: '10m', bound_audiences: ['https://github.com/acme'], bound_claims: { repository: 'acme/*', ref: 'refs/heads/main' } });
      const jwt = await issuer.sign(githubClaims(), { expiresIn: 3600 });

      // Reference: the same token write without any credential check, to read the rows against on a busy machine.
      const cases = [
        { name: 'reference: POST /v1/tokens (root parent)', path: '/v1/tokens', auth: true, body: JSON.stringify({ policies: ['bench'], ttl: '10m' }) },
        { name: 'AppRole login', path: '/v1/auth/approle/login', auth: false, body: JSON.stringify({ role_id: roleId, secret_id: secretId }) },
        { name: 'JWT login (cached JWKS, RS256)', path: '/v1/auth/github/login', auth: false, body: JSON.stringify({ role: 'deploy', jwt }) },
      ];
      const rows: BenchRow[] = [];
      for (const c of cases) {
        const load = { url: server.address + c.path, connections: CONNECTIONS, method: 'POST', body: c.body, headers: c.auth ? headers : { 'content-type': 'application/json' } };
        await runLoad({ ...load, durationSec: 2 }); // warm-up (and the JWKS fetch)
        const runs = [];
        for (let i = 0; i < REPEATS; i++) {
          const r = await runLoad({ ...load, durationSec: 8 });
          if (r.non2xx > 0 || r.errors > 0) throw new Error(`${c.name} had ${r.non2xx} non-2xx and ${r.errors} errors`);
          runs.push(r);
        }
        const r = [...runs].sort((a, b) => a.rps - b.rps)[Math.floor(runs.length / 2)]!;
        rows.push({ suite: 'logins', case: `${c.name} (${CONNECTIONS} conn, sqlite ${synchronous})`, metrics: {
          connections: CONNECTIONS, 'logins/s': Math.round(r.rps), 'p50 ms': r.p50, 'p99 ms': r.p99, requests: r.requests,
          'all runs logins/s (p99 ms)': runs.map((x) => `${Math.round(x.rps)} (${x.p99})`).join(', '),
        } });
      }
      rows.push({ suite: 'logins', case: `JWKS fetches during the ${synchronous} runs`, metrics: { 'jwks fetches': issuer.jwksFetches() } });
      return rows;
    } finally {
      await server.stop();
      await issuer.close();
    }
}

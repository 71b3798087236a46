import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { SignJWT } from 'jose';
import { api, runCli, startServer, type RunningServer } from '../support/custos-server.js';
import { assertErrorBody, createSecret, writePolicy } from '../support/http-helpers.js';
import { advanceClock, enableMount, eventsOf, login, requestIdOf, writeRole } from '../support/auth-helpers.js';
import { githubClaims, kubernetesClaims, startIssuer, type LocalIssuer } from '../support/oidc-issuer.js';

/** JWT/OIDC workload identity against a local issuer: GitHub-Actions- and Kubernetes-shaped tokens, every refusal with its own code. */
describe('jwt auth', () => {
  let server: RunningServer;
  let github: LocalIssuer;
  let cluster: LocalIssuer;
  const jwts: string[] = [];
  const sign = async (claims: Record<string, unknown>, options: Parameters<LocalIssuer['sign']>[1] = {}, issuer = github) => {
    const jwt = await issuer.sign(claims, options);
    jwts.push(jwt);
    return jwt;
  };

  before(async () => {
    [github, cluster] = await Promise.all([startIssuer(), startIssuer()]);
    server = await startServer({ env: { CUSTOS_TESTING_CLOCK: '1' } });
    await writePolicy(server, 'prod-read', JSON.stringify({ rules: [{ path: 'prod/**', capabilities: ['read'] }] }));
    await writePolicy(server, 'all-read', JSON.stringify({ rules: [{ path: '**', capabilities: ['read'] }] }));
    await createSecret(server, 'prod/warehouse/db', 'prod-value');
    await createSecret(server, 'dev/warehouse/db', 'dev-value');
    await enableMount(server, 'github', 'jwt', { oidc_discovery_url: github.url, jwks_refresh_cooldown: 60, leeway: 30 });
    await writeRole(server, 'github', 'deploy-prod', {
      policies: ['prod-read'], token_ttl: '15m', bound_audiences: ['https://github.com/acme'],
      bound_claims: {
        repository: 'acme/warehouse', repository_owner: 'acme', ref: 'refs/heads/main', environment: 'production',
        event_name: ['push', 'workflow_dispatch'], job_workflow_ref: 'acme/warehouse/.github/workflows/*@refs/heads/main',
      },
    });
    await writeRole(server, 'github', 'ci-dev', {
      policies: ['all-read'], env: 'dev', bound_audiences: ['https://github.com/acme'], bound_claims: { repository_owner: 'acme', event_name: 'push', ref: 'refs/heads/*' },
    });
    await enableMount(server, 'k8s', 'jwt', { jwt_validation_pubkeys: [await cluster.publicPem()], bound_issuer: 'https://kubernetes.default.svc' });
    await writeRole(server, 'k8s', 'airflow-worker', {
      policies: ['all-read'], env: 'dev', bound_audiences: ['custos'], bound_subject: 'system:serviceaccount:airflow:worker',
      bound_claims: { '/kubernetes.io/namespace': 'airflow' },
    });
  });
  after(async () => {
    await server.stop();
    server.cleanup();
    await Promise.all([github.close(), cluster.close()]);
  });

  async function refused(mount: string, role: string, jwt: string, status: number, code: string, what: string) {
    const r = await login(server, mount, { role, jwt });
    assertErrorBody(r, status, code, what);
    const events = await eventsOf(server, requestIdOf(r));
    assert.equal(events.length, 1, `${what}: one audit event`);
    assert.equal(events[0].operation, 'auth.login');
    assert.equal(events[0].error_code, code, what);
    assert.equal(events[0].detail.method, 'jwt');
    assert.ok(!JSON.stringify(events).includes(jwt), `${what}: the JWT is not in the audit event`);
    return r;
  }

  test('a GitHub Actions token from main of the bound repository and environment gets the prod policies', async () => {
    const jwt = await sign(githubClaims());
    const r = await login(server, 'github', { role: 'deploy-prod', jwt });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.policies, ['prod-read']);
    assert.equal(r.body.ttl_seconds, 900);
    assert.equal(r.body.auth_role, 'deploy-prod');
    assert.equal((await api(server, 'GET', '/v1/values/prod/warehouse/db', { token: r.body.token })).body.value, 'prod-value');
    const [event] = await eventsOf(server, requestIdOf(r));
    assert.equal(event.outcome, 'success');
    assert.equal(event.detail.method, 'jwt');
    assert.equal(event.detail.mount, 'github');
    assert.equal(event.detail.role, 'deploy-prod');
    const matched = JSON.parse(event.detail.matched);
    assert.equal(matched.repository, 'acme/warehouse');
    assert.equal(matched.ref, 'refs/heads/main');
    assert.equal(matched.environment, 'production');
    assert.ok(!JSON.stringify(event).includes(jwt));
  });

  test('each forged or mismatched token is refused with its own code and audited', async () => {
    const t = Math.floor(Date.now() / 1000);
    await refused('github', 'deploy-prod', await sign(githubClaims({ aud: 'https://github.com/evil' })), 401, 'jwt_audience_mismatch', 'wrong aud');
    const wrongRepo = await refused('github', 'deploy-prod', await sign(githubClaims({ repository: 'acme/other' })), 403, 'jwt_claim_mismatch', 'wrong repository');
    assert.equal(wrongRepo.body.error.details.claim, 'repository');
    const wrongRef = await refused('github', 'deploy-prod', await sign(githubClaims({ ref: 'refs/heads/feature' })), 403, 'jwt_claim_mismatch', 'wrong ref');
    assert.equal(wrongRef.body.error.details.claim, 'ref');
    await refused('github', 'deploy-prod', await sign(githubClaims(), { issuedAt: t - 900, expiresIn: -120 }), 401, 'jwt_expired', 'expired');
    await refused('github', 'deploy-prod', await sign(githubClaims(), { notBefore: t + 600 }), 401, 'jwt_not_yet_valid', 'nbf in the future');
    await refused('github', 'deploy-prod', await sign(githubClaims(), { issuedAt: t + 600 }), 401, 'jwt_issued_in_future', 'iat in the future');
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...githubClaims(), iss: github.url, iat: t, exp: t + 300 })}.`;
    await refused('github', 'deploy-prod', none, 401, 'jwt_algorithm_not_allowed', 'alg none');
    // The classic confusion attack: HMAC keyed with the issuer's public key.
    const hmac = await new SignJWT(githubClaims()).setProtectedHeader({ alg: 'HS256', kid: github.kid }).setIssuer(github.url).setIssuedAt(t).setExpirationTime(t + 300)
      .sign(new TextEncoder().encode(await github.publicPem()));
    await refused('github', 'deploy-prod', hmac, 401, 'jwt_algorithm_not_allowed', 'HS256 signed with the public key');
    await refused('github', 'deploy-prod', await sign(githubClaims(), { kid: 'nobody' }), 401, 'jwt_unknown_key', 'unknown kid');
    // Signed by another key under the issuer's real kid.
    const forged = await sign(githubClaims(), { kid: github.kid, issuer: github.url }, cluster);
    await refused('github', 'deploy-prod', forged, 401, 'jwt_signature_invalid', 'forged signature under a known kid');
    await refused('github', 'deploy-prod', await sign(githubClaims(), { issuer: 'https://token.actions.githubusercontent.com' }), 401, 'jwt_issuer_mismatch', 'another issuer');
    await refused('github', 'deploy-prod', 'not.a.jwt', 401, 'jwt_malformed', 'garbage');
    assertErrorBody(await login(server, 'github', { role: 'nope', jwt: await sign(githubClaims()) }), 404, 'role_not_found');
  });

  test('a pull request from a fork gets nothing', async () => {
    const fork = githubClaims({ event_name: 'pull_request', ref: 'refs/pull/7/merge', sub: 'repo:acme/warehouse:pull_request', environment: undefined, job_workflow_ref: 'acme/warehouse/.github/workflows/ci.yml@refs/pull/7/merge' });
    await refused('github', 'deploy-prod', await sign(fork), 403, 'jwt_claim_mismatch', 'fork PR vs prod role');
    await refused('github', 'ci-dev', await sign(fork), 403, 'jwt_claim_mismatch', 'fork PR vs dev role');
    // pull_request_target runs with the base ref but is still no push
    await refused('github', 'ci-dev', await sign(githubClaims({ event_name: 'pull_request_target' })), 403, 'jwt_claim_mismatch', 'pull_request_target');
  });

  test('an env-bound (dev) role never reaches prod/…, whatever its policies say', async () => {
    const r = await login(server, 'github', { role: 'ci-dev', jwt: await sign(githubClaims({ ref: 'refs/heads/feature' })) });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.env, 'dev');
    assert.equal((await api(server, 'GET', '/v1/values/dev/warehouse/db', { token: r.body.token })).status, 200);
    assertErrorBody(await api(server, 'GET', '/v1/values/prod/warehouse/db', { token: r.body.token }), 403, 'environment_denied');
    assertErrorBody(await api(server, 'POST', '/v1/batch/values', { token: r.body.token, body: { secrets: [{ name: 'prod/warehouse/db' }] } }).then((x) => ({ ...x, status: x.body.errors?.[0]?.status ?? x.status, body: { error: { code: x.body.errors?.[0]?.code, message: 'x', request_id: x.headers.get('x-request-id') } } })), 403, 'environment_denied', 'batch read');
  });

  test('Kubernetes service-account tokens verified with static PEM keys: subject and namespace bindings', async () => {
    const k8s = (ns: string, sa: string, aud = 'custos') => sign(kubernetesClaims(ns, sa, aud), { issuer: 'https://kubernetes.default.svc' }, cluster);
    const ok = await login(server, 'k8s', { role: 'airflow-worker', jwt: await k8s('airflow', 'worker') });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.env, 'dev');
    const [event] = await eventsOf(server, requestIdOf(ok));
    assert.equal(JSON.parse(event.detail.matched)['/kubernetes.io/namespace'], 'airflow');
    await refused('k8s', 'airflow-worker', await k8s('airflow', 'scheduler'), 403, 'jwt_claim_mismatch', 'other service account');
    await refused('k8s', 'airflow-worker', await k8s('spark', 'worker'), 403, 'jwt_claim_mismatch', 'other namespace');
    await refused('k8s', 'airflow-worker', await k8s('airflow', 'worker', 'https://kubernetes.default.svc'), 401, 'jwt_audience_mismatch', 'API-server audience');
    await refused('k8s', 'airflow-worker', await sign(kubernetesClaims('airflow', 'worker'), { issuer: 'https://kubernetes.default.svc' }, github), 401, 'jwt_signature_invalid', 'another cluster\'s key');
  });

  test('JWKS: refreshed on an unknown kid at most once per cooldown; a rotated-out key is refused', async () => {
    const before = github.jwksFetches();
    for (let i = 0; i < 5; i++) await refused('github', 'deploy-prod', await sign(githubClaims(), { kid: `made-up-${i}` }), 401, 'jwt_unknown_key', 'made-up kid');
    assert.ok(github.jwksFetches() - before <= 1, `refresh rate-limited: ${github.jwksFetches() - before} fetches`);
    const retired = await github.rotate();
    const fresh = await sign(githubClaims());
    await refused('github', 'deploy-prod', fresh, 401, 'jwt_unknown_key', 'new kid inside the cooldown');
    await advanceClock(server, '61s');
    const r = await login(server, 'github', { role: 'deploy-prod', jwt: fresh });
    assert.equal(r.status, 200, `new key accepted after the cooldown: ${JSON.stringify(r.body)}`);
    await refused('github', 'deploy-prod', await sign(githubClaims(), { kid: retired.kid, key: retired.privateKey }), 401, 'jwt_unknown_key', 'token signed by the rotated-out key');
  });

  test('mount and role settings refuse unsafe choices', async () => {
    const bad = async (config: Record<string, unknown>, what: string) =>
      assertErrorBody(await api(server, 'POST', '/v1/sys/auth/bad', { token: server.token, body: { type: 'jwt', config } }), 400, 'validation_failed', what);
    await bad({ jwks_url: github.jwksUrl, bound_issuer: github.url, jwt_supported_algs: ['none'] }, 'alg none');
    await bad({ jwks_url: github.jwksUrl, bound_issuer: github.url, jwt_supported_algs: ['HS256'] }, 'HMAC');
    await bad({ jwks_url: 'http://example.com/jwks', bound_issuer: 'x' }, 'plain http off-machine');
    await bad({ jwks_url: github.jwksUrl }, 'no bound issuer');
    await bad({ jwks_url: github.jwksUrl, oidc_discovery_url: github.url }, 'two key sources');
    await bad({ jwt_validation_pubkeys: ['-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----'], bound_issuer: 'x' }, 'bad PEM');
    await enableMount(server, 'jwks', 'jwt', { jwks_url: github.jwksUrl, bound_issuer: github.url });
    assertErrorBody(await api(server, 'PUT', '/v1/auth/jwks/role/r', { token: server.token, body: { policies: ['all-read'] } }), 400, 'validation_failed', 'no bound_audiences');
    await writeRole(server, 'jwks', 'r', { policies: ['all-read'], env: 'dev', bound_audiences: ['https://github.com/acme'] });
    const r = await login(server, 'jwks', { role: 'r', jwt: await sign(githubClaims()) });
    assert.equal(r.status, 200, `jwks_url mount: ${JSON.stringify(r.body)}`);
  });

  test('CLI: custos login jwt --role R --jwt-file F', async () => {
    const file = path.join(server.home, 'gh.jwt');
    writeFileSync(file, await sign(githubClaims({ ref: 'refs/heads/dev' })));
    const out = await runCli(['login', 'jwt', '--mount', 'github', '--role', 'ci-dev', '--jwt-file', file, '--json'], { server });
    assert.equal(out.code, 0, out.stderr);
    assert.equal(JSON.parse(out.stdout).env, 'dev');
    const denied = await runCli(['login', 'jwt', '--mount', 'github', '--role', 'deploy-prod', '--jwt-file', file], { server });
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /jwt_claim_mismatch/);
  });

  test('no JWT appears in the server output', () => {
    for (const jwt of jwts) assert.ok(!server.output().includes(jwt));
  });
});

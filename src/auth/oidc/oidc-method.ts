import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { jwtVerify, type JWTPayload } from 'jose';
import { z } from 'zod';
import { AppError } from '../../errors/app-error.js';
import type { AuthStore } from '../../storage/auth-store.js';
import type { OidcStateStore } from '../../storage/oidc-state-store.js';
import type { Database } from '../../storage/schema.js';
import type { AuthMethod } from '../auth-method.types.js';
import { claimAt, globMatches, matchClaim } from '../jwt/claim-glob.js';
import { ASYMMETRIC_ALGS, refusal } from '../jwt/jwt-method.js';
import { checkKeyUrl, createKeySource, type KeySource } from '../jwt/jwt-keys.js';
import { parseOrThrow, tokenFieldsOf, tokenFieldsShape, type RoleTokenFields } from '../role-common.js';
import { discoverProvider, exchangeCode, type ProviderEndpoints } from './oidc-provider.js';

/**
 * OIDC authorization-code login with PKCE, for people (the web UI, `custos login oidc`).
 * Custos is a public client: no client secret is stored. A login starts with `startLogin`
 * (the URL to send the browser to, with a fresh `state`) and ends with `login` (the browser's
 * `state` and `code`): the state is spent once, the code is traded with the PKCE verifier, and
 * the ID token must carry this login's nonce. The verifier and nonce are never stored: they are
 * keyed hashes of the state, so the database holds nothing that completes a login.
 */
const MountSchema = z.strictObject({
  oidc_discovery_url: z.string().max(512),
  oidc_client_id: z.string().min(1).max(256),
  allowed_redirect_uris: z.array(z.string().min(1).max(512)).min(1).max(16),
  oidc_scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,64}$/, 'a scope is one word')).max(16).optional(),
  jwt_supported_algs: z.array(z.enum(ASYMMETRIC_ALGS)).min(1).optional(),
  leeway: z.number().int().min(0).max(300).optional(),
  jwks_refresh_cooldown: z.number().int().min(0).max(3600).optional(),
  jwks_max_age: z.number().int().min(10).max(86_400).optional(),
  state_ttl_seconds: z.number().int().min(30).max(3600).optional(),
});
type MountConfig = Required<z.infer<typeof MountSchema>>;

const Patterns = z.union([z.string().min(1).max(512), z.array(z.string().min(1).max(512)).min(1).max(64)]).transform((v) => (Array.isArray(v) ? v : [v]));
const RoleSchema = z.strictObject({
  ...tokenFieldsShape,
  bound_audiences: z.array(z.string().min(1).max(512)).min(1).max(32).optional(),
  bound_subject: z.string().min(1).max(512).optional(),
  bound_claims: z.record(z.string().min(1).max(256), Patterns).optional(),
  user_claim: z.string().min(1).max(256).optional(),
  groups_claim: z.string().min(1).max(256).optional(),
  group_policies: z.record(z.string().min(1).max(256), z.array(z.string().min(1).max(128)).min(1).max(64)).optional(),
});
interface OidcRoleConfig {
  bound_audiences: string[] | null;
  bound_subject: string | null;
  bound_claims: Record<string, string[]>;
  user_claim: string;
  groups_claim: string | null;
  group_policies: Record<string, string[]>;
}

const StartSchema = z.strictObject({ role: z.string().min(1).max(128), redirect_uri: z.string().min(1).max(512) });
const CallbackSchema = z.strictObject({ state: z.string().min(20).max(128), code: z.string().min(1).max(4096) });

export interface OidcMethodDeps {
  db: Kysely<Database>;
  authStore: AuthStore;
  stateStore: OidcStateStore;
  /** Keyed hash under the barrier's token key: state -> stored id, PKCE verifier, nonce. */
  keyedHash: (text: string) => string;
  now: () => number;
}

const s256 = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');

export function createOidcMethod(deps: OidcMethodDeps): AuthMethod {
  const { db, authStore, stateStore, keyedHash, now } = deps;
  const providers = new Map<string, { config: string; endpoints: Promise<ProviderEndpoints>; keys: KeySource }>();
  const derived = (state: string) => ({ id: keyedHash(`oidc-state:${state}`), verifier: keyedHash(`oidc-pkce:${state}`), nonce: keyedHash(`oidc-nonce:${state}`) });

  function providerOf(mount: string, configText: string, config: MountConfig) {
    let entry = providers.get(mount);
    if (!entry || entry.config !== configText) {
      const endpoints = discoverProvider(config.oidc_discovery_url);
      endpoints.catch(() => providers.delete(mount)); // an unreachable provider is asked again next time
      entry = { config: configText, endpoints, keys: createKeySource(config, now) };
      providers.set(mount, entry);
    }
    return entry;
  }

  const roleOf = async (mount: string, name: string) => {
    const role = await authStore.findRole(db, mount, name);
    if (!role) throw new AppError('role_not_found', `no role "${name}" on mount "${mount}"`);
    return { role, stored: JSON.parse(role.config) as { token: RoleTokenFields; config: OidcRoleConfig } };
  };

  return {
    type: 'oidc',
    hasRoleIds: false,
    forget(mount) {
      if (mount === '*') providers.clear();
      else providers.delete(mount);
    },
    async parseMountConfig(raw) {
      const c = parseOrThrow(MountSchema, raw, 'oidc mount config');
      checkKeyUrl(c.oidc_discovery_url, 'oidc_discovery_url');
      for (const uri of c.allowed_redirect_uris) checkKeyUrl(uri, 'allowed_redirect_uris');
      return {
        ...c, oidc_scopes: c.oidc_scopes ?? [], jwt_supported_algs: c.jwt_supported_algs ?? ['RS256', 'ES256'], leeway: c.leeway ?? 30,
        jwks_refresh_cooldown: c.jwks_refresh_cooldown ?? 30, jwks_max_age: c.jwks_max_age ?? 600, state_ttl_seconds: c.state_ttl_seconds ?? 300,
      };
    },
    parseRole(raw) {
      const r = parseOrThrow(RoleSchema, raw, 'oidc role');
      const groupPolicies = r.group_policies ?? {};
      const grants = Object.values(groupPolicies).flat();
      if (grants.some((p) => p.toLowerCase() === 'root')) throw new AppError('validation_failed', 'a role can never grant the root policy');
      if (Object.keys(groupPolicies).length > 0 && !r.groups_claim) throw new AppError('validation_failed', 'group_policies needs groups_claim (the ID token claim listing the user\'s groups)');
      const config: OidcRoleConfig = {
        bound_audiences: r.bound_audiences ?? null, bound_subject: r.bound_subject ?? null, bound_claims: r.bound_claims ?? {},
        user_claim: r.user_claim ?? 'sub', groups_claim: r.groups_claim ?? null, group_policies: groupPolicies,
      };
      return { token: tokenFieldsOf(r), config: config as unknown as Record<string, unknown>, grants };
    },

    async startLogin(mount, request, note) {
      const body = parseOrThrow(StartSchema, request.body, 'oidc login start');
      const config = JSON.parse(mount.config) as MountConfig;
      await roleOf(mount.path, body.role);
      note({ role: body.role });
      // Exact match only: a redirect to anywhere else would hand the code to whoever runs it.
      if (!config.allowed_redirect_uris.includes(body.redirect_uri)) throw new AppError('oidc_redirect_not_allowed', 'the redirect_uri is not one this mount allows');
      const { authorizationEndpoint } = await providerOf(mount.path, mount.config, config).endpoints;
      const state = randomBytes(32).toString('base64url');
      const { id, verifier, nonce } = derived(state);
      const at = now();
      await stateStore.deleteExpired(db, at);
      await stateStore.insert(db, { state_hash: id, mount: mount.path, role: body.role, redirect_uri: body.redirect_uri, created_at: at, expires_at: at + config.state_ttl_seconds * 1000 });
      const url = new URL(authorizationEndpoint);
      const params = {
        response_type: 'code', client_id: config.oidc_client_id, redirect_uri: body.redirect_uri, scope: ['openid', ...config.oidc_scopes].join(' '),
        state, nonce, code_challenge: s256(verifier), code_challenge_method: 'S256',
      };
      for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
      return { auth_url: url.toString(), expires_at: new Date(at + config.state_ttl_seconds * 1000).toISOString() };
    },

    async login(mount, request, note) {
      const body = parseOrThrow(CallbackSchema, request.body, 'oidc callback');
      const config = JSON.parse(mount.config) as MountConfig;
      const { id, verifier, nonce } = derived(body.state);
      const pending = await stateStore.spend(db, id);
      if (!pending || pending.mount !== mount.path) throw new AppError('oidc_state_invalid', 'the login state is unknown or was already used; start the login again');
      if (pending.expires_at <= now()) throw new AppError('oidc_state_invalid', 'the login state expired; start the login again');
      const { role, stored } = await roleOf(mount.path, pending.role);
      note({ role: role.name });
      const provider = providerOf(mount.path, mount.config, config);
      const idToken = await exchangeCode((await provider.endpoints).tokenEndpoint, { code: body.code, redirectUri: pending.redirect_uri, clientId: config.oidc_client_id, codeVerifier: verifier });
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(idToken, provider.keys.resolver, {
          issuer: (await provider.endpoints).issuer, audience: stored.config.bound_audiences ?? config.oidc_client_id, algorithms: config.jwt_supported_algs,
          clockTolerance: config.leeway, currentDate: new Date(now()), requiredClaims: ['exp', 'iat', 'sub'],
        }));
      } catch (error) {
        throw refusal(error);
      }
      if (payload.nonce !== nonce) throw new AppError('oidc_nonce_mismatch', 'the ID token was not issued for this login (nonce)');
      const claims = payload as Record<string, unknown>;
      const matched: Record<string, string> = { iss: String(payload.iss), sub: String(payload.sub) };
      note({ subject: matched.sub! });
      const mismatch = (claim: string) => new AppError('jwt_claim_mismatch', `the ID token's "${claim}" claim does not match the role`, { details: { claim } });
      if (stored.config.bound_subject !== null && !globMatches(stored.config.bound_subject, String(payload.sub))) throw mismatch('sub');
      for (const [claim, patterns] of Object.entries(stored.config.bound_claims)) {
        const value = matchClaim(claimAt(claims, claim), patterns);
        if (value === null) throw mismatch(claim);
        matched[claim] = value;
      }
      // Groups from the provider become policies only through the role's explicit mapping.
      const policies = new Set(stored.token.policies);
      if (stored.config.groups_claim) {
        const groups = claimAt(claims, stored.config.groups_claim);
        const list = Array.isArray(groups) ? groups.filter((g): g is string => typeof g === 'string') : typeof groups === 'string' ? [groups] : [];
        const mapped = list.filter((g) => Object.hasOwn(stored.config.group_policies, g));
        for (const g of mapped) for (const p of stored.config.group_policies[g]!) policies.add(p);
        if (mapped.length > 0) matched.groups = mapped.join(',');
      }
      const user = claimAt(claims, stored.config.user_claim);
      return {
        role, token: { ...stored.token, policies: [...policies] }, matched,
        displayName: `oidc-${mount.path}-${typeof user === 'string' ? user.slice(0, 80) : role.name}`,
      };
    },
  };
}

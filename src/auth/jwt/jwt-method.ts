import type { Kysely } from 'kysely';
import { jwtVerify, type JWTPayload } from 'jose';
import { z } from 'zod';
import { AppError } from '../../errors/app-error.js';
import type { AuthStore } from '../../storage/auth-store.js';
import type { Database } from '../../storage/schema.js';
import type { AuthMethod } from '../auth-method.types.js';
import { parseOrThrow, tokenFieldsOf, tokenFieldsShape, type RoleTokenFields } from '../role-common.js';
import { claimAt, globMatches, matchClaim } from './claim-glob.js';
import type { LoginLookups } from '../login-lookups.js';
import { checkKeyUrl, createKeySource, pemKeySet, type KeySource } from './jwt-keys.js';

/** Asymmetric algorithms only: `none` and HMAC (where a public key could be abused as the secret) are never accepted. */
export const ASYMMETRIC_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;

const MountSchema = z.strictObject({
  oidc_discovery_url: z.string().max(512).optional(),
  jwks_url: z.string().max(512).optional(),
  jwt_validation_pubkeys: z.array(z.string().max(16_384)).min(1).max(32).optional(),
  bound_issuer: z.string().min(1).max(512).optional(),
  jwt_supported_algs: z.array(z.enum(ASYMMETRIC_ALGS, { error: `allowed algorithms are ${ASYMMETRIC_ALGS.join(', ')} (never none or HMAC)` })).min(1).optional(),
  leeway: z.number().int().min(0).max(300).optional(),
  jwks_refresh_cooldown: z.number().int().min(0).max(3600).optional(),
  jwks_max_age: z.number().int().min(10).max(86_400).optional(),
});
type MountConfig = Required<Pick<z.infer<typeof MountSchema>, 'bound_issuer' | 'jwt_supported_algs' | 'leeway' | 'jwks_refresh_cooldown' | 'jwks_max_age'>> & z.infer<typeof MountSchema>;

const Patterns = z.union([z.string().min(1).max(512), z.array(z.string().min(1).max(512)).min(1).max(64)]).transform((v) => (Array.isArray(v) ? v : [v]));
const RoleSchema = z.strictObject({
  ...tokenFieldsShape,
  bound_audiences: z.array(z.string().min(1).max(512)).min(1, 'bound_audiences must name at least one audience').max(32),
  bound_subject: z.string().min(1).max(512).optional(),
  bound_claims: z.record(z.string().min(1).max(256), Patterns).optional(),
  user_claim: z.string().min(1).max(256).optional(),
});
interface JwtRoleConfig { bound_audiences: string[]; bound_subject: string | null; bound_claims: Record<string, string[]>; user_claim: string }

const LoginSchema = z.strictObject({ role: z.string().min(1).max(128), jwt: z.string().min(1).max(16_384) });

export interface JwtMethodDeps {
  db: Kysely<Database>;
  authStore: AuthStore;
  now: () => number;
  /** Role rows reused briefly across logins (a JWT login changes nothing in them). */
  lookups?: Pick<LoginLookups, 'findRole'>;
}

/** Maps jose's failures to our stable codes; each refusal class has its own. */
export function refusal(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const e = error as { code?: string; claim?: string };
  switch (e.code) {
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return new AppError('jwt_algorithm_not_allowed', 'the JWT\'s algorithm is not allowed on this mount');
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return new AppError('jwt_unknown_key', 'no key of the issuer matches the JWT (unknown kid)');
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return new AppError('jwt_signature_invalid', 'the JWT\'s signature is not valid');
    case 'ERR_JWT_EXPIRED':
      return new AppError('jwt_expired', 'the JWT has expired');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (e.claim === 'nbf') return new AppError('jwt_not_yet_valid', 'the JWT is not valid yet (nbf)');
      if (e.claim === 'iss') return new AppError('jwt_issuer_mismatch', 'the JWT was issued by another issuer');
      if (e.claim === 'aud') return new AppError('jwt_audience_mismatch', 'the JWT\'s audience is not one this role accepts');
      return new AppError('jwt_malformed', `the JWT's "${e.claim ?? '?'}" claim is missing or invalid`);
  }
  return new AppError('jwt_malformed', 'the JWT is malformed', { cause: error });
}

/**
 * JWT/OIDC workload identity (GitHub Actions, Kubernetes service accounts, any OIDC issuer).
 * A login verifies signature, issuer, audience and times with `jose`, then the role's subject
 * and claim bindings; the token gets the role's policies.
 */
export function createJwtMethod(deps: JwtMethodDeps): AuthMethod & { keySource(mount: string): KeySource | undefined } {
  const { db, authStore, now } = deps;
  const sources = new Map<string, { config: string; source: Promise<KeySource> }>();

  function sourceFor(mount: string, configText: string, config: MountConfig) {
    let entry = sources.get(mount);
    if (!entry || entry.config !== configText) {
      const source = (async () => createKeySource(config, now, config.jwt_validation_pubkeys ? await pemKeySet(config.jwt_validation_pubkeys) : undefined))();
      entry = { config: configText, source };
      sources.set(mount, entry);
    }
    return entry.source;
  }
  const resolved = new Map<string, KeySource>();

  return {
    type: 'jwt',
    hasRoleIds: false,
    keySource: (mount) => resolved.get(mount),
    forget(mount) {
      if (mount === '*') sources.clear();
      else sources.delete(mount);
    },
    async parseMountConfig(raw) {
      const c = parseOrThrow(MountSchema, raw, 'jwt mount config');
      const given = [c.oidc_discovery_url, c.jwks_url, c.jwt_validation_pubkeys].filter((v) => v !== undefined).length;
      if (given !== 1) throw new AppError('validation_failed', 'set exactly one of oidc_discovery_url, jwks_url, jwt_validation_pubkeys');
      if (c.oidc_discovery_url) checkKeyUrl(c.oidc_discovery_url, 'oidc_discovery_url');
      if (c.jwks_url) checkKeyUrl(c.jwks_url, 'jwks_url');
      if (c.jwt_validation_pubkeys) await pemKeySet(c.jwt_validation_pubkeys);
      const boundIssuer = c.bound_issuer ?? c.oidc_discovery_url;
      if (!boundIssuer) throw new AppError('validation_failed', 'bound_issuer is required unless oidc_discovery_url names the issuer');
      return { ...c, bound_issuer: boundIssuer, jwt_supported_algs: c.jwt_supported_algs ?? ['RS256', 'ES256'], leeway: c.leeway ?? 30, jwks_refresh_cooldown: c.jwks_refresh_cooldown ?? 30, jwks_max_age: c.jwks_max_age ?? 600 };
    },
    parseRole(raw) {
      const r = parseOrThrow(RoleSchema, raw, 'jwt role');
      const config: JwtRoleConfig = { bound_audiences: r.bound_audiences, bound_subject: r.bound_subject ?? null, bound_claims: r.bound_claims ?? {}, user_claim: r.user_claim ?? 'sub' };
      return { token: tokenFieldsOf(r), config: config as unknown as Record<string, unknown> };
    },
    async login(mount, request, note) {
      const body = parseOrThrow(LoginSchema, request.body, 'jwt login');
      const role = deps.lookups ? await deps.lookups.findRole(mount.path, body.role) : await authStore.findRole(db, mount.path, body.role);
      if (!role) throw new AppError('role_not_found', `no role "${body.role}" on mount "${mount.path}"`);
      note({ role: role.name });
      const stored = JSON.parse(role.config) as { token: RoleTokenFields; config: JwtRoleConfig };
      const config = JSON.parse(mount.config) as MountConfig;
      const source = await sourceFor(mount.path, mount.config, config);
      resolved.set(mount.path, source);
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(body.jwt, source.resolver, {
          issuer: config.bound_issuer, audience: stored.config.bound_audiences, algorithms: config.jwt_supported_algs,
          clockTolerance: config.leeway, currentDate: new Date(now()), requiredClaims: ['exp', 'iat'],
        }));
      } catch (error) {
        throw refusal(error);
      }
      if (typeof payload.iat === 'number' && payload.iat * 1000 > now() + config.leeway * 1000) throw new AppError('jwt_issued_in_future', 'the JWT claims to be issued in the future (iat)');
      const claims = payload as Record<string, unknown>;
      const matched: Record<string, string> = { iss: String(payload.iss), sub: String(payload.sub ?? '') };
      note({ subject: matched.sub! });
      const mismatch = (claim: string) => new AppError('jwt_claim_mismatch', `the JWT's "${claim}" claim does not match the role`, { details: { claim } });
      if (stored.config.bound_subject !== null) {
        if (typeof payload.sub !== 'string' || !globMatches(stored.config.bound_subject, payload.sub)) throw mismatch('sub');
      }
      for (const [claim, patterns] of Object.entries(stored.config.bound_claims)) {
        const value = matchClaim(claimAt(claims, claim), patterns);
        if (value === null) {
          note({ mismatched_claim: claim });
          throw mismatch(claim);
        }
        matched[claim] = value;
      }
      const user = claimAt(claims, stored.config.user_claim);
      return {
        role, token: stored.token, matched,
        displayName: `jwt-${mount.path}-${typeof user === 'string' ? user.slice(0, 80) : role.name}`,
      };
    },
  };
}

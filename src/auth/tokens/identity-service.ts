import type { Kysely } from 'kysely';
import { auditedTransaction, transaction, type TransactionRunner } from '../../storage/transaction.js';
import { newAccessor, newToken, TOKEN_PATTERN } from '../../crypto/tokens.js';
import { parseCidrs, type CidrSet } from '../../lib/cidr.js';
import { AppError } from '../../errors/app-error.js';
import type { ChangeBus } from '../../lib/change-bus.js';
import type { Database, Queryable } from '../../storage/schema.js';
import type { TokenRow, TokenStore } from '../../storage/token-store.js';
import type { AwsKeyStore } from '../../storage/aws-key-store.js';
import { requireHeldPolicies } from '../../policy/grants.js';
import { buildToken, type TokenSpec } from './token-issuer.js';
import type { Authorizer } from '../../services/authorizer.js';
import type { Identity } from '../identity.types.js';

import { DEFAULT_TOKEN_TTL_SECONDS } from './token-issuer.js';
export { DEFAULT_TOKEN_TTL_SECONDS, DEFAULT_TOKEN_MAX_TTL_SECONDS } from './token-issuer.js';

export interface CreateTokenInput {
  policies: string[];
  ttlSeconds?: number;
  maxTtlSeconds?: number;
  env?: string | null;
  displayName?: string;
  /** Accept policy names that do not exist yet (they grant nothing until written). */
  allowMissingPolicies?: boolean;
}

export interface TokenInfo {
  accessor: string;
  displayName: string;
  policies: string[];
  env: string | null;
  isRoot: boolean;
  parentAccessor: string | null;
  createdAt: number;
  expiresAt: number | null;
  maxExpiresAt: number | null;
  ttlSeconds: number | null;
  revoked: boolean;
  /** The auth mount and role whose login issued the token. */
  authMount: string | null;
  authRole: string | null;
  boundCidrs: string[] | null;
}

export interface IdentityServiceDeps {
  db: Kysely<Database>;
  tokenStore: TokenStore;
  authorizer: Authorizer;
  hashToken: (token: string) => string;
  /** AWS access keys die with the token that made them: revoked in the same transaction as its tree. */
  awsKeys: Pick<AwsKeyStore, 'revokeCreatedBy'>;
  changes: ChangeBus;
  now: () => number;
  /** Policies a token gets through group membership (groups service); none when absent. */
  groupPolicies?: (token: { accessor: string; authMount: string | null; authRole: string | null }) => Promise<string[]>;
  /** Runs a new token's transaction, possibly sharing its commit with others (SQLite's group commit); absent: its own. */
  sharedCommit?: TransactionRunner;
}

function toIdentity(row: TokenRow): Identity {
  return {
    accessor: row.accessor,
    displayName: row.display_name,
    policies: JSON.parse(row.policies) as string[],
    env: row.env,
    isRoot: row.is_root === 1,
    expiresAt: row.expires_at,
  };
}

function toInfo(row: TokenRow): TokenInfo {
  return {
    ...toIdentity(row),
    parentAccessor: row.parent_accessor,
    createdAt: row.created_at,
    maxExpiresAt: row.max_expires_at,
    ttlSeconds: row.ttl_seconds,
    revoked: row.revoked_at !== null,
    authMount: row.auth_mount ?? null,
    authRole: row.auth_role ?? null,
    boundCidrs: row.bound_cidrs ? (JSON.parse(row.bound_cidrs) as string[]) : null,
  };
}

/** Tokens: creation with narrowing rules, authentication, renewal and tree revocation. */
export function createIdentityService(deps: IdentityServiceDeps) {
  const { db, tokenStore, authorizer, now } = deps;
  // Authentication cache: token -> row (keyed by the token so a hit skips the HMAC; tokens
  // are in memory with every request anyway). Short-lived and dropped on any token change,
  // so a revocation takes effect at once on this node and within a second elsewhere.
  const cache = new Map<string, { row: TokenRow; cachedAt: number; cidrs: CidrSet | null }>();
  const CACHE_MS = 1000;
  deps.changes.subscribe((topic) => {
    if (topic === 'token') cache.clear();
  });

  async function findByAccessor(accessor: string): Promise<TokenRow> {
    const row = await tokenStore.findByAccessor(db, accessor);
    if (!row) throw new AppError('token_not_found', 'no token has that accessor');
    return row;
  }

  return {
    /** Creates the root token during initialization; the only token with no parent and no expiry. */
    async createRootToken(tx: Queryable): Promise<string> {
      const token = newToken();
      await tokenStore.insert(tx, {
        accessor: newAccessor(), token_hash: deps.hashToken(token), parent_accessor: null, display_name: 'root',
        policies: JSON.stringify(['root']), env: null, is_root: 1, created_at: now(), ttl_seconds: null, expires_at: null, max_expires_at: null, revoked_at: null,
      });
      return token;
    },

    /**
     * Resolves a presented token to an identity, or throws a 401-class error. `onKnown` learns
     * the accessor of a known token even when it is refused (revoked, expired), for the audit log.
     */
    async authenticate(token: string | undefined, onKnown?: (accessor: string) => void, source?: string): Promise<Identity> {
      if (!token) throw new AppError('missing_token', 'a token is required (Authorization: Bearer <token>)');
      if (!TOKEN_PATTERN.test(token)) throw new AppError('invalid_token', 'the token is not valid');
      const at = now();
      let entry = cache.get(token);
      if (!entry || at - entry.cachedAt > CACHE_MS) {
        const row = await tokenStore.findByHash(db, deps.hashToken(token));
        if (!row) throw new AppError('invalid_token', 'the token is not valid');
        entry = { row, cachedAt: at, cidrs: row.bound_cidrs ? parseCidrs(JSON.parse(row.bound_cidrs) as string[]) : null };
        if (cache.size > 10_000) cache.clear();
        cache.set(token, entry);
      }
      const row = entry.row;
      onKnown?.(row.accessor);
      if (row.revoked_at !== null) throw new AppError('token_revoked', 'the token was revoked');
      if (row.expires_at !== null && row.expires_at <= at) throw new AppError('token_expired', 'the token has expired');
      // A CIDR-bound token (AppRole's token_bound_cidrs) is worthless away from its network.
      if (entry.cidrs && !entry.cidrs.contains(source)) throw new AppError('source_not_allowed', 'the token may not be used from this address');
      const identity = toIdentity(row);
      if (deps.groupPolicies && row.is_root !== 1) {
        const extra = await deps.groupPolicies({ accessor: row.accessor, authMount: row.auth_mount ?? null, authRole: row.auth_role ?? null });
        if (extra.length > 0) identity.groupPolicies = extra;
      }
      return identity;
    },

    /**
     * Issues a login's token inside the auth method's transaction (so, e.g., an AppRole secret
     * id's use and the token it bought commit together). The method decided policies and limits.
     */
    async issueWithin(tx: Queryable, spec: Omit<TokenSpec, 'parentAccessor' | 'notAfter'>): Promise<{ token: string; info: TokenInfo }> {
      const { token, row } = buildToken({ ...spec, parentAccessor: null, notAfter: null }, now(), deps.hashToken);
      await tokenStore.insert(tx, row);
      return { token, info: toInfo(row) };
    },

    /** Revokes every token (and its children) a mount's logins issued: used when the mount is disabled. */
    async revokeIssuedBy(tx: Queryable, mount: string): Promise<number> {
      let count = 0;
      const at = now();
      for (const accessor of await tokenStore.accessorsByMount(tx, mount)) {
        const accessors = await tokenStore.revokeTree(tx, accessor, at);
        await deps.awsKeys.revokeCreatedBy(tx, accessors, at); // keys die with the tokens that made them
        count += accessors.length;
      }
      return count; // the caller publishes the change once its transaction committed
    },

    /** Tells every node's authentication cache that tokens changed (after a commit). */
    tokensChanged(): void {
      deps.changes.publish('token', '*');
    },

    /** Creates a child token of `caller`: policies must be a subset and the env binding can only narrow. */
    async create(caller: Identity, input: CreateTokenInput): Promise<{ token: string; info: TokenInfo }> {
      await authorizer.require(caller, 'create', 'sys:tokens');
      for (const name of input.policies) {
        if (name === 'root' && !caller.isRoot) throw new AppError('permission_denied', 'only a root token can create another root token');
      }
      requireHeldPolicies(caller, input.policies, 'a token');
      await authorizer.requireKnownPolicies(input.policies, input.allowMissingPolicies);
      const env = input.env ?? caller.env;
      if (caller.env !== null && env !== caller.env) throw new AppError('environment_denied', `a token bound to "${caller.env}" can only create tokens bound to it`);
      // A child never outlives its parent.
      const { token, row } = buildToken({
        policies: input.policies, ttlSeconds: input.ttlSeconds, maxTtlSeconds: input.maxTtlSeconds, env, displayName: input.displayName,
        parentAccessor: caller.accessor === 'system' ? null : caller.accessor, notAfter: caller.expiresAt,
      }, now(), deps.hashToken);
      caller.audit?.annotate({ detail: { created_accessor: row.accessor } });
      const insert = (tx: Queryable) => tokenStore.insert(tx, row);
      await (deps.sharedCommit ? auditedTransaction(deps.sharedCommit, caller.audit, insert) : transaction(db, caller.audit, insert));
      return { token, info: toInfo(row) };
    },

    /**
     * A browser session's token: a child of `caller` with the same policies, environment
     * binding, CIDR binding and login origin (so group policies still apply), a short life, and
     * never outliving its parent. No `sys:tokens` check: it grants nothing the caller lacks,
     * and revoking the parent revokes it.
     */
    async createSessionChild(caller: Identity, ttlSeconds: number, options: { ownsParent?: boolean } = {}): Promise<{ token: string; info: TokenInfo }> {
      const parent = await findByAccessor(caller.accessor);
      const { token, row } = buildToken({
        policies: JSON.parse(parent.policies) as string[], ttlSeconds, maxTtlSeconds: ttlSeconds, env: parent.env, displayName: `ui:${parent.display_name}`,
        parentAccessor: parent.accessor, notAfter: parent.expires_at, boundCidrs: parent.bound_cidrs ? (JSON.parse(parent.bound_cidrs) as string[]) : undefined,
        authMount: parent.auth_mount ?? undefined, authRole: parent.auth_role ?? undefined,
      }, now(), deps.hashToken);
      caller.audit?.annotate({ detail: { created_accessor: row.accessor } });
      await transaction(db, caller.audit, async (tx) => {
        await tokenStore.insert(tx, options.ownsParent ? { ...row, owns_parent: 1 } : row);
        // A login made for this session alone ends with it, even when nobody logs out.
        if (options.ownsParent && row.expires_at !== null) await tokenStore.capLife(tx, parent.accessor, row.expires_at);
      });
      if (options.ownsParent) deps.changes.publish('token', parent.accessor);
      return { token, info: toInfo(row) };
    },

    /**
     * Ends a web UI session: revokes the session token and what it created, and, when the
     * session owns its parent (a userpass or OIDC login made for it), that login token too.
     * A token typed at the login form is never revoked here.
     */
    async endSession(caller: Identity): Promise<string[]> {
      const self = await findByAccessor(caller.accessor);
      const target = self.owns_parent === 1 && self.parent_accessor ? self.parent_accessor : self.accessor;
      const revoked = await transaction(db, caller.audit, async (tx) => {
        const at = now();
        const accessors = await tokenStore.revokeTree(tx, target, at);
        const keys = await deps.awsKeys.revokeCreatedBy(tx, accessors, at);
        caller.audit?.annotate({ detail: { revoked: accessors.length, aws_keys_revoked: keys, login_revoked: target !== self.accessor } });
        return accessors;
      });
      deps.changes.publish('token', target);
      return revoked;
    },

    async lookupSelf(caller: Identity): Promise<TokenInfo> {
      return toInfo(await findByAccessor(caller.accessor));
    },

    async lookup(caller: Identity, accessor: string): Promise<TokenInfo> {
      if (accessor !== caller.accessor) await authorizer.require(caller, 'read', 'sys:tokens');
      return toInfo(await findByAccessor(accessor));
    },

    /** Extends a token's life by its TTL (or `incrementSeconds`), never past its max TTL. */
    async renew(caller: Identity, accessor: string = caller.accessor, incrementSeconds?: number): Promise<TokenInfo> {
      if (accessor !== caller.accessor) await authorizer.require(caller, 'update', 'sys:tokens');
      const row = await findByAccessor(accessor);
      if (row.revoked_at !== null) throw new AppError('token_revoked', 'the token was revoked');
      if (row.expires_at === null) return toInfo(row);
      const at = now();
      if (row.expires_at <= at) throw new AppError('token_expired', 'the token has expired');
      const increment = incrementSeconds ?? row.ttl_seconds ?? DEFAULT_TOKEN_TTL_SECONDS;
      const expiresAt = Math.min(at + increment * 1000, row.max_expires_at ?? Number.MAX_SAFE_INTEGER);
      await transaction(db, caller.audit, (tx) => tokenStore.setExpiry(tx, accessor, expiresAt));
      deps.changes.publish('token', accessor);
      return toInfo({ ...row, expires_at: expiresAt });
    },

    /** Revokes a token and, recursively, every token it created, and every AWS key any of them created. */
    async revoke(caller: Identity, accessor: string = caller.accessor): Promise<string[]> {
      if (accessor !== caller.accessor) await authorizer.require(caller, 'delete', 'sys:tokens');
      await findByAccessor(accessor);
      const revoked = await transaction(db, caller.audit, async (tx) => {
        const at = now();
        const accessors = await tokenStore.revokeTree(tx, accessor, at);
        const keys = await deps.awsKeys.revokeCreatedBy(tx, accessors, at);
        caller.audit?.annotate({ detail: { revoked: accessors.length, aws_keys_revoked: keys } });
        return accessors;
      });
      deps.changes.publish('token', accessor);
      return revoked;
    },
  };
}

export type IdentityService = ReturnType<typeof createIdentityService>;

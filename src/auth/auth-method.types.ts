import type { TransactionAuditor } from '../lib/audit-scope.js';
import type { Queryable } from '../storage/schema.js';
import type { AuthMountRow, AuthRoleRow } from '../storage/auth-store.js';
import type { RoleTokenFields } from './role-common.js';

/** What a login request looks like to a method: the body and where it came from. */
export interface LoginRequest {
  body: unknown;
  /** The client address as the HTTP layer saw it. */
  source: string;
}

/** A method's verdict on a credential: which role, what the token gets, what matched. */
export interface LoginGrant {
  role: AuthRoleRow;
  token: RoleTokenFields;
  /** Claims or facts that matched the role's bindings, for the audit event (never the credential). */
  matched: Record<string, string>;
  /** Runs inside the transaction that issues the token (e.g. spend a secret id's use). */
  withinIssue?: (tx: Queryable) => Promise<void>;
  /** Display name for the token (e.g. the JWT's subject). */
  displayName: string;
}

/** A role as a method parsed it. `grants`: further policies its logins may carry (OIDC group mappings). */
export interface ParsedRole {
  token: RoleTokenFields;
  config: Record<string, unknown>;
  grants?: string[];
}

/**
 * One auth method (AppRole, JWT, ...). The auth service owns mounts, roles, authorization and
 * token issuing; a method only parses its own settings and judges its own credentials.
 */
export interface AuthMethod {
  readonly type: string;
  /** Validates and normalizes the mount's settings (throws `validation_failed`). */
  parseMountConfig(raw: unknown): Promise<Record<string, unknown>>;
  /** Validates and normalizes a role; the shared token fields are in `token`. */
  parseRole(raw: unknown): ParsedRole | Promise<ParsedRole>;
  /** What of a role's config may be shown (userpass hides the password hash); all of it when absent. */
  publicConfig?(config: Record<string, unknown>): Record<string, unknown>;
  /** Whether roles of this method get a role_id (AppRole). */
  readonly hasRoleIds: boolean;
  /**
   * A login in two steps (OIDC authorization code): the first answers where to send the
   * browser. Anonymous and audited like `login`.
   */
  startLogin?(mount: AuthMountRow, request: LoginRequest, note: (detail: Record<string, string>) => void): Promise<Record<string, unknown>>;
  /** Judges a login; throws a stable AppError when refused. `note` adds audit detail as soon as it is known. */
  login(mount: AuthMountRow, request: LoginRequest, note: (detail: Record<string, string>) => void): Promise<LoginGrant>;
  /** Drops cached state of a mount (its JWKS, say) when it changes or goes away. */
  forget?(mount: string): void;
}

export type { TransactionAuditor };

import type { Kysely } from 'kysely';
import { z } from 'zod';
import { dummyHash, hashPassword, verifyPassword } from '../../crypto/scrypt-hash.js';
import { AppError } from '../../errors/app-error.js';
import type { AuthStore } from '../../storage/auth-store.js';
import type { Database } from '../../storage/schema.js';
import type { AuthMethod } from '../auth-method.types.js';
import { parseOrThrow, tokenFieldsOf, tokenFieldsShape, type RoleTokenFields } from '../role-common.js';

const MountSchema = z.strictObject({
  /** Consecutive failures before a user is locked out. */
  lockout_threshold: z.number().int().min(1).max(100).optional(),
  /** First lockout; doubles with every further failure, up to lockout_max. */
  lockout_base_seconds: z.number().int().min(1).max(3600).optional(),
  lockout_max_seconds: z.number().int().min(1).max(86_400).optional(),
});
interface MountConfig { lockout_threshold: number; lockout_base_seconds: number; lockout_max_seconds: number }

// A user is a role whose name is the username; the password arrives once and is stored as an scrypt hash.
const UserSchema = z.strictObject({ ...tokenFieldsShape, password: z.string().min(12, 'password must be at least 12 characters').max(1024) });
const LoginSchema = z.strictObject({ username: z.string().min(1).max(128), password: z.string().min(1).max(1024) });

export interface UserpassMethodDeps {
  db: Kysely<Database>;
  authStore: AuthStore;
  now: () => number;
}

/**
 * Username and password for people. Wrong passwords and unknown users answer alike
 * (`invalid_credentials`, same scrypt cost); after `lockout_threshold` consecutive failures the
 * user is locked out with exponential backoff (`account_locked`), even for the right password.
 * Every failure is an audit event (the request's), never with the password.
 */
export function createUserpassMethod(deps: UserpassMethodDeps): AuthMethod {
  const { db, authStore, now } = deps;
  return {
    type: 'userpass',
    hasRoleIds: false,
    async parseMountConfig(raw) {
      const c = parseOrThrow(MountSchema, raw, 'userpass mount config');
      const config: MountConfig = { lockout_threshold: c.lockout_threshold ?? 5, lockout_base_seconds: c.lockout_base_seconds ?? 30, lockout_max_seconds: c.lockout_max_seconds ?? 3600 };
      return config as unknown as Record<string, unknown>;
    },
    async parseRole(raw) {
      const u = parseOrThrow(UserSchema, raw, 'userpass user');
      return { token: tokenFieldsOf(u), config: { password_hash: await hashPassword(u.password) } };
    },
    publicConfig: () => ({}),
    async login(mount, request, note) {
      const body = parseOrThrow(LoginSchema, request.body, 'userpass login');
      note({ role: body.username });
      const config = JSON.parse(mount.config) as MountConfig;
      const user = await authStore.findRole(db, mount.path, body.username);
      const lock = user ? await authStore.failuresOf(db, mount.path, user.name) : undefined;
      if (lock?.locked_until && lock.locked_until > now()) {
        throw new AppError('account_locked', 'too many failed logins; try again later', { details: { retry_after_seconds: Math.ceil((lock.locked_until - now()) / 1000) } });
      }
      const stored = user ? (JSON.parse(user.config) as { token: RoleTokenFields; config: { password_hash: string } }) : undefined;
      const ok = await verifyPassword(body.password, stored?.config.password_hash ?? (await dummyHash()));
      if (!user || !stored || !ok) {
        if (user) {
          const failures = await authStore.recordFailure(db, mount.path, user.name, now(), (n) => {
            if (n < config.lockout_threshold) return null;
            const seconds = Math.min(config.lockout_base_seconds * 2 ** (n - config.lockout_threshold), config.lockout_max_seconds);
            return now() + seconds * 1000;
          });
          note({ failures: String(failures) });
        }
        throw new AppError('invalid_credentials', 'invalid username or password');
      }
      return {
        role: user, token: stored.token, matched: { username: user.name }, displayName: `userpass-${mount.path}-${user.name}`,
        withinIssue: lock ? (tx) => authStore.clearFailures(tx, mount.path, user.name) : undefined,
      };
    },
  };
}

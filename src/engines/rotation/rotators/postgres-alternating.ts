import { PermanentRotationError, type RotationContext, type Rotator } from '../rotator.types.js';
import { adminCredential, parseCredential, setRolePassword, testLogin, withConnection, withNewPassword, type PgCredential } from './pg-common.js';

/** The user CURRENT does not use: from settings `users: [a, b]` or the value's `alternate_username`. */
function otherUser(ctx: Pick<RotationContext, 'settings'>, current: PgCredential): string {
  const pair = ctx.settings.users ?? (current.alternate_username ? [current.username, current.alternate_username] : null);
  if (!pair) throw new PermanentRotationError('postgres-alternating needs settings users [a, b] or alternate_username in the value');
  if (!pair.includes(current.username)) throw new PermanentRotationError(`CURRENT's username is not one of the alternating users`);
  return pair[0] === current.username ? pair[1]! : pair[0]!;
}

/**
 * `postgres-alternating`: two users (e.g. etl_a / etl_b). Each rotation re-passwords the
 * user CURRENT does not use and flips CURRENT to it, so the credential jobs hold keeps
 * working; the old user's password is revoked (set to NULL) when the grace period ends.
 */
export function createPostgresAlternatingRotator(): Rotator {
  return {
    generate(ctx) {
      const current = parseCredential(ctx.current, 'the CURRENT value');
      const next = otherUser(ctx, current);
      return withNewPassword(ctx, current, { username: next, ...(current.alternate_username ? { alternate_username: current.username } : {}) });
    },

    async set(ctx) {
      const current = parseCredential(ctx.current, 'the CURRENT value');
      const pending = parseCredential(ctx.pending, 'the PENDING value');
      if (pending.username === current.username) throw new PermanentRotationError('PENDING must use the other user');
      const admin = await adminCredential(ctx, current);
      await withConnection(admin, (client) => setRolePassword(client, pending.username, pending.password));
    },

    async test(ctx) {
      await testLogin(ctx, parseCredential(ctx.pending, 'the PENDING value'));
    },

    async rollback(ctx) {
      // Give the user we re-passworded back the password PREVIOUS knows (jobs may still hold
      // it in its grace period); with no such version, revoke its password instead, so no
      // password remains that no stored version knows.
      const current = parseCredential(ctx.current, 'the CURRENT value');
      const touched = otherUser(ctx, current);
      const previous = ctx.previous ? parseCredential(ctx.previous, 'the PREVIOUS value') : null;
      const admin = await adminCredential(ctx, current);
      await withConnection(admin, (client) => setRolePassword(client, touched, previous?.username === touched ? previous.password : null));
    },

    async revokePrevious(ctx) {
      const current = parseCredential(ctx.current, 'the CURRENT value');
      const previous = parseCredential(ctx.previous, 'the PREVIOUS value');
      if (previous.username === current.username) return; // that user is in use again
      const admin = await adminCredential({ readSecret: ctx.readSecret, settings: ctx.settings }, current);
      await withConnection(admin, (client) => setRolePassword(client, previous.username, null));
    },
  };
}

import type { Rotator } from '../rotator.types.js';
import { adminCredential, isAuthFailure, parseCredential, setRolePassword, testLogin, withConnection, withNewPassword } from './pg-common.js';

/**
 * `postgres`: one database user whose password changes. `set` runs ALTER ROLE as the admin
 * secret's user when `admin_secret` is set, otherwise as the user itself (PostgreSQL lets a
 * role change its own password). Between `set` and `finish` only PENDING logs in: reads of
 * CURRENT wait meanwhile (singleUser), so a client that re-fetches CURRENT after an
 * authentication error gets the new password.
 */
export function createPostgresRotator(): Rotator {
  return {
    singleUser: true,

    generate(ctx) {
      return withNewPassword(ctx, parseCredential(ctx.current, 'the CURRENT value'));
    },

    async set(ctx) {
      const current = parseCredential(ctx.current, 'the CURRENT value');
      const pending = parseCredential(ctx.pending, 'the PENDING value');
      if (ctx.settings.admin_secret) {
        const admin = await adminCredential(ctx, current);
        await withConnection(admin, (client) => setRolePassword(client, pending.username, pending.password));
        return;
      }
      try {
        await withConnection(current, (client) => setRolePassword(client, pending.username, pending.password));
      } catch (error) {
        // Re-run after a crash: the password may already be the PENDING one.
        if (!isAuthFailure(error)) throw error;
        await withConnection(pending, async () => undefined);
      }
    },

    async test(ctx) {
      await testLogin(ctx, parseCredential(ctx.pending, 'the PENDING value'));
    },

    async rollback(ctx) {
      const current = parseCredential(ctx.current, 'the CURRENT value');
      if (ctx.settings.admin_secret) {
        const admin = await adminCredential(ctx, current);
        await withConnection(admin, (client) => setRolePassword(client, current.username, current.password));
        return;
      }
      try {
        await withConnection(current, async () => undefined);
        return; // CURRENT still logs in: `set` never happened
      } catch (error) {
        if (!isAuthFailure(error) || !ctx.pending) throw error;
      }
      const pending = parseCredential(ctx.pending, 'the PENDING value');
      await withConnection(pending, (client) => setRolePassword(client, current.username, current.password));
    },
  };
}

import type { RotationContext } from '../rotator.types.js';

/**
 * command/webhook: the new PENDING value the engine stores at `create`. With `generate_field`
 * (default `password`) it is CURRENT's JSON with that field regenerated (or a bare password
 * when CURRENT is not a JSON object); with `generate_field: null` the external rotator
 * stores PENDING itself (version id = the token) and this returns null.
 */
export function generateExternal(ctx: RotationContext): string | null {
  const field = ctx.settings.generate_field === undefined ? 'password' : ctx.settings.generate_field;
  if (field === null) return null;
  let data: unknown;
  try {
    data = JSON.parse(ctx.current.text);
  } catch {
    return ctx.generatePassword();
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return ctx.generatePassword();
  return JSON.stringify({ ...(data as Record<string, unknown>), [field]: ctx.generatePassword() });
}

/**
 * The nonce usage bound of AEAD key versions. Nonces are random 96-bit values; NIST SP 800-38D
 * (8.3) caps a GCM key used with random IVs at 2^32 encryptions so that the chance of any nonce
 * repeating stays below 2^-32. The same bound is applied to ChaCha20-Poly1305, whose nonces
 * are drawn the same way. Each encryption (encrypt, rewrap, datakey) counts against its key
 * version; once a version is spent the server refuses with `transit_key_rotation_required`.
 *
 * Counting every encryption in the database would add a write to each request, so a node
 * reserves encryptions in blocks (one compare-and-set per block) and spends them in memory.
 * A block a node does not finish (restart, seal, key change) stays counted: the count can only
 * over-estimate, never under-estimate, the encryptions made, also with several nodes.
 */
import { AppError } from '../../errors/app-error.js';

export const DEFAULT_MAX_ENCRYPTIONS_PER_VERSION = 2 ** 32;
export const DEFAULT_RESERVATION_BLOCK = 65_536;

export interface UsageBudgetDeps {
  /** The version's reservation counter, undefined when the version is gone. */
  reserved(name: string, version: number): Promise<number | undefined>;
  /** Compare-and-set of the counter; false when another node moved it first. */
  reserve(name: string, version: number, from: number, to: number): Promise<boolean>;
  maxPerVersion?: number;
  block?: number;
}

export function createUsageBudget(deps: UsageBudgetDeps) {
  const bound = deps.maxPerVersion ?? DEFAULT_MAX_ENCRYPTIONS_PER_VERSION;
  const block = deps.block ?? DEFAULT_RESERVATION_BLOCK;
  // `${keyId}:${version}` -> encryptions reserved by this node and not yet spent
  const left = new Map<string, number>();

  function exhausted(name: string, version: number): AppError {
    return new AppError('transit_key_rotation_required',
      `version ${version} of transit key "${name}" reached its limit of ${bound} encryptions (random 96-bit nonces); rotate the key`,
      { details: { key_version: version, limit: bound } });
  }

  async function reserveMore(slot: string, name: string, version: number, need: number): Promise<void> {
    for (let attempt = 0; attempt < 100; attempt++) {
      const reserved = await deps.reserved(name, version);
      if (reserved === undefined) throw new AppError('transit_version_not_allowed', `version ${version} of transit key "${name}" no longer exists`);
      const grant = Math.min(Math.max(block, need), bound - reserved);
      if (grant < need) throw exhausted(name, version);
      if (await deps.reserve(name, version, reserved, reserved + grant)) {
        left.set(slot, (left.get(slot) ?? 0) + grant - need);
        return;
      }
    }
    throw new AppError('storage_unavailable', 'could not reserve encryptions: the counter kept changing');
  }

  return {
    /**
     * Spends `count` encryptions of a key version; resolves synchronously (undefined) while the
     * node's reservation lasts, otherwise reserves another block first.
     */
    take(keyId: string, name: string, version: number, count: number): Promise<void> | undefined {
      const slot = `${keyId}:${version}`;
      const have = left.get(slot) ?? 0;
      if (have >= count) {
        left.set(slot, have - count);
        return undefined;
      }
      left.set(slot, 0);
      return reserveMore(slot, name, version, count - have);
    },
    /** Forgets unspent reservations (they stay counted): on seal and when a key changes. */
    clear(): void {
      left.clear();
    },
  };
}

export type UsageBudget = ReturnType<typeof createUsageBudget>;

import { createHash } from 'node:crypto';
import { AppError } from '../../errors/app-error.js';

/**
 * Opaque paging cursors, one helper for every listing (native `next_cursor`, AWS `NextToken`).
 *
 * A cursor is the listing's position (for example the last name scanned, which the caller may
 * not be allowed to see) sealed by the barrier: AES-256-GCM under the keyring's newest data key,
 * with the caller's accessor, the listing and its query (prefix, filters, sort) in the AAD. So a
 * cursor reveals nothing, cannot be forged or edited, and is refused when another caller presents
 * it or the query changed between pages. Anything that does not open is `invalid_next_token`.
 * Page size is deliberately not bound: a client may change it between pages.
 */

/** The barrier's sealing of small server-owned values (narrowed so tests and callers need no more). */
export interface CursorSealer {
  encryptSystemValue(purpose: string, id: string, plaintext: Buffer): Buffer;
  decryptSystemValue(purpose: string, id: string, sealed: Buffer): Promise<Buffer>;
}

/** What a cursor is valid for: who asked, which listing, with which query. */
export interface CursorBinding {
  caller: string;
  listing: string;
  query: Record<string, unknown>;
}

const PURPOSE = 'page-cursor';
/** Longer than any cursor this server gives out (positions are at most a name and a few fields). */
const MAX_CURSOR_CHARS = 4096;

const bindingId = (binding: CursorBinding): string =>
  createHash('sha256').update(JSON.stringify([binding.caller, binding.listing, binding.query])).digest('base64url');

const invalid = () => new AppError('invalid_next_token', 'the cursor is not one this server gave out for this caller and query');

export function createPageCursors(sealer: CursorSealer) {
  return {
    /** Seals a position into a cursor valid only for `binding`. */
    seal(binding: CursorBinding, position: unknown): string {
      return sealer.encryptSystemValue(PURPOSE, bindingId(binding), Buffer.from(JSON.stringify(position), 'utf8')).toString('base64url');
    },

    /** The position a cursor holds, undefined for no cursor; throws `invalid_next_token` otherwise. */
    async open<T>(binding: CursorBinding, cursor: string | undefined, isPosition: (value: unknown) => value is T): Promise<T | undefined> {
      if (cursor === undefined) return undefined;
      if (cursor.length === 0 || cursor.length > MAX_CURSOR_CHARS || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
      let position: unknown;
      try {
        const plain = await sealer.decryptSystemValue(PURPOSE, bindingId(binding), Buffer.from(cursor, 'base64url'));
        position = JSON.parse(plain.toString('utf8'));
      } catch (error) {
        if (error instanceof AppError && error.code === 'sealed') throw error;
        throw invalid();
      }
      if (!isPosition(position)) throw invalid();
      return position;
    },
  };
}

export type PageCursors = ReturnType<typeof createPageCursors>;

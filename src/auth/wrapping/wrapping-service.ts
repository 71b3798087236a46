import type { Kysely } from 'kysely';
import { randomBytes } from 'node:crypto';
import { AppError } from '../../errors/app-error.js';
import type { TransactionAuditor } from '../../lib/audit-scope.js';
import type { Database } from '../../storage/schema.js';
import { transaction } from '../../storage/transaction.js';
import type { WrappingStore } from '../../storage/wrapping-store.js';

export const WRAPPING_TOKEN_PATTERN = /^cwt_[A-Za-z0-9_-]{43}$/;
export const MAX_WRAP_TTL_SECONDS = 24 * 3600;
const PURPOSE = 'wrapping';

export interface WrappingServiceDeps {
  db: Kysely<Database>;
  store: WrappingStore;
  barrier: {
    encryptSystemValue(purpose: string, id: string, plaintext: Buffer): Buffer;
    decryptSystemValue(purpose: string, id: string, sealed: Buffer): Promise<Buffer>;
    hashToken(token: string): string;
  };
  now: () => number;
}

export interface WrapInfo {
  token: string;
  accessor: string;
  ttl: number;
  creation_time: string;
  expires_at: string;
  creation_path: string;
}

const hashOf = (deps: WrappingServiceDeps, token: string) => deps.barrier.hashToken(`wrapping:${token}`);

/** A new wrapping accessor: chosen when the request arrives, so the request's audit event can name it. */
export const newWrapAccessor = () => `wra_${randomBytes(12).toString('base64url')}`;

/**
 * Response wrapping: a credential-bearing response is sealed by the barrier and handed out as a
 * single-use, short-lived token. Opening it twice is evidence that someone else opened it
 * first (interception), so the second attempt fails and its audit event carries an alert.
 */
export function createWrappingService(deps: WrappingServiceDeps) {
  const { db, store, now } = deps;
  return {
    /** Seals `payload` behind a new wrapping token (stored only as a keyed hash). */
    async wrap(payload: unknown, input: { accessor: string; ttlSeconds: number; creationPath: string; createdBy: string | null }): Promise<WrapInfo> {
      const token = `cwt_${randomBytes(32).toString('base64url')}`;
      const at = now();
      const expiresAt = at + input.ttlSeconds * 1000;
      await store.insert(db, {
        accessor: input.accessor, token_hash: hashOf(deps, token), creation_path: input.creationPath.slice(0, 512), created_by: input.createdBy,
        created_at: at, expires_at: expiresAt, ciphertext: deps.barrier.encryptSystemValue(PURPOSE, input.accessor, Buffer.from(JSON.stringify(payload))), unwrapped_at: null,
      });
      return { token, accessor: input.accessor, ttl: input.ttlSeconds, creation_time: new Date(at).toISOString(), expires_at: new Date(expiresAt).toISOString(), creation_path: input.creationPath };
    },

    /** Opens a wrapping token exactly once. */
    async unwrap(token: string, audit: TransactionAuditor | undefined): Promise<unknown> {
      if (!WRAPPING_TOKEN_PATTERN.test(token)) throw new AppError('invalid_wrapping_token', 'the wrapping token is not valid');
      const row = await store.findByHash(db, hashOf(deps, token));
      if (!row) throw new AppError('invalid_wrapping_token', 'the wrapping token is not valid');
      audit?.annotate({ detail: { wrap_accessor: row.accessor, creation_path: row.creation_path } });
      const used = () => {
        audit?.annotate({ detail: { alert: 'wrapping_token_reused', possible_interception: true } });
        return new AppError('wrapping_token_used', 'this wrapping token was already unwrapped: someone else may have read its contents');
      };
      if (row.unwrapped_at !== null) throw used();
      if (row.expires_at <= now() || row.ciphertext === null) throw new AppError('wrapping_token_expired', 'the wrapping token has expired');
      const plaintext = await deps.barrier.decryptSystemValue(PURPOSE, row.accessor, row.ciphertext);
      // The conditional update decides a race between two openers; the loser's transaction rolls back.
      await transaction(db, audit, async (tx) => {
        if (!(await store.consume(tx, row.accessor, now()))) throw used();
      });
      return JSON.parse(plaintext.toString('utf8')) as unknown;
    },

    /** Drops expired payloads (maintenance). */
    dropExpired: () => store.dropExpired(db, now()),
  };
}

export type WrappingService = ReturnType<typeof createWrappingService>;

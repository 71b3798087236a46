import type { RotationSettings, RotationStep } from './rotation-settings.js';

/** A stored version as a rotator sees it: the version id and its (string) value. */
export interface VersionPayload {
  versionId: string;
  text: string;
}

/** What each rotator phase gets: the secret, the rotation token and the versions involved. */
export interface RotationContext {
  secretName: string;
  /** The secret's region when it is not the server's default one. */
  secretRegion?: string;
  /** The rotation token, which is also the PENDING version's id. */
  token: string;
  settings: RotationSettings;
  current: VersionPayload;
  /** The PENDING version (the version whose id is the token), once `create` stored it. */
  pending: VersionPayload | null;
  previous: VersionPayload | null;
  /** Reads another secret's CURRENT value (admin credentials, HMAC keys), as the engine. */
  readSecret(name: string): Promise<string>;
  /** A password following the secret's password rules. */
  generatePassword(): string;
  /**
   * Runs `fn` with a short-lived Custos token limited to this secret (read, update, stage),
   * revoked afterwards; `address` is where the Custos API listens.
   */
  withScopedToken<T>(fn: (address: string, token: string) => Promise<T>): Promise<T>;
}

/**
 * A pluggable rotator: how to make a new credential and apply it to one kind of target.
 * The engine owns the state machine and the staging labels; every method must be
 * idempotent, because a phase is re-run after a crash or a retry.
 */
export interface Rotator {
  /**
   * The target accepts one credential at a time: from `set` until `finish` only PENDING logs
   * in, so the engine holds reads of CURRENT meanwhile (current-hold.ts).
   */
  singleUser?: boolean;
  /** The new PENDING value derived from CURRENT, or null when the rotator's `create` hook writes PENDING itself. */
  generate(ctx: RotationContext): string | null;
  /** External phase hook (command/webhook): `create`, `set`, `test`, `finish`, `rollback`. Throws on failure. */
  set(ctx: RotationContext & { pending: VersionPayload }): Promise<void>;
  /** Proves the PENDING credential works; throws TestFailedError when it does not. */
  test(ctx: RotationContext & { pending: VersionPayload }): Promise<void>;
  /** Optional hooks around create and finish (external rotators are told about every phase). */
  onCreate?(ctx: RotationContext): Promise<void>;
  onFinish?(ctx: RotationContext & { pending: VersionPayload }): Promise<void>;
  /** Returns the target to the CURRENT credential where possible (after a failed test). */
  rollback(ctx: RotationContext): Promise<void>;
  /** Revokes the PREVIOUS credential once its grace period ends; absent if the rotator cannot. */
  revokePrevious?(ctx: { settings: RotationSettings; current: VersionPayload; previous: VersionPayload; readSecret(name: string): Promise<string> }): Promise<void>;
}

/** `test` said no: the engine rolls back instead of retrying. */
export class TestFailedError extends Error {
  override name = 'TestFailedError';
}

/** A failure retrying will not fix (bad settings, malformed secret value): roll back at once. */
export class PermanentRotationError extends Error {
  override name = 'PermanentRotationError';
}

export type ExternalStep = RotationStep | 'rollback';

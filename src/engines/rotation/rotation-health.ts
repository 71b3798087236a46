import type { RotationRow } from '../../storage/rotation-store.js';

/**
 * Why a secret's rotation needs a person, read from its latest run: it ended `failed`, it is
 * `rolling_back`, it is `retrying` after an error (waiting out its backoff), or it is `stuck`
 * (in flight with no node driving it: the lease ran out and nobody took it over).
 */
export type RotationFailure = 'failed' | 'rolling_back' | 'retrying' | 'stuck';

export interface RotationHealth {
  failing: RotationFailure | null;
  /** The run's error, shortened for listings; rotators put no values in errors. */
  error: string | null;
  /** When the latest run last changed. */
  since: number | null;
}

const MAX_ERROR_CHARS = 300;

export function rotationHealth(latest: Pick<RotationRow, 'status' | 'error' | 'lease_until' | 'next_attempt_at' | 'updated_at'> | undefined, now: number): RotationHealth {
  if (!latest) return { failing: null, error: null, since: null };
  const error = latest.error === null ? null : latest.error.length > MAX_ERROR_CHARS ? `${latest.error.slice(0, MAX_ERROR_CHARS - 1)}…` : latest.error;
  const since = latest.updated_at;
  if (latest.status === 'failed') return { failing: 'failed', error, since };
  if (latest.status === 'rolling_back') return { failing: 'rolling_back', error, since };
  if (latest.status === 'running') {
    if (latest.next_attempt_at !== null && latest.error !== null) return { failing: 'retrying', error, since };
    if (latest.lease_until !== null && latest.lease_until < now) return { failing: 'stuck', error, since };
  }
  return { failing: null, error: null, since };
}

/**
 * Batches: every transit operation takes up to MAX_BATCH_ITEMS items in one request; each
 * item succeeds or fails on its own and results keep the input's order, so a Spark partition
 * can be encrypted per request and a bad row does not fail its neighbours.
 */
import { AppError, isAppError } from '../../errors/app-error.js';

export const MAX_BATCH_ITEMS = 10_000;

export type ItemResult<T> = { ok: true; value: T } | { ok: false; error: AppError };

export function checkBatchSize(count: number): void {
  if (count < 1) throw new AppError('validation_failed', 'batch_input must hold at least one item');
  if (count > MAX_BATCH_ITEMS) throw new AppError('transit_batch_too_large', `batch_input holds ${count} items; the limit is ${MAX_BATCH_ITEMS}`, { details: { limit: MAX_BATCH_ITEMS } });
}

/**
 * Runs `fn` on each item. An AppError fails that item only; anything else (a bug, never input)
 * becomes an item-level internal_error without its message, which could hold input bytes.
 */
export function runEach<I, O>(items: readonly I[], fn: (item: I, index: number) => O): ItemResult<O>[] {
  const results: ItemResult<O>[] = new Array(items.length);
  for (let i = 0; i < items.length; i++) {
    try {
      results[i] = { ok: true, value: fn(items[i]!, i) };
    } catch (error) {
      results[i] = { ok: false, error: isAppError(error) ? error : new AppError('internal_error', 'this item failed unexpectedly', { cause: error }) };
    }
  }
  return results;
}

export function failedCount(results: readonly ItemResult<unknown>[]): number {
  let failed = 0;
  for (const r of results) if (!r.ok) failed++;
  return failed;
}

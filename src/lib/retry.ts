/**
 * Runs `task` until it succeeds, waiting `baseMs` after the first failure and twice as long
 * after each next one, up to `maxMs`. For background work that must eventually happen (a
 * keyring reload after another node's change) but may meet the database restarting.
 * `onError` hears each failure; the returned function stops further attempts.
 */
export function retryUntilDone(task: () => Promise<void>, options: { onError: (error: unknown, attempt: number) => void; baseMs?: number; maxMs?: number }): () => void {
  const baseMs = options.baseMs ?? 100;
  const maxMs = options.maxMs ?? 5000;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const run = (attempt: number): void => {
    if (stopped) return;
    task().catch((error: unknown) => {
      options.onError(error, attempt);
      if (stopped) return;
      timer = setTimeout(() => run(attempt + 1), Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 20)));
      timer.unref();
    });
  };
  run(0);
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}

/**
 * The soak's memory verdict: least-squares slope of the server's RSS and heap used over the
 * samples taken after warm-up. Caches fill, JIT code and connection pools settle during
 * warm-up; after it, a slope above the threshold means something grows with the work done.
 */
export interface MemorySample { minute: number; rssMb: number; heapMb: number }

/** MB per minute that RSS or heap may grow after warm-up and still count as flat. */
export const FLAT_THRESHOLD_MB_PER_MIN = 1;

/** Warm-up: the first 5 minutes, or the first third of a run shorter than 15 minutes (at least 1). */
export const warmupMinutes = (minutes: number): number => Math.max(1, Math.min(5, Math.floor(minutes / 3)));

/** Least-squares slope of y over x (0 with fewer than two points). */
export function slope(points: Array<[number, number]>): number {
  if (points.length < 2) return 0;
  const mx = points.reduce((s, [x]) => s + x, 0) / points.length;
  const my = points.reduce((s, [, y]) => s + y, 0) / points.length;
  const num = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const den = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

export function memoryVerdict(samples: MemorySample[], minutes: number, threshold = FLAT_THRESHOLD_MB_PER_MIN) {
  const warmup = warmupMinutes(minutes);
  const after = samples.filter((s) => s.minute >= warmup && Number.isFinite(s.rssMb) && Number.isFinite(s.heapMb));
  const rssSlope = slope(after.map((s) => [s.minute, s.rssMb]));
  const heapSlope = slope(after.map((s) => [s.minute, s.heapMb]));
  const range = (values: number[]) => (values.length ? `${Math.min(...values).toFixed(1)}–${Math.max(...values).toFixed(1)} MB` : 'no samples');
  return {
    warmupMinutes: warmup, samples: after.length, thresholdMbPerMin: threshold,
    rssSlope, heapSlope, rssRange: range(after.map((s) => s.rssMb)), heapRange: range(after.map((s) => s.heapMb)),
    // Too few points after warm-up cannot show flatness.
    flat: after.length >= 3 && rssSlope < threshold && heapSlope < threshold,
  };
}

/**
 * Rolling latency tracker for the model the agent serves. Percentiles are computed exactly over the
 * successful inferences of the last `windowMs` (bounded by `maxSamples`, newest kept), which at
 * edge rates (tens to a few thousand per second) is cheap enough and avoids sketch approximations
 * that would make the P99 on a quiet device meaningless.
 */

export interface InferenceSnapshot {
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  /** Inferences (ok and failed) per second since the previous snapshot; null before any time passed. */
  throughputIps: number | null;
  /** Counts since the previous snapshot. */
  inferences: number;
  errors: number;
  /** How many latencies the percentiles are based on. */
  windowCount: number;
}

export interface InferenceStatsOptions {
  windowMs?: number;
  maxSamples?: number;
  clock?: () => number;
}

/**
 * Percentile with linear interpolation between closest ranks (numpy's default, "R-7"), on an
 * ascending array. q in [0, 1].
 */
export function percentile(sortedAsc: readonly number[], q: number): number | null {
  const n = sortedAsc.length;
  if (n === 0 || !(q >= 0 && q <= 1)) return null;
  const pos = (n - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sortedAsc[lo];
  const b = sortedAsc[hi];
  if (a === undefined || b === undefined) return null;
  return a + (b - a) * (pos - lo);
}

export class InferenceStats {
  private readonly windowMs: number;
  private readonly maxSamples: number;
  private readonly clock: () => number;
  // Parallel ring of (timestamp, latency) for successful inferences, oldest at `head`.
  private times: Float64Array;
  private lat: Float64Array;
  private head = 0;
  private size = 0;
  private sinceInferences = 0;
  private sinceErrors = 0;
  private lastSnapshotAt: number;

  constructor(opts: InferenceStatsOptions = {}) {
    this.windowMs = opts.windowMs ?? 60_000;
    this.maxSamples = Math.max(1, Math.floor(opts.maxSamples ?? 20_000));
    this.clock = opts.clock ?? Date.now;
    this.times = new Float64Array(this.maxSamples);
    this.lat = new Float64Array(this.maxSamples);
    this.lastSnapshotAt = this.clock();
  }

  /**
   * Failed inferences count toward throughput and errors but not latency: a timeout or a crash
   * has no meaningful latency and would drag percentiles toward whatever the failure path costs.
   */
  record(latencyMs: number, ok: boolean, atMs: number = this.clock()): void {
    this.sinceInferences++;
    if (!ok) {
      this.sinceErrors++;
      return;
    }
    if (!Number.isFinite(latencyMs) || latencyMs < 0) return;
    const idx = (this.head + this.size) % this.maxSamples;
    this.times[idx] = atMs;
    this.lat[idx] = latencyMs;
    if (this.size < this.maxSamples) this.size++;
    else this.head = (this.head + 1) % this.maxSamples;
  }

  private evict(now: number): void {
    const cutoff = now - this.windowMs;
    while (this.size > 0 && (this.times[this.head] ?? 0) < cutoff) {
      this.head = (this.head + 1) % this.maxSamples;
      this.size--;
    }
  }

  /** Percentiles over the window; resets the since-last-snapshot counters. */
  snapshot(now: number = this.clock()): InferenceSnapshot {
    this.evict(now);
    const window = new Float64Array(this.size);
    for (let i = 0; i < this.size; i++) window[i] = this.lat[(this.head + i) % this.maxSamples] ?? 0;
    window.sort();
    const sorted = Array.from(window);
    const elapsedS = (now - this.lastSnapshotAt) / 1000;
    const snap: InferenceSnapshot = {
      p50Ms: percentile(sorted, 0.5),
      p95Ms: percentile(sorted, 0.95),
      p99Ms: percentile(sorted, 0.99),
      throughputIps: elapsedS > 0 ? this.sinceInferences / elapsedS : null,
      inferences: this.sinceInferences,
      errors: this.sinceErrors,
      windowCount: sorted.length,
    };
    this.sinceInferences = 0;
    this.sinceErrors = 0;
    this.lastSnapshotAt = now;
    return snap;
  }
}

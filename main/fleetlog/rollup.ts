import { METRICS, type Metric } from '../../shared/telemetry.js';

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;

/** The numbers a rollup row is made of, for one metric. */
export interface MetricStats {
  min: number | null;
  avg: number | null;
  max: number | null;
  p95: number | null;
}

/** The fields of a sample a rollup needs. */
export interface RollupInput {
  ts: number;
  tempC: number | null;
  cpuPct: number | null;
  memPct: number | null;
  powerW: number | null;
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
  latencyP99Ms: number | null;
  throughputIps: number | null;
  inferences: number;
  errors: number;
  throttled: boolean | null;
}

/**
 * Exact accumulator for one device's bucket: per metric, the non-null values kept sorted (binary search
 * + splice; an hour holds 360 values at 10 s) and their sum, so min/max/p95 are O(1) when a row is written.
 */
export class BucketAcc {
  readonly start: number;
  n = 0;
  inferences = 0;
  errors = 0;
  throttled = 0;
  /** Not yet written to the rollup table since the last change. */
  dirty = false;
  private readonly values: number[][] = METRICS.map(() => []);
  private readonly sums: number[] = METRICS.map(() => 0);

  constructor(start: number) {
    this.start = start;
  }

  add(s: RollupInput): void {
    this.n++;
    this.inferences += s.inferences;
    this.errors += s.errors;
    if (s.throttled === true) this.throttled++;
    this.dirty = true;
    for (let i = 0; i < METRICS.length; i++) {
      const v = s[METRICS[i] as Metric];
      if (v === null) continue;
      const arr = this.values[i] as number[];
      this.sums[i] = (this.sums[i] as number) + v;
      // Samples mostly arrive in order but values are not sorted; the common case appends.
      const len = arr.length;
      if (len === 0 || (arr[len - 1] as number) <= v) {
        arr.push(v);
      } else {
        let lo = 0;
        let hi = len;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if ((arr[mid] as number) <= v) lo = mid + 1;
          else hi = mid;
        }
        arr.splice(lo, 0, v);
      }
    }
  }

  stats(i: number): MetricStats {
    const arr = this.values[i] as number[];
    const len = arr.length;
    if (len === 0) return { min: null, avg: null, max: null, p95: null };
    return {
      min: arr[0] as number,
      avg: (this.sums[i] as number) / len,
      max: arr[len - 1] as number,
      p95: arr[Math.ceil(0.95 * len) - 1] as number,
    };
  }

  /**
   * Row parameters in the column order of ROLLUP_COLUMNS: bucket_ts, dev, n, inferences, errors, throttled,
   * then min, avg, max, p95 per metric.
   */
  rowParams(dev: number): (number | null)[] {
    const out: (number | null)[] = [this.start, dev, this.n, this.inferences, this.errors, this.throttled];
    for (let i = 0; i < METRICS.length; i++) {
      const arr = this.values[i] as number[];
      const len = arr.length;
      if (len === 0) out.push(null, null, null, null);
      else
        out.push(
          arr[0] as number,
          (this.sums[i] as number) / len,
          arr[len - 1] as number,
          arr[Math.ceil(0.95 * len) - 1] as number,
        );
    }
    return out;
  }
}

export const STAT_SUFFIXES = ['min', 'avg', 'max', 'p95'] as const;
export const ROLLUP_METRIC_COLUMNS: string[] = METRICS.flatMap((m) => STAT_SUFFIXES.map((s) => `${m}_${s}`));
export const ROLLUP_COLUMNS: string[] = ['bucket_ts', 'dev', 'n', 'inferences', 'errors', 'throttled', ...ROLLUP_METRIC_COLUMNS];

export function floorTo(ts: number, step: number): number {
  return ts - (((ts % step) + step) % step);
}

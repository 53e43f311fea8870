import { METRICS } from '../../shared/telemetry.js';

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
/** samples.bucket = floor(ts / RAW_BUCKET_MS) (migration 0003). */
export const RAW_BUCKET_MS = 60_000;
/** rollup_1m.chunk = floor(bucket_ts / M1_CHUNK_MS), rollup_1h.chunk = floor(bucket_ts / H1_CHUNK_MS) (migration 0003). */
export const M1_CHUNK_MS = HOUR_MS;
export const H1_CHUNK_MS = 30 * DAY_MS;

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
 * The values of one metric in a bucket, with running sum/min/max. The buffer keeps its capacity across
 * reset() (an accumulator is reused bucket after bucket), so the hot path allocates nothing.
 */
class Values {
  buf = new Float64Array(8);
  len = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  reset(): void {
    this.len = 0;
    this.sum = 0;
    this.min = Infinity;
    this.max = -Infinity;
  }
  push(v: number): void {
    const len = this.len;
    if (len === this.buf.length) {
      const next = new Float64Array(len * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[len] = v;
    this.len = len + 1;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }
  /** Appends every value of `o`. */
  merge(o: Values): void {
    const at = this.len;
    const n = o.len;
    if (at + n > this.buf.length) {
      const next = new Float64Array(Math.max(at + n, this.buf.length * 2));
      next.set(this.buf);
      this.buf = next;
    }
    // A plain loop: subarray() views cost more than copying a minute's handful of values.
    const dst = this.buf;
    const src = o.buf;
    for (let i = 0; i < n; i++) dst[at + i] = src[i] as number;
    this.len = at + n;
    this.sum += o.sum;
    if (o.min < this.min) this.min = o.min;
    if (o.max > this.max) this.max = o.max;
  }
}

let scratch = new Float64Array(512);

/** Nearest-rank 95th percentile: the value at rank ceil(0.95 n) of the sorted values (O(n) selection). */
export function p95Of(values: ArrayLike<number>, len: number): number {
  if (len === 1) return values[0] as number;
  const k = Math.ceil(0.95 * len) - 1;
  if (k === len - 1) {
    // Rank n (any n < 20, e.g. a minute of 6 values): the maximum, no copy or selection needed.
    let max = values[0] as number;
    for (let i = 1; i < len; i++) if ((values[i] as number) > max) max = values[i] as number;
    return max;
  }
  if (scratch.length < len) scratch = new Float64Array(len * 2);
  const a = scratch;
  for (let i = 0; i < len; i++) a[i] = values[i] as number;
  return select(a, len, k);
}

/** k-th smallest of a[0..len) (quickselect, Hoare partition, middle pivot); reorders a. */
function select(a: Float64Array, len: number, k: number): number {
  let lo = 0;
  let hi = len - 1;
  while (hi > lo) {
    if (hi - lo < 16) {
      for (let i = lo + 1; i <= hi; i++) {
        const x = a[i] as number;
        let j = i - 1;
        while (j >= lo && (a[j] as number) > x) {
          a[j + 1] = a[j] as number;
          j--;
        }
        a[j + 1] = x;
      }
      return a[k] as number;
    }
    const pivot = a[(lo + hi) >>> 1] as number;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while ((a[i] as number) < pivot) i++;
      while ((a[j] as number) > pivot) j--;
      if (i <= j) {
        const t = a[i] as number;
        a[i] = a[j] as number;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k] as number;
  }
  return a[k] as number;
}

/**
 * Exact accumulator for one device's bucket: per metric every non-null value (so p95 is exact, not a
 * sketch), with running sum/min/max; p95 is computed when the row is written. An hour at 10 s holds 360
 * values per metric.
 */
export class BucketAcc {
  start: number;
  n = 0;
  inferences = 0;
  errors = 0;
  throttled = 0;
  /** Changed since it was last written to the rollup table. */
  dirty = false;
  private readonly v0 = new Values();
  private readonly v1 = new Values();
  private readonly v2 = new Values();
  private readonly v3 = new Values();
  private readonly v4 = new Values();
  private readonly v5 = new Values();
  private readonly v6 = new Values();
  private readonly v7 = new Values();

  constructor(start: number) {
    this.start = start;
  }

  /** Empties the accumulator for the bucket at `start` (reuse instead of allocating one per bucket). */
  reset(start: number): void {
    this.start = start;
    this.n = 0;
    this.inferences = 0;
    this.errors = 0;
    this.throttled = 0;
    this.dirty = false;
    this.v0.reset();
    this.v1.reset();
    this.v2.reset();
    this.v3.reset();
    this.v4.reset();
    this.v5.reset();
    this.v6.reset();
    this.v7.reset();
  }

  /** Hand-unrolled over METRICS (keeps property access monomorphic on the hot path). */
  add(s: RollupInput): void {
    this.n++;
    this.inferences += s.inferences;
    this.errors += s.errors;
    if (s.throttled === true) this.throttled++;
    this.dirty = true;
    if (s.tempC !== null) this.v0.push(s.tempC);
    if (s.cpuPct !== null) this.v1.push(s.cpuPct);
    if (s.memPct !== null) this.v2.push(s.memPct);
    if (s.powerW !== null) this.v3.push(s.powerW);
    if (s.latencyP50Ms !== null) this.v4.push(s.latencyP50Ms);
    if (s.latencyP95Ms !== null) this.v5.push(s.latencyP95Ms);
    if (s.latencyP99Ms !== null) this.v6.push(s.latencyP99Ms);
    if (s.throughputIps !== null) this.v7.push(s.throughputIps);
  }

  /** Adds every sample of `o` (a bucket inside this one, e.g. a closed minute of this hour). */
  merge(o: BucketAcc): void {
    if (o.n === 0) return;
    this.n += o.n;
    this.inferences += o.inferences;
    this.errors += o.errors;
    this.throttled += o.throttled;
    this.dirty = true;
    this.v0.merge(o.v0);
    this.v1.merge(o.v1);
    this.v2.merge(o.v2);
    this.v3.merge(o.v3);
    this.v4.merge(o.v4);
    this.v5.merge(o.v5);
    this.v6.merge(o.v6);
    this.v7.merge(o.v7);
  }

  private all(): Values[] {
    return [this.v0, this.v1, this.v2, this.v3, this.v4, this.v5, this.v6, this.v7];
  }

  /** Stats of METRICS[i]. */
  stats(i: number): MetricStats {
    const v = this.all()[i];
    if (v === undefined || v.len === 0) return { min: null, avg: null, max: null, p95: null };
    return { min: v.min, avg: v.sum / v.len, max: v.max, p95: p95Of(v.buf, v.len) };
  }

  /** Average of METRICS[i], null when the bucket has no value for it. */
  avg(i: number): number | null {
    const v = this.all()[i];
    return v === undefined || v.len === 0 ? null : v.sum / v.len;
  }

  /**
   * Writes the row into out[pos..] in the column order chunk, ...ROLLUP_COLUMNS (the rollup tables' insert
   * order); returns the next position.
   */
  writeRow(out: (number | string | null)[], pos: number, chunk: number, dev: number): number {
    out[pos++] = chunk;
    out[pos++] = this.start;
    out[pos++] = dev;
    out[pos++] = this.n;
    out[pos++] = this.inferences;
    out[pos++] = this.errors;
    out[pos++] = this.throttled;
    pos = writeStats(out, pos, this.v0);
    pos = writeStats(out, pos, this.v1);
    pos = writeStats(out, pos, this.v2);
    pos = writeStats(out, pos, this.v3);
    pos = writeStats(out, pos, this.v4);
    pos = writeStats(out, pos, this.v5);
    pos = writeStats(out, pos, this.v6);
    return writeStats(out, pos, this.v7);
  }

  /**
   * Row parameters in the column order of ROLLUP_COLUMNS: bucket_ts, dev, n, inferences, errors, throttled,
   * then min, avg, max, p95 per metric.
   */
  rowParams(dev: number): (number | null)[] {
    const out: (number | null)[] = [this.start, dev, this.n, this.inferences, this.errors, this.throttled];
    for (const v of this.all()) {
      if (v.len === 0) out.push(null, null, null, null);
      else out.push(v.min, v.sum / v.len, v.max, v.len === 1 ? v.min : p95Of(v.buf, v.len));
    }
    return out;
  }
}

function writeStats(out: (number | string | null)[], pos: number, v: Values): number {
  const len = v.len;
  if (len === 0) {
    out[pos] = out[pos + 1] = out[pos + 2] = out[pos + 3] = null;
  } else {
    out[pos] = v.min;
    out[pos + 1] = v.sum / len;
    out[pos + 2] = v.max;
    // Nearest rank ceil(0.95 n) is n for n < 20 (a minute at 10 s): the maximum.
    out[pos + 3] = Math.ceil(0.95 * len) === len ? v.max : p95Of(v.buf, len);
  }
  return pos + 4;
}

export const STAT_SUFFIXES = ['min', 'avg', 'max', 'p95'] as const;
export const ROLLUP_METRIC_COLUMNS: string[] = METRICS.flatMap((m) => STAT_SUFFIXES.map((s) => `${m}_${s}`));
export const ROLLUP_COLUMNS: string[] = [
  'bucket_ts',
  'dev',
  'n',
  'inferences',
  'errors',
  'throttled',
  ...ROLLUP_METRIC_COLUMNS,
];

export function floorTo(ts: number, step: number): number {
  return ts - (((ts % step) + step) % step);
}

import type { Metric } from '../../../shared/telemetry.js';

export interface SparkData {
  fromTs: number;
  stepMs: number;
  values: readonly (number | null)[];
}

export interface SparkBatch {
  fromTs: number;
  stepMs: number;
  series: Record<string, (number | null)[]>;
}

export type SparkFetcher = (deviceIds: string[], metric: Metric) => Promise<SparkBatch>;

export interface SparklineStoreOptions {
  /** Ids per request; the contract allows up to 1000. */
  batchSize?: number;
  /** How long a loaded line is fresh. */
  ttlMs?: number;
  /** How long a failed request blocks a retry for its ids. */
  retryAfterMs?: number;
  /** Requests made within this window are sent together. */
  batchDelayMs?: number;
  /** Lines kept; the least recently loaded are dropped first. */
  maxEntries?: number;
  now?: () => number;
  schedule?: (fn: () => void, ms: number) => void;
}

/** A loaded line; null: the server has none for the device; 'error': loading it failed. */
export type SparkEntry = SparkData | null | 'error';

interface Entry {
  data: SparkEntry;
  /** Until then the entry is not requested again. */
  freshUntil: number;
}

const keyOf = (metric: Metric, id: string) => `${metric}\u0000${id}`;

/**
 * Sparklines for the Fleet table, loaded lazily for the rows on screen. Callers ask for the ids they
 * can see; the store sends one 'fleet.sparklines' call per batch for the ids it has no fresh line
 * for and is not already fetching, caches the answers and tells per-key subscribers.
 */
export class SparklineStore {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Set<string>();
  private readonly pending = new Map<Metric, Set<string>>();
  private readonly listeners = new Map<string, Set<() => void>>();
  private scheduled = false;
  private readonly opts: Required<SparklineStoreOptions>;

  constructor(
    private readonly fetcher: SparkFetcher,
    opts: SparklineStoreOptions = {},
  ) {
    this.opts = {
      batchSize: 250,
      ttlMs: 60_000,
      retryAfterMs: 15_000,
      batchDelayMs: 60,
      maxEntries: 5000,
      now: () => Date.now(),
      schedule: (fn, ms) => void setTimeout(fn, ms),
      ...opts,
    };
  }

  /** The cached line, or undefined when none is loaded yet. */
  get(id: string, metric: Metric): SparkEntry | undefined {
    const e = this.entries.get(keyOf(metric, id));
    return e === undefined ? undefined : e.data;
  }

  subscribe(id: string, metric: Metric, fn: () => void): () => void {
    const key = keyOf(metric, id);
    let set = this.listeners.get(key);
    if (!set) this.listeners.set(key, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0) this.listeners.delete(key);
    };
  }

  /** Queues the ids that need loading; returns how many were queued. */
  request(ids: Iterable<string>, metric: Metric): number {
    const now = this.opts.now();
    let queued = 0;
    let set = this.pending.get(metric);
    for (const id of ids) {
      const key = keyOf(metric, id);
      if (this.inflight.has(key)) continue;
      const e = this.entries.get(key);
      if (e && now < e.freshUntil) continue;
      if (!set) this.pending.set(metric, (set = new Set()));
      if (!set.has(id)) {
        set.add(id);
        queued++;
      }
    }
    if (queued > 0 && !this.scheduled) {
      this.scheduled = true;
      this.opts.schedule(() => void this.flush(), this.opts.batchDelayMs);
    }
    return queued;
  }

  /** Sends every queued batch now. Resolves when they have all settled. */
  async flush(): Promise<void> {
    this.scheduled = false;
    const work: Promise<void>[] = [];
    for (const [metric, ids] of this.pending) {
      const all = [...ids];
      this.pending.delete(metric);
      for (let i = 0; i < all.length; i += this.opts.batchSize) {
        work.push(this.load(all.slice(i, i + this.opts.batchSize), metric));
      }
    }
    await Promise.all(work);
  }

  /** Forgets every cached line (e.g. after reconnecting); visible rows reload on their next request. */
  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  private async load(ids: string[], metric: Metric): Promise<void> {
    const keys = ids.map((id) => keyOf(metric, id));
    for (const k of keys) this.inflight.add(k);
    let batch: SparkBatch | null = null;
    try {
      batch = await this.fetcher(ids, metric);
    } catch {
      batch = null;
    }
    const now = this.opts.now();
    ids.forEach((id, i) => {
      const key = keys[i] as string;
      this.inflight.delete(key);
      const values = batch?.series[id];
      const entry: Entry = batch
        ? {
            data: values ? { fromTs: batch.fromTs, stepMs: batch.stepMs, values } : null,
            freshUntil: now + this.opts.ttlMs,
          }
        : // a failure keeps an older line if there is one, and is retried sooner than the TTL
          { data: this.entries.get(key)?.data ?? 'error', freshUntil: now + this.opts.retryAfterMs };
      this.entries.delete(key);
      this.entries.set(key, entry);
    });
    this.evict();
    for (const k of keys) for (const fn of this.listeners.get(k) ?? []) fn();
  }

  private evict(): void {
    let excess = this.entries.size - this.opts.maxEntries;
    if (excess <= 0) return;
    for (const key of this.entries.keys()) {
      if (excess <= 0) break;
      if (this.listeners.has(key)) continue;
      this.entries.delete(key);
      excess--;
    }
  }
}

/** Min/max of the non-null values, or null when there are none. */
export function extent(values: readonly (number | null)[]): { min: number; max: number } | null {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v === null || !Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return min === Infinity ? null : { min, max };
}

/**
 * An SVG path for a sparkline: one "M…L…" run per stretch of non-null values (gaps stay gaps),
 * scaled into width x height with a pixel of padding. `floor`/`ceil` widen the y-range, so a limit
 * line can share the scale.
 */
export function sparkPath(
  values: readonly (number | null)[],
  width: number,
  height: number,
  range: { min: number; max: number } | null = extent(values),
): string {
  if (!range || values.length === 0) return '';
  const pad = 1.5;
  const span = range.max - range.min || 1;
  const dx = values.length > 1 ? (width - 2 * pad) / (values.length - 1) : 0;
  const y = (v: number) => (height - pad - ((v - range.min) / span) * (height - 2 * pad)).toFixed(1);
  let d = '';
  let pen = false;
  values.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) {
      pen = false;
      return;
    }
    const x = (pad + i * dx).toFixed(1);
    d += `${pen ? 'L' : 'M'}${x} ${y(v)}`;
    pen = true;
  });
  return d;
}

/** The last non-null value, for the end-of-line dot. */
export function lastValue(values: readonly (number | null)[]): { index: number; value: number } | null {
  for (let i = values.length - 1; i >= 0; i--) {
    const v = values[i];
    if (v !== null && v !== undefined && Number.isFinite(v)) return { index: i, value: v };
  }
  return null;
}

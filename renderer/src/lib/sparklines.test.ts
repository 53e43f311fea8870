import { describe, expect, it } from 'vitest';
import type { Metric } from '../../../shared/telemetry.js';
import { SparklineStore, extent, lastValue, sparkPath, type SparkBatch } from './sparklines.js';

function harness(opts: { fail?: boolean; batchSize?: number; maxEntries?: number } = {}) {
  let now = 1_000_000;
  const calls: { ids: string[]; metric: Metric }[] = [];
  const timers: (() => void)[] = [];
  const store = new SparklineStore(
    async (ids, metric): Promise<SparkBatch> => {
      calls.push({ ids, metric });
      if (opts.fail) throw new Error('boom');
      return {
        fromTs: now - 3_600_000,
        stepMs: 60_000,
        series: Object.fromEntries(ids.filter((id) => id !== 'missing').map((id) => [id, [1, null, 3]])),
      };
    },
    {
      now: () => now,
      schedule: (fn) => void timers.push(fn),
      ttlMs: 60_000,
      retryAfterMs: 10_000,
      batchSize: opts.batchSize ?? 250,
      maxEntries: opts.maxEntries ?? 5000,
    },
  );
  const runTimers = async () => {
    const fns = timers.splice(0);
    for (const fn of fns) fn();
    await store.flush();
  };
  return { store, calls, runTimers, advance: (ms: number) => (now += ms) };
}

describe('SparklineStore', () => {
  it('batches requests made together into one call and caches the answers', async () => {
    const h = harness();
    h.store.request(['a', 'b'], 'tempC');
    h.store.request(['b', 'c'], 'tempC');
    await h.runTimers();
    expect(h.calls).toEqual([{ ids: ['a', 'b', 'c'], metric: 'tempC' }]);
    const a = h.store.get('a', 'tempC');
    expect(a !== null && a !== 'error' ? a?.values : a).toEqual([1, null, 3]);
    expect(h.store.get('a', 'latencyP95Ms')).toBeUndefined();

    expect(h.store.request(['a', 'b', 'c'], 'tempC')).toBe(0);
    await h.runTimers();
    expect(h.calls).toHaveLength(1);
  });

  it('keeps metrics apart and splits large batches', async () => {
    const h = harness({ batchSize: 2 });
    h.store.request(['a', 'b', 'c'], 'tempC');
    h.store.request(['a'], 'latencyP95Ms');
    await h.runTimers();
    expect(h.calls).toEqual([
      { ids: ['a', 'b'], metric: 'tempC' },
      { ids: ['c'], metric: 'tempC' },
      { ids: ['a'], metric: 'latencyP95Ms' },
    ]);
  });

  it('does not re-request ids in flight', async () => {
    const h = harness();
    h.store.request(['a'], 'tempC');
    const first = h.runTimers();
    expect(h.store.request(['a'], 'tempC')).toBe(0);
    await first;
    expect(h.calls).toHaveLength(1);
  });

  it('records devices without data as null and refreshes after the TTL', async () => {
    const h = harness();
    h.store.request(['missing'], 'tempC');
    await h.runTimers();
    expect(h.store.get('missing', 'tempC')).toBeNull();
    h.advance(59_000);
    expect(h.store.request(['missing'], 'tempC')).toBe(0);
    h.advance(2_000);
    expect(h.store.request(['missing'], 'tempC')).toBe(1);
  });

  it('retries failures sooner than the TTL and notifies subscribers', async () => {
    const h = harness({ fail: true });
    let notified = 0;
    const off = h.store.subscribe('a', 'tempC', () => notified++);
    h.store.request(['a'], 'tempC');
    await h.runTimers();
    expect(notified).toBe(1);
    expect(h.store.get('a', 'tempC')).toBe('error');
    expect(h.store.request(['a'], 'tempC')).toBe(0);
    h.advance(10_001);
    expect(h.store.request(['a'], 'tempC')).toBe(1);
    off();
  });

  it('evicts the oldest unwatched lines beyond the cap', async () => {
    const h = harness({ maxEntries: 2 });
    const off = h.store.subscribe('a', 'tempC', () => undefined);
    h.store.request(['a', 'b', 'c'], 'tempC');
    await h.runTimers();
    expect(h.store.size).toBe(2);
    expect(h.store.get('a', 'tempC')).toBeDefined();
    expect(h.store.get('b', 'tempC')).toBeUndefined();
    off();
  });
});

describe('sparkline geometry', () => {
  it('finds the extent of non-null values', () => {
    expect(extent([null, 3, 1, null, 2])).toEqual({ min: 1, max: 3 });
    expect(extent([null, null])).toBeNull();
  });

  it('draws gaps as separate runs', () => {
    const d = sparkPath([0, 10, null, 10], 33, 11);
    expect(d).toBe('M1.5 9.5L11.5 1.5M31.5 1.5');
    expect(sparkPath([], 10, 10)).toBe('');
    expect(sparkPath([null], 10, 10)).toBe('');
  });

  it('draws a flat series along the bottom', () => {
    expect(sparkPath([5, 5], 13, 10)).toBe('M1.5 8.5L11.5 8.5');
  });

  it('finds the last reported value', () => {
    expect(lastValue([1, 2, null])).toEqual({ index: 1, value: 2 });
    expect(lastValue([null])).toBeNull();
  });
});

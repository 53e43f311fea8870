import { describe, expect, it } from 'vitest';
import { InferenceStats, percentile } from './inference-stats.js';

describe('percentile', () => {
  it('interpolates linearly between closest ranks (numpy default)', () => {
    const xs = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentile(xs, 0.5)).toBeCloseTo(5.5);
    expect(percentile(xs, 0.95)).toBeCloseTo(9.55);
    expect(percentile(xs, 0.99)).toBeCloseTo(9.91);
    expect(percentile(xs, 0)).toBe(1);
    expect(percentile(xs, 1)).toBe(10);
    expect(percentile([42], 0.99)).toBe(42);
    expect(percentile([], 0.5)).toBeNull();
    expect(percentile(xs, 1.5)).toBeNull();
  });

  it('matches a known distribution: 1..1000 ms', () => {
    const xs = Array.from({ length: 1000 }, (_, i) => i + 1);
    expect(percentile(xs, 0.5)).toBeCloseTo(500.5);
    expect(percentile(xs, 0.95)).toBeCloseTo(950.05);
    expect(percentile(xs, 0.99)).toBeCloseTo(990.01);
  });
});

describe('InferenceStats', () => {
  it('reports percentiles, throughput and per-snapshot counts', () => {
    let now = 1_700_000_000_000;
    const s = new InferenceStats({ clock: () => now, windowMs: 60_000 });
    // Shuffled insertion: percentiles must not depend on order.
    const lat = Array.from({ length: 100 }, (_, i) => ((i * 37) % 100) + 1);
    for (const l of lat) s.record(l, true);
    s.record(999, false);
    s.record(5000, false);
    now += 2000;
    const snap = s.snapshot();
    expect(snap.inferences).toBe(102);
    expect(snap.errors).toBe(2);
    expect(snap.windowCount).toBe(100);
    expect(snap.p50Ms).toBeCloseTo(50.5);
    expect(snap.p95Ms).toBeCloseTo(95.05);
    expect(snap.p99Ms).toBeCloseTo(99.01);
    expect(snap.throughputIps).toBeCloseTo(51);

    now += 1000;
    const next = s.snapshot();
    expect(next.inferences).toBe(0);
    expect(next.errors).toBe(0);
    expect(next.throughputIps).toBe(0);
    // Latencies stay in the window after a snapshot.
    expect(next.p50Ms).toBeCloseTo(50.5);
  });

  it('drops latencies older than the window and caps memory', () => {
    let now = 1_700_000_000_000;
    const s = new InferenceStats({ clock: () => now, windowMs: 10_000, maxSamples: 5 });
    s.record(1000, true);
    now += 11_000;
    for (const l of [1, 2, 3, 4, 5, 6, 7]) s.record(l, true);
    const snap = s.snapshot();
    expect(snap.windowCount).toBe(5);
    expect(snap.p50Ms).toBe(5);
    expect(snap.p99Ms).toBeCloseTo(6.96);
    now += 20_000;
    expect(s.snapshot().p50Ms).toBeNull();
  });

  it('has no latency and no throughput before time passes', () => {
    const s = new InferenceStats({ clock: () => 1_700_000_000_000 });
    expect(s.snapshot()).toMatchObject({
      p50Ms: null,
      p95Ms: null,
      p99Ms: null,
      throughputIps: null,
      inferences: 0,
    });
  });
});

import { describe, expect, it } from 'vitest';
import { BucketAcc, floorTo, p95Of, ROLLUP_COLUMNS, type RollupInput } from './rollup.js';
import { rng } from './testkit.js';

function input(ts: number, v: number | null): RollupInput {
  return {
    ts,
    tempC: v,
    cpuPct: v === null ? null : v / 2,
    memPct: null,
    powerW: v,
    latencyP50Ms: v,
    latencyP95Ms: v,
    latencyP99Ms: v,
    throughputIps: v,
    inferences: 10,
    errors: 1,
    throttled: v !== null && v > 50,
  };
}

function nearestRankP95(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.ceil(0.95 * s.length) - 1] as number;
}

describe('p95Of', () => {
  it('is the nearest-rank 95th percentile on random data of many sizes', () => {
    const r = rng(7);
    for (let n = 1; n < 400; n += 7) {
      const vals = Array.from({ length: n }, () => Math.round(r() * 1000) / 10);
      expect(p95Of(vals, n)).toBe(nearestRankP95(vals));
    }
  });
  it('handles duplicates and known small cases', () => {
    expect(p95Of([5, 5, 5, 5], 4)).toBe(5);
    expect(p95Of([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20], 20)).toBe(19);
    expect(p95Of([3], 1)).toBe(3);
  });
});

describe('BucketAcc', () => {
  it('computes exact min/avg/max/p95, counts and skips nulls', () => {
    const acc = new BucketAcc(0);
    const vals = [10, null, 70, 30, 20, null, 100];
    vals.forEach((v, i) => acc.add(input(i, v)));
    const nonNull = vals.filter((v): v is number => v !== null);
    expect(acc.stats(0)).toEqual({ min: 10, avg: 46, max: 100, p95: nearestRankP95(nonNull) });
    expect(acc.stats(2)).toEqual({ min: null, avg: null, max: null, p95: null });
    const row = acc.rowParams(9);
    expect(row).toHaveLength(ROLLUP_COLUMNS.length);
    expect(row.slice(0, 6)).toEqual([0, 9, 7, 70, 7, 2]);
  });
  it('floors timestamps to bucket starts', () => {
    expect(floorTo(125_000, 60_000)).toBe(120_000);
    expect(floorTo(120_000, 60_000)).toBe(120_000);
  });
});

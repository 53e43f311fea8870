import { describe, expect, it } from 'vitest';
import type { Series } from '../../../shared/fleet.js';
import {
  allNull,
  constantColumn,
  countPoints,
  findColumn,
  hasBand,
  isRangeId,
  metricColumn,
  rangeMs,
} from './series.js';

const base = { deviceId: 'd', fromTs: 0, toTs: 10, ts: [1, 2, 3] };

describe('series shaping', () => {
  it('reads raw columns by metric name', () => {
    const s: Series = { ...base, resolution: 'raw', columns: { tempC: [1, null, 3] } };
    expect(metricColumn(s, 'tempC')).toEqual([1, null, 3]);
    expect(metricColumn(s, 'powerW')).toEqual([null, null, null]);
    expect(hasBand(s, 'tempC')).toBe(false);
  });

  it('reads rollup columns by aggregate', () => {
    const s: Series = {
      ...base,
      resolution: '1m',
      columns: { tempC_avg: [2, 2, 2], tempC_min: [1, 1, 1], tempC_max: [3, 3, 3] },
    };
    expect(metricColumn(s, 'tempC')).toEqual([2, 2, 2]);
    expect(metricColumn(s, 'tempC', 'max')).toEqual([3, 3, 3]);
    expect(metricColumn(s, 'tempC', 'p95')).toEqual([null, null, null]);
    expect(hasBand(s, 'tempC')).toBe(true);
    expect(hasBand(s, 'cpuPct')).toBe(false);
  });

  it('counts points and detects all-null panels', () => {
    expect(countPoints([null, 1, Number.NaN, 0])).toBe(2);
    expect(allNull([null], [null, null])).toBe(true);
    expect(allNull([null], [null, 0])).toBe(false);
  });

  it('finds optional columns and builds constant lines', () => {
    const s: Series = { ...base, resolution: 'raw', columns: { errors: [0, 1, 0] } };
    expect(findColumn(s, ['errors_sum', 'errors'])).toEqual([0, 1, 0]);
    expect(findColumn(s, ['nope'])).toBeNull();
    expect(constantColumn(2, 85)).toEqual([85, 85]);
  });

  it('knows its ranges', () => {
    expect(isRangeId('24h')).toBe(true);
    expect(isRangeId('2h')).toBe(false);
    expect(rangeMs('7d')).toBe(604_800_000);
  });
});
